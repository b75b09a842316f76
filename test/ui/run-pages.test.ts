// The run page and the trigger form against a real server (`startServer`, the local executor): the
// example job triggered through the form with a param and followed to its end, its log, a rerun with a
// changed param, a long run cancelled while its log streams in, a bad param's error at its field, a log
// line of HTML shown as text, a 10 MB log opened by its head and tail, what a read-only token sees and
// may do. On every RunLog engine over plain HTTP (the forms posted as a browser posts them, the pages'
// HTML and streams read); in a real headless Chromium, with the pages' scripts and axe on every page,
// on one engine (BROWSER_ENGINE: PostgreSQL when DATABASE_URL is set, PGlite otherwise), since the
// browser's side does not depend on the engine.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { parseConfig } from '../../src/config/job-config.ts';
import { readEnvironment } from '../../src/config/environment.ts';
import type { Db } from '../../src/runlog/db.ts';
import { createToken } from '../../src/runlog/sql/tokens.ts';
import { startServer, type RunningServer } from '../../src/server/server.ts';
import { expectNoSeriousA11yViolations, fileBrowser, screenshot } from '../support/browser.ts';
import { REPO_ROOT, waitFor } from '../support/cli.ts';
import { BROWSER_ENGINE, createTestRunLog, ENGINES, type Engine, type TestRunLog } from '../support/runlog-engines.ts';
import { type HtmlPage, textOf, UiSession } from '../support/ui-http.ts';
import { appendLog, finishSeededRun, seedRunningRun } from '../server/support.ts';

/**
 * The final status on the run's stored page. The live page can show it a moment before the stream's
 * end reloads it (its status block is re-read on each status event): what a test reads next is the
 * stored page's.
 */
const storedStatus = (page: Page, status: string) =>
  page.locator(`body:has(#run-log:not([data-stream-url])) #run-summary .status-${status}`);


// The repository's example job as kubescribe.yaml declares it, and three jobs of the test's own.
const EXTRA_JOBS = `
jobs:
  long:
    description: Prints a tick every 200 ms for a minute
    command: ["sh", "-c", "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo tick $i; sleep 0.2; done"]
    grace_period: 2s
  noisy:
    command: ["sh", "-c", "echo '<script>alert(1)</script>'; echo '<img src=x onerror=alert(2)>' >&2"]
  typed:
    description: Takes typed params
    command: ["true"]
    params:
      type: object
      required: [count, region]
      properties:
        count: {type: integer, minimum: 1, maximum: 10, description: how many}
        region: {enum: [eu, us]}
        verbose: {type: boolean, default: false}
        tags: {type: array, items: {type: string}}
      additionalProperties: false
`;

function testConfig() {
  const file = join(REPO_ROOT, 'kubescribe.yaml');
  const config = parseConfig(readFileSync(file, 'utf8'), file);
  for (const [name, job] of parseConfig(EXTRA_JOBS, 'extra.yaml').jobs) config.jobs.set(name, job);
  return config;
}

async function runCount(db: Db, job: string): Promise<number> {
  const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM runs WHERE job = $1', [job]);
  return row!.n;
}

/** The run id of the run page `page` shows. */
function runIdOf(page: Page): string {
  const match = /\/ui\/runs\/([0-9a-f-]{36})$/.exec(new URL(page.url()).pathname);
  assert.ok(match, `not a run page: ${page.url()}`);
  return match[1]!;
}

const statusText = (page: Page) => page.locator('#run-summary .run-status .status').innerText();

/** A server as `serve` runs it (the local executor, no scheduler) on `engine`, with a read and an admin token. */
async function startRunServer(engine: Engine) {
  const runlog = await createTestRunLog(engine);
  const scratch = mkdtempSync(join(tmpdir(), 'ks-ui-run-'));
  const server = await startServer({
    env: readEnvironment({ ...runlog.env }, REPO_ROOT),
    config: testConfig(),
    host: '127.0.0.1',
    port: 0,
    executor: 'local',
    scheduler: false,
    cwd: REPO_ROOT,
    logger: false,
  });
  const tokens: Record<'read' | 'admin', { token: string; name: string }> = {} as never;
  for (const scope of ['read', 'admin'] as const) {
    const name = `ui-${scope}`;
    tokens[scope] = { name, token: (await createToken(server.db, { name, scope, expires_at: null, created_by: 'test' })).token };
  }
  return { runlog, server, scratch, tokens };
}

/** The run id of the run page a POST's answer sends to. */
function runIdAt(answer: HtmlPage): string {
  assert.equal(answer.status, 303, `not a redirect: ${answer.status} ${answer.html.slice(0, 500)}`);
  const match = /^\/ui\/runs\/([0-9a-f-]{36})$/.exec(answer.headers.get('location') ?? '');
  assert.ok(match, `not to a run page: ${answer.headers.get('location')}`);
  return match[1]!;
}

// The run and trigger pages on every engine, from the server's HTML and streams (no browser).
for (const engine of ENGINES) {
  describe(`run page and trigger form over HTTP (${engine})`, { concurrency: false }, () => {
    let runlog: TestRunLog;
    let server: RunningServer;
    let scratch: string;
    let tokens: Record<'read' | 'admin', { token: string; name: string }>;
    let admin: UiSession;

    before(async () => {
      ({ runlog, server, scratch, tokens } = await startRunServer(engine));
      admin = await UiSession.signIn(server.url, tokens.admin.token);
    });
    after(async () => {
      await server?.close({ drain: false });
      await runlog?.cleanup();
      rmSync(scratch, { recursive: true, force: true });
    });

    /** The stored run page once the run has ended with `status` (the live page has a log stream). */
    async function storedPage(runId: string, status: string, timeoutMs = 60_000): Promise<HtmlPage> {
      let page: HtmlPage | undefined;
      await waitFor(async () => {
        page = await admin.get(`/ui/runs/${runId}`);
        return page.count('#run-log[data-stream-url]') === 0 && page.count(`#run-summary .status-${status}`) === 1;
      }, timeoutMs, `run ${runId} to be ${status}; its page says ${page ? page.text('#run-summary .run-status') : 'nothing yet'}`);
      return page!;
    }

    /** Sends the trigger form of `path` as a browser would, with `values` by label, pressing `action`. */
    async function sendForm(form: HtmlPage, values: Record<string, string>, action: 'trigger' | 'preview'): Promise<HtmlPage> {
      const byName = Object.fromEntries(Object.entries(values).map(([label, value]) => [form.control(label).attribs.name!, value]));
      return admin.post(form.attr('form.trigger-form', 'action')!, form.formFields('form.trigger-form', { ...byName, action }));
    }

    it('triggers the example job with a param through the form, follows it to its end, shows its log, and reruns it with a changed param', async () => {
      const outputDir = join(scratch, 'reports');
      const form = await admin.get('/ui/jobs/report/trigger');
      assert.equal(form.status, 200);
      const runId = runIdAt(await sendForm(form, { output_dir: outputDir, Reason: 'first report from the UI' }, 'trigger'));
      const page = await storedPage(runId, 'succeeded');
      assert.match(page.text('h1'), /^report#1 /);
      const stderr = page.texts('#run-log .log-lines .ln.stderr');
      const stdout = page.texts('#run-log .log-lines .ln.stdout');
      assert.ok(stdout.some((line) => line.includes('Sales report 2025-03-01 to 2025-03-31')), stdout.join('\n'));
      assert.equal(stderr.filter((line) => line.includes('reading examples/report/data.csv')).length, 1, 'stderr lines are marked');
      assert.equal(stdout.filter((line) => line.includes(`report: ${outputDir}/report-`)).length, 1, 'the param reached the script');
      assert.match(page.text('section[aria-labelledby=params-h]'), new RegExp(`output_dir\\s+${outputDir}`));
      const timeline = page.text('.timeline');
      assert.match(timeline, /Triggered \(manual\) \(→ queued\) by token ui-admin/);
      assert.match(timeline, /reason\s+first report from the UI/);
      assert.match(timeline, /Succeeded/);

      // Rerun with changes: the form holds this run's params, compared with the last success (itself).
      const rerunHref = page.all('a').find((a) => textOf(a) === 'Rerun with changes')?.attribs.href;
      assert.equal(rerunHref, `/ui/jobs/report/trigger?from=${runId}`);
      const rerun = await admin.get(rerunHref);
      assert.equal(rerun.control('output_dir').attribs.value, outputDir);
      assert.match(rerun.text('.param-changes'), /The same params/);
      const preview = await sendForm(rerun, { input: 'examples/report/bad.csv' }, 'preview');
      assert.equal(preview.count('#preview'), 1);
      assert.equal(preview.text('.preview-command'), '["python3","examples/report/script.py"]');
      assert.match(preview.text('.param-changes'), /input\s+"examples\/report\/data\.csv"\s+"examples\/report\/bad\.csv"/);
      assert.equal(await runCount(server.db, 'report'), 1, 'a preview starts nothing');
      const failedId = runIdAt(await sendForm(preview, {}, 'trigger'));
      const failed = await storedPage(failedId, 'failed');
      assert.match(failed.rawText('.traceback'), /^Traceback \(most recent call last\):/);
      assert.match(failed.rawText('.traceback'), /ValueError: examples\/report\/bad\.csv:5: expected 5 columns, got 4/);
      assert.match(failed.text('.timeline'), /reason\s+rerun of report#1/);

      // Retry: a new run linked to this one, and this one links to it.
      const retryId = runIdAt(await admin.post(`/ui/runs/${failedId}/retry`, {}));
      assert.notEqual(retryId, failedId);
      const retry = await storedPage(retryId, 'failed');
      assert.match(retry.text('.run-links'), /A retry of report#2/);
      assert.match((await admin.get(`/ui/runs/${failedId}`)).text('.run-links'), /Retried as report#3/);
    });

    it('follows a long run\'s log live and cancels it', async () => {
      const runId = runIdAt(await sendForm(await admin.get('/ui/jobs/long/trigger'), {}, 'trigger'));
      const page = await admin.get(`/ui/runs/${runId}`);
      const streamUrl = page.attr('#run-log', 'data-stream-url');
      assert.ok(streamUrl, 'a live run\'s page follows its log');
      assert.equal(page.count('form[action="/ui/runs/' + runId + '/cancel"] button'), 1, 'a live run offers Cancel');
      // Lines printed after the page loaded arrive on its stream.
      const stream = await admin.stream(`${streamUrl}${streamUrl.includes('?') ? '&' : '?'}after_seq=${page.attr('#run-log', 'data-after-seq') ?? '0'}`);
      try {
        await stream.waitFor((e) => /tick 12\b/.test(e.data), 30_000);
        assert.match((await admin.get(`/ui/runs/${runId}`)).text('#run-summary .run-status'), /running/);
        const answer = await admin.post(`/ui/runs/${runId}/cancel`, {});
        assert.equal(answer.status, 303);
        assert.match(decodeURIComponent(answer.headers.getSetCookie().join(';')), /Cancelling long#1: its executor is stopping it/);
      } finally {
        stream.close();
      }
      const cancelled = await storedPage(runId, 'cancelled', 30_000);
      assert.match(cancelled.text('.timeline'), /Cancel requested by token ui-admin/);
      assert.equal(cancelled.count(`form[action="/ui/runs/${runId}/cancel"]`), 0, 'a finished run offers no Cancel');
      assert.ok(cancelled.texts('#run-log .ln').some((line) => line === 'tick 12'), 'the stored log has what was streamed');
    });

    it('shows the server\'s error at the field and starts nothing', async () => {
      const form = await admin.get('/ui/jobs/typed/trigger');
      const count = form.control('count');
      assert.equal(count.attribs.max, '10');
      assert.equal(count.attribs.required, '');
      const refused = await sendForm(form, { count: '500' }, 'trigger');
      assert.equal(refused.status, 400);
      const countId = refused.control('count').attribs.id!;
      assert.equal(refused.text(`#${countId}-error`), 'count must be <= 10');
      assert.equal(refused.control('count').attribs['aria-invalid'], 'true');
      assert.equal(refused.control('count').attribs.value, '500', 'what was typed is kept');
      assert.equal(refused.text(`#${refused.control('region').attribs.id!}-error`), 'region is required');
      assert.equal(await runCount(server.db, 'typed'), 0);

      // Fixed, it goes through: typed values, a list one per line.
      const runId = runIdAt(await sendForm(refused, { count: '3', region: '"us"', tags: 'a\nb' }, 'trigger'));
      const [run] = await server.db.query<{ params: unknown }>('SELECT params FROM runs WHERE run_id = $1', [runId]);
      assert.deepEqual(run!.params, { count: 3, region: 'us', verbose: false, tags: ['a', 'b'] });
    });

    it('shows a log line of HTML as text', async () => {
      const runId = runIdAt(await sendForm(await admin.get('/ui/jobs/noisy/trigger'), {}, 'trigger'));
      const page = await storedPage(runId, 'succeeded', 30_000);
      const lines = page.texts('#run-log .log-lines .ln');
      assert.ok(lines.includes('<script>alert(1)</script>'), lines.join('\n'));
      assert.ok(lines.includes('<img src=x onerror=alert(2)>'), lines.join('\n'));
      assert.equal(page.count('#run-log script') + page.count('#run-log img'), 0);
      // Searched in the RunLog, the match is text too.
      const found = await admin.get(`/ui/runs/${runId}/log/search?q=${encodeURIComponent('<script>')}`, { htmx: true });
      assert.ok(found.texts('.log-matches .ln').includes('<script>alert(1)</script>'), found.html);
      assert.equal(found.count('script'), 0);
    });

    it('opens a 10 MB log by its head and tail, loads the rest on demand, and searches all of it', async () => {
      const runId = await seedRunningRun(server.db, 'big');
      const last = await appendLog(server.db, runId, 0, 10 * 1024 * 1024);
      await finishSeededRun(server.db, runId);
      const page = await admin.get(`/ui/runs/${runId}`);
      assert.ok(page.html.length < 400 * 1024, `the page sent ${page.html.length} bytes of a 10 MB log`);
      assert.match(page.text('.log-gap'), /MB of log not loaded here/);
      const more = page.all('.log-gap button').find((b) => textOf(b) === 'Load more')?.attribs['hx-get'];
      assert.ok(more, 'the gap offers Load more');
      const before = page.count('#run-log .ln');
      assert.ok((await admin.get(more, { htmx: true })).count('.ln') > 0, 'Load more sends lines');
      assert.ok(before > 0);
      // The last chunk is in the tail; a chunk from the middle is found by the server-side search.
      assert.equal(page.texts('#run-log .ln').filter((line) => new RegExp(`^${last} x`).test(line)).length, 1);
      const found = await admin.get(`/ui/runs/${runId}/log/search?q=${encodeURIComponent(`${Math.floor(last / 2)} xxxx`)}`, { htmx: true });
      assert.ok(found.count('.log-matches .ln') > 0, found.html.slice(0, 500));
    });

    it('opens the run page by the links alerts send and by job#N, job~N and an id prefix', async () => {
      const [run] = await server.db.query<{ run_id: string }>("SELECT run_id::text AS run_id FROM runs WHERE job = 'report' AND run_number = 1");
      for (const ref of [run!.run_id, 'report%231', 'report~1', run!.run_id.slice(0, 13)]) {
        const page = await admin.get(`/ui/runs/${ref}`);
        assert.equal(page.status, 200, ref);
        assert.match(page.text('h1'), /^report#1 /, ref);
      }
      assert.equal((await admin.get('/ui/runs/report~999')).status, 404);
      assert.equal((await admin.get('/ui/runs/not-a-ref!')).status, 400);
    });

    it('offers a read-only token no Retry, Cancel or Trigger, and refuses its forged POSTs', async () => {
      const runId = await seedRunningRun(server.db, 'report');
      const reader = await UiSession.signIn(server.url, tokens.read.token);
      const page = await reader.get(`/ui/runs/${runId}`);
      assert.equal(page.status, 200);
      assert.deepEqual([...page.texts('button'), ...page.texts('a')].filter((t) => ['Cancel', 'Retry', 'Rerun with changes'].includes(t)), []);
      assert.equal((await reader.get('/ui/jobs/report/trigger')).status, 403);
      const runsBefore = await runCount(server.db, 'report');
      assert.equal((await reader.post(`/ui/runs/${runId}/cancel`, {})).status, 403);
      assert.equal((await reader.post('/ui/jobs/report/trigger', { action: 'trigger' })).status, 403);
      assert.equal((await reader.post(`/ui/runs/${runId}/cancel`, [])).status, 403);
      assert.equal(await runCount(server.db, 'report'), runsBefore);
      const [row] = await server.db.query<{ status: string }>('SELECT status FROM runs WHERE run_id = $1', [runId]);
      assert.equal(row!.status, 'running');
      // An admin's POST without its CSRF token is refused as well.
      assert.equal((await admin.post(`/ui/runs/${runId}/cancel`, { _csrf: 'forged' })).status, 403);
      assert.equal((await server.db.query<{ status: string }>('SELECT status FROM runs WHERE run_id = $1', [runId]))[0]!.status, 'running');
      await finishSeededRun(server.db, runId);
    });
  });
}

// One Chromium for the file, for the browser's engine.
const browser = fileBrowser();

for (const engine of [BROWSER_ENGINE]) {
  describe(`run page and trigger form in Chromium (${engine})`, { concurrency: false }, () => {
    const expectAccessible = expectNoSeriousA11yViolations;
    let runlog: TestRunLog;
    let server: RunningServer;
    let scratch: string;
    let tokens: Record<'read' | 'admin', { token: string; name: string }>;

    before(async () => {
      ({ runlog, server, scratch, tokens } = await startRunServer(engine));
    });
    after(async () => {
      await browser.closeSignedInPages();
      await server?.close({ drain: false });
      await runlog?.cleanup();
      rmSync(scratch, { recursive: true, force: true });
    });

    // The admin's signed-in page, kept from test to test (each gets it back on the jobs page).
    const guarded = new WeakSet<Page>();
    async function adminPage(): Promise<Page> {
      const page = await browser.signedInPage(server.url, tokens.admin.token);
      if (!guarded.has(page)) {
        guarded.add(page);
        page.on('dialog', (dialog) => {
          throw new Error(`a dialog opened: ${dialog.message()}`);
        });
      }
      return page;
    }

    it('triggers the example job with a param through the form, follows it to its end, shows its log, and reruns it with a changed param', async () => {
      const page = await adminPage();
      await page.goto(`${server.url}/ui/jobs/report/trigger`);
      await expectAccessible(page);
      await screenshot(page, 'trigger');
      const outputDir = join(scratch, 'reports');
      await page.getByLabel('output_dir').fill(outputDir);
      await page.getByLabel('Reason').fill('first report from the UI');
      await page.getByRole('button', { name: 'Trigger', exact: true }).click();
      await page.waitForURL(/\/ui\/runs\/[0-9a-f-]{36}$/);
      const runId = runIdOf(page);
      assert.match(await page.locator('.flash').innerText(), /^Triggered report#1\.$/);
      // The page follows the run by itself (live log, then a reload on its end event): no reload here.
      await storedStatus(page, 'succeeded').waitFor({ timeout: 60_000 });
      assert.equal(runIdOf(page), runId);
      // The trigger's message outlives the reload at the run's end (often before the test sees the live page).
      assert.match(await page.locator('#main > .flash').innerText(), /^Triggered report#1\.$/);
      const log = page.locator('#run-log .log-lines');
      await log.getByText('Sales report 2025-03-01 to 2025-03-31').waitFor();
      assert.equal(await log.locator('.ln.stderr', { hasText: 'reading examples/report/data.csv' }).count(), 1, 'stderr lines are marked');
      assert.equal(await log.locator('.ln.stdout', { hasText: `report: ${outputDir}/report-` }).count(), 1, 'the param reached the script');
      const params = await page.locator('section[aria-labelledby="params-h"]').innerText();
      assert.match(params, new RegExp(`output_dir\\s+${outputDir}`));
      const timeline = await page.locator('.timeline').innerText();
      assert.match(timeline, /Triggered \(manual\) \(→ queued\) by token ui-admin/);
      assert.match(timeline, /reason\s+first report from the UI/);
      assert.match(timeline, /Succeeded/);
      // The client-side search over the loaded log.
      await page.getByLabel('Find').fill('rejected');
      assert.match(await page.locator('#log-filter-count').innerText(), /^[1-9]\d* matching lines? in the loaded log$/);
      await expectAccessible(page);
      await screenshot(page, 'run');

      // Rerun with changes: the form holds this run's params, compared with the last success (itself).
      await page.getByRole('link', { name: 'Rerun with changes' }).click();
      await page.waitForURL(/\/ui\/jobs\/report\/trigger\?from=/);
      assert.equal(await page.getByLabel('output_dir').inputValue(), outputDir);
      assert.match(await page.locator('.param-changes').innerText(), /The same params/);
      await page.getByLabel('input', { exact: true }).fill('examples/report/bad.csv');
      await page.getByRole('button', { name: 'Preview' }).click();
      await page.locator('#preview').waitFor();
      assert.equal(await page.locator('.preview-command').innerText(), '["python3","examples/report/script.py"]');
      const changes = await page.locator('.param-changes').innerText();
      assert.match(changes, /input\s+"examples\/report\/data\.csv"\s+"examples\/report\/bad\.csv"/);
      assert.equal(await runCount(server.db, 'report'), 1, 'a preview starts nothing');
      await expectAccessible(page);
      await screenshot(page, 'trigger-preview');
      await page.getByRole('button', { name: 'Trigger', exact: true }).click();
      await page.waitForURL(/\/ui\/runs\/[0-9a-f-]{36}$/);
      await storedStatus(page, 'failed').waitFor({ timeout: 60_000 });
      const traceback = await page.locator('.traceback').innerText();
      assert.match(traceback, /^Traceback \(most recent call last\):/);
      assert.match(traceback, /ValueError: examples\/report\/bad\.csv:5: expected 5 columns, got 4/);
      assert.match(await page.locator('.timeline').innerText(), /reason\s+rerun of report#1/);
      await expectAccessible(page);
      await screenshot(page, 'run-failed');

      // Retry: a new run linked to this one, and this one links to it.
      const failedId = runIdOf(page);
      await page.getByRole('button', { name: 'Retry' }).click();
      await page.waitForURL((url) => /\/ui\/runs\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(failedId));
      assert.match(await page.locator('.run-links').innerText(), /A retry of report#2/);
      // The retry fails as its original did; its page reloads at that end, which would abort a navigation begun meanwhile.
      await storedStatus(page, 'failed').waitFor({ timeout: 60_000 });
      await page.goto(`${server.url}/ui/runs/${failedId}`);
      assert.match(await page.locator('.run-links').innerText(), /Retried as report#3/);
    });

    it('follows a long run\'s log live and cancels it', async () => {
      const page = await adminPage();
      await page.goto(`${server.url}/ui/jobs/long/trigger`);
      await page.getByRole('button', { name: 'Trigger', exact: true }).click();
      await page.waitForURL(/\/ui\/runs\/[0-9a-f-]{36}$/);
      const runId = runIdOf(page);
      const log = page.locator('#run-log .log-lines');
      // Lines printed after the page loaded arrive without a reload.
      await log.getByText('tick 5', { exact: true }).waitFor({ timeout: 30_000 });
      await log.getByText('tick 12', { exact: true }).waitFor({ timeout: 30_000 });
      await page.locator('#run-summary .status-running').waitFor();
      assert.equal(await page.locator('.log-empty').count(), 0, '"No output yet" goes with the first line');
      await expectAccessible(page);
      await screenshot(page, 'run-live');
      // The answer to the POST says what happened (as the page's flash, which the reload at the run's end may take away at once).
      const posted = page.waitForResponse((r) => r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Cancel' }).click();
      const answer = await posted;
      assert.equal(answer.status(), 303);
      assert.match(decodeURIComponent((await answer.allHeaders())['set-cookie'] ?? ''), /Cancelling long#1: its executor is stopping it/);
      await storedStatus(page, 'cancelled').waitFor({ timeout: 30_000 });
      const timeline = await page.locator('.timeline').innerText();
      assert.match(timeline, /Cancel requested by token ui-admin/);
      assert.equal(await page.getByRole('button', { name: 'Cancel' }).count(), 0, 'a finished run offers no Cancel');
    });

    it('shows the server\'s error at the field and starts nothing', async () => {
      const page = await adminPage();
      await page.goto(`${server.url}/ui/jobs/typed/trigger`);
      const count = page.getByLabel('count');
      assert.equal(await count.getAttribute('max'), '10');
      assert.equal(await count.getAttribute('required'), '');
      await count.fill('500');
      // The browser would stop this form; as an older one would not, turn its checks off.
      await page.locator('form.trigger-form').evaluate((form) => ((form as HTMLFormElement).noValidate = true));
      const response = page.waitForResponse((r) => r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Trigger', exact: true }).click();
      assert.equal((await response).status(), 400);
      await page.locator('.field-error').first().waitFor();
      const countError = page.locator(`#${await count.getAttribute('id')}-error`);
      assert.equal(await countError.innerText(), 'count must be <= 10');
      assert.equal(await count.getAttribute('aria-invalid'), 'true');
      assert.equal(await count.inputValue(), '500', 'what was typed is kept');
      const region = page.getByLabel('region');
      assert.equal(await page.locator(`#${await region.getAttribute('id')}-error`).innerText(), 'region is required');
      assert.equal(await runCount(server.db, 'typed'), 0);
      await expectAccessible(page);
      await screenshot(page, 'trigger-error');

      // Fixed, it goes through: typed values, a list one per line.
      await count.fill('3');
      await region.selectOption('"us"');
      await page.getByLabel('tags').fill('a\nb');
      await page.getByRole('button', { name: 'Trigger', exact: true }).click();
      await page.waitForURL(/\/ui\/runs\/[0-9a-f-]{36}$/);
      const [run] = await server.db.query<{ params: unknown }>('SELECT params FROM runs WHERE run_id = $1', [runIdOf(page)]);
      assert.deepEqual(run!.params, { count: 3, region: 'us', verbose: false, tags: ['a', 'b'] });
    });

    it('shows a log line of HTML as text', async () => {
      const page = await adminPage();
      await page.goto(`${server.url}/ui/jobs/noisy/trigger`);
      await page.getByRole('button', { name: 'Trigger', exact: true }).click();
      await page.waitForURL(/\/ui\/runs\/[0-9a-f-]{36}$/);
      await storedStatus(page, 'succeeded').waitFor({ timeout: 30_000 });
      const log = page.locator('#run-log .log-lines');
      await log.getByText('<script>alert(1)</script>', { exact: true }).waitFor();
      await log.getByText('<img src=x onerror=alert(2)>', { exact: true }).waitFor();
      assert.equal(await page.locator('#run-log script, #run-log img').count(), 0);
      // Searched in the RunLog, the match is text too.
      await page.getByLabel('Find').fill('<script>');
      await page.getByRole('button', { name: 'Search the whole stored log' }).click();
      await page.locator('#log-search-results .log-matches').getByText('<script>alert(1)</script>', { exact: true }).waitFor();
      assert.equal(await page.locator('#log-search-results script').count(), 0);
    });

    it('opens a 10 MB log by its head and tail, loads the rest on demand, and searches all of it', async () => {
      const runId = await seedRunningRun(server.db, 'big');
      const last = await appendLog(server.db, runId, 0, 10 * 1024 * 1024);
      await finishSeededRun(server.db, runId);
      const page = await adminPage();
      const response = await page.goto(`${server.url}/ui/runs/${runId}`);
      const html = await response!.body();
      assert.ok(html.length < 400 * 1024, `the page sent ${html.length} bytes of a 10 MB log`);
      const gap = page.locator('.log-gap').first();
      assert.match(await gap.innerText(), /MB of log not loaded here/);
      const lines = page.locator('#run-log .ln');
      const before = await lines.count();
      await gap.getByRole('button', { name: 'Load more' }).click();
      await waitFor(async () => (await lines.count()) > before, 10_000, 'more lines');
      // The last chunk is in the tail; a chunk from the middle is found by the server-side search.
      assert.equal(await page.locator('#run-log .ln', { hasText: new RegExp(`^${last} x`) }).count(), 1);
      await page.getByLabel('Find').fill(`${Math.floor(last / 2)} xxxx`);
      await page.getByRole('button', { name: 'Search the whole stored log' }).click();
      await page.locator('#log-search-results .log-matches .ln').first().waitFor();
      await expectAccessible(page);
    });

    it('opens the run page by the links alerts send and by job#N, job~N and an id prefix', async () => {
      const [run] = await server.db.query<{ run_id: string }>("SELECT run_id::text AS run_id FROM runs WHERE job = 'report' AND run_number = 1");
      const page = await adminPage();
      for (const ref of [run!.run_id, 'report%231', 'report~1', run!.run_id.slice(0, 13)]) {
        const response = await page.goto(`${server.url}/ui/runs/${ref}`);
        assert.equal(response!.status(), 200, ref);
        assert.match(await page.locator('h1').innerText(), /^report#1 /, ref);
      }
      assert.equal((await page.goto(`${server.url}/ui/runs/report~999`))!.status(), 404);
      assert.equal((await page.goto(`${server.url}/ui/runs/not-a-ref!`))!.status(), 400);
    });

    it('offers a read-only token no Retry, Cancel or Trigger, and refuses its forged POSTs', async () => {
      const runId = await seedRunningRun(server.db, 'report');
      const page = await browser.signedInPage(server.url, tokens.read.token);
      await page.goto(`${server.url}/ui/runs/${runId}`);
      for (const name of ['Cancel', 'Retry', 'Rerun with changes']) {
        assert.equal(await page.getByRole('button', { name }).or(page.getByRole('link', { name })).count(), 0, name);
      }
      assert.equal((await page.goto(`${server.url}/ui/jobs/report/trigger`))!.status(), 403);
      const runsBefore = await runCount(server.db, 'report');
      await page.goto(`${server.url}/ui/runs/${runId}`);
      const csrf = await page.evaluate(() => JSON.parse(document.body.getAttribute('hx-headers') ?? '{}')['x-csrf-token'] as string);
      for (const [path, form] of [
        [`/ui/runs/${runId}/cancel`, { _csrf: csrf }],
        [`/ui/jobs/report/trigger`, { _csrf: csrf, action: 'trigger' }],
        [`/ui/runs/${runId}/cancel`, {}],
      ] as const) {
        const response = await page.request.post(`${server.url}${path}`, { form, maxRedirects: 0 });
        assert.equal(response.status(), 403, path);
      }
      assert.equal(await runCount(server.db, 'report'), runsBefore);
      const [row] = await server.db.query<{ status: string }>('SELECT status FROM runs WHERE run_id = $1', [runId]);
      assert.equal(row!.status, 'running');
      // An admin's POST without its CSRF token is refused as well.
      const admin = await adminPage();
      const forged = await admin.request.post(`${server.url}/ui/runs/${runId}/cancel`, { form: { _csrf: 'forged' }, maxRedirects: 0 });
      assert.equal(forged.status(), 403);
      assert.equal((await server.db.query<{ status: string }>('SELECT status FROM runs WHERE run_id = $1', [runId]))[0]!.status, 'running');
      await finishSeededRun(server.db, runId);
    });
  });
}
