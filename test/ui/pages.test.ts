// The jobs, runs and tokens pages: what each scope is offered and refused, suspend/resume, filters and
// keyset pages, live rows, tokens created once and revoked, hostile text shown as text, accessibility,
// a phone's width. Chromium drives them on one engine (BROWSER_ENGINE: PostgreSQL when DATABASE_URL is
// set, PGlite otherwise), since scripts, live updates, layout and axe do not depend on the engine; what
// the pages show from SQL (figures, slots, run numbers, filters, pages, scopes, tokens, the live rows'
// stream) is read from the server's HTML over plain HTTP on every engine.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { parseConfig } from '../../src/config/job-config.ts';
import { BROWSER_ENGINE, ENGINES } from '../support/runlog-engines.ts';
import { textOf, UiSession } from '../support/ui-http.ts';
import { expectNoCspViolations, expectNoSeriousA11yViolations, fileBrowser, screenshot, signIn } from '../support/browser.ts';
import { finishSeededRun, seedRun, startTestUi, type TestUi } from '../support/ui.ts';
import { rowCounts } from '../support/full-api.ts';
import { insertSlots, markSlotStarted } from '../../src/runlog/sql/schedule-slots.ts';

const HOSTILE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">';

const CONFIG = parseConfig(`
jobs:
  nightly-report:
    description: ${JSON.stringify(`Builds the nightly report ${HOSTILE}`)}
    command: ["true"]
    schedule: "30 6 * * 1-5"
    time_zone: Europe/Berlin
  hello:
    description: Says hello when asked.
    command: ["true"]
`, 'kubescribe.yaml');

// Two days ago at 08:00 UTC: inside both stats windows (7 and 30 days) whenever the test runs.
const BASE = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 2 * 86_400_000 + 8 * 3_600_000;
const at = (minutes: number) => new Date(BASE + minutes * 60_000);
/** `YYYY-MM-DDTHH:MM` of a seeded time, as a datetime-local input sends it (UTC here). */
const local = (minutes: number) => at(minutes).toISOString().slice(0, 16);

async function noXss(page: Page): Promise<void> {
  assert.equal(await page.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined);
}

/** 60 runs of nightly-report (two pages of 50), three schedule slots, a hostile label, a live run; their ids by name. */
async function seed(ui: TestUi): Promise<Record<string, string>> {
  const runs: Record<string, string> = {};
  // 60 runs of nightly-report (two pages of 50), alternating outcomes and durations; two of hello.
  for (let i = 0; i < 60; i++) {
    runs[`nightly${i}`] = await seedRun(ui.db, {
      job: 'nightly-report', status: i % 7 === 3 ? 'failed' : 'succeeded', trigger: 'schedule',
      labels: { team: i % 2 === 0 ? 'data' : 'ops' }, created_at: at(i), duration_ms: 1000 + (i % 5) * 400,
    });
  }
  // Three slots of the ledger: one started on time by the first run, one missed, one skipped.
  await insertSlots(ui.db, [
    { job: 'nightly-report', scheduled_for: at(0), state: 'expected', reason: null },
    { job: 'nightly-report', scheduled_for: at(-1440), state: 'missed', reason: 'the server was down' },
    { job: 'nightly-report', scheduled_for: at(-2880), state: 'skipped', reason: 'suspended' },
  ]);
  assert.ok(await markSlotStarted(ui.db, 'nightly-report', at(0), runs.nightly0!));
  runs.hostile = await seedRun(ui.db, { job: 'hello', status: 'succeeded', labels: { note: HOSTILE }, created_at: at(61) });
  runs.live = await seedRun(ui.db, { job: 'hello', status: 'running', trigger: 'api', created_at: at(62) });
  return runs;
}

// One Chromium for the file, for the browser's engine.
const browser = fileBrowser();

// What the pages show from the RunLog, on every engine, from the server's HTML (no browser).

/** Admin-only forms a read-scoped session posts anyway: each must be refused (403) and change nothing. */
const FORGED_ADMIN_POSTS = [
  ['/ui/jobs/nightly-report/suspend', { reason: 'forged' }],
  ['/ui/tokens', { name: 'forged', scope: 'admin' }],
  ['/ui/tokens/test-admin/revoke', {}],
] as const;
for (const engine of ENGINES) {
  describe(`UI pages over HTTP (${engine})`, () => {
    let ui: TestUi;
    let runs: Record<string, string>;
    let admin: UiSession;
    let reader: UiSession;

    before(async () => {
      ui = await startTestUi(engine, { config: CONFIG });
      runs = await seed(ui);
      admin = await UiSession.signIn(ui.url, ui.tokens.admin);
      reader = await UiSession.signIn(ui.url, ui.tokens.read);
    });
    after(async () => {
      await ui?.close();
    });

    test('jobs page: description as text, schedule, next run, last run, 7- and 30-day figures, slots, sparkline', async () => {
      const page = await admin.get('/ui/jobs');
      assert.equal(page.status, 200);
      assert.ok(!page.html.includes(HOSTILE), 'the description is escaped');
      const text = page.text('tr#job-nightly-report');
      assert.ok(text.includes(`Builds the nightly report ${HOSTILE}`), text);
      assert.match(text, /at 06:30 on Monday to Friday \(Europe\/Berlin\)/);
      assert.match(text, /\d{4}-\d{2}-\d{2} \d{2}:30 UTC/);
      assert.match(text, /\(\d{4}-\d{2}-\d{2} 06:30 \+0[12]:00 Europe\/Berlin\)/);
      assert.match(text, /nightly-report#60/);
      assert.equal(page.count('tr#job-nightly-report svg.sparkline rect'), 20);
      // 9 of the 60 failed (i % 7 === 3), all within both windows; durations 1.0 s to 2.6 s, 12 of each.
      assert.match(page.text('tr#job-nightly-report td.health'), /^7d\s+85% 1\.8s \/ 2\.6s\s+30d\s+85% 1\.8s \/ 2\.6s$/);
      assert.equal(page.attr('tr#job-nightly-report ol.slots', 'aria-label'), 'Last 3 schedule slots, oldest first: 1 skipped, 1 missed, 1 on time');
      assert.deepEqual(page.all('tr#job-nightly-report ol.slots li').map((li) => li.attribs.class), ['slot-skipped', 'slot-missed', 'slot-on_time']);
      assert.match(page.all('tr#job-nightly-report ol.slots li').at(-1)!.attribs.title!, new RegExp(`^${local(0).replace('T', ' ')} UTC: on time \\(nightly-report#1\\)$`));
    });

    test('an admin suspends and resumes a job with a reason; the job, its event and the page say so', async () => {
      const suspended = await admin.post('/ui/jobs/nightly-report/suspend', { reason: 'holiday <b>freeze</b>' });
      assert.equal(suspended.status, 303);
      assert.equal(suspended.headers.get('location'), '/ui/jobs#job-nightly-report');
      const page = await admin.get('/ui/jobs');
      assert.equal(page.text('.flash'), 'Job nightly-report suspended: holiday <b>freeze</b>.');
      assert.match(page.text('tr#job-nightly-report'), /suspended/);
      assert.equal((await (await ui.call('GET', '/jobs/nightly-report', { scope: 'read' })).json() as { suspended: boolean }).suspended, true);
      const [event] = await ui.db.query<{ actor: string; detail: { reason?: string } }>(
        "SELECT actor, detail FROM job_events WHERE job = 'nightly-report' AND type = 'suspended' ORDER BY at DESC LIMIT 1",
      );
      assert.equal(event?.actor, 'token:test-admin');
      assert.equal(event?.detail.reason, 'holiday <b>freeze</b>');
      assert.equal((await admin.post('/ui/jobs/nightly-report/resume', {})).status, 303);
      assert.equal((await (await ui.call('GET', '/jobs/nightly-report', { scope: 'read' })).json() as { suspended: boolean }).suspended, false);
      assert.equal((await admin.get('/ui/jobs')).text('tr#job-nightly-report button'), 'Suspend');
    });

    test('a read-only token is offered no Suspend, Trigger or Tokens, and its POSTs are refused', async () => {
      const page = await reader.get('/ui/jobs');
      assert.deepEqual(page.texts('button').filter((text) => /Suspend|Resume|Revoke/.test(text)), []);
      assert.ok((await admin.get('/ui/jobs')).texts('button').includes('Suspend'), 'an admin is offered Suspend');
      assert.ok(!page.texts('a').some((text) => /Trigger/.test(text)));
      assert.ok(!page.texts('nav[aria-label=Main] a').includes('Tokens'));
      assert.ok((await admin.get('/ui/jobs')).texts('nav[aria-label=Main] a').includes('Tokens'), 'an admin is offered Tokens');
      const before = await rowCounts(ui.db);
      for (const [path, form] of FORGED_ADMIN_POSTS) {
        const response = await reader.post(path, form);
        assert.equal(response.status, 403, path);
        assert.match(response.html, /has scope read; this needs scope admin/);
      }
      assert.deepEqual(await rowCounts(ui.db), before);
      assert.equal((await reader.get('/ui/tokens')).status, 403);
    });

    test('runs page: newest first as job#N, status in words, filters, keyset pages, hostile labels as text', async () => {
      const first = await reader.get('/ui/runs');
      const rows = first.texts('table.runs tbody tr');
      assert.equal(rows.length, 50);
      assert.match(rows[0]!, /hello#2\s+▶\s+running/);
      assert.match(rows[1]!, /hello#1/);
      assert.ok(rows[1]!.includes(`note=${HOSTILE}`));
      assert.ok(!first.html.includes(HOSTILE), 'the label is escaped');

      const older = first.all('a').find((a) => textOf(a) === 'Older runs →');
      assert.ok(older, 'a link to the older runs');
      const second = await reader.get(older.attribs.href!);
      const olderRows = second.texts('table.runs tbody tr');
      assert.equal(olderRows.length, 12);
      assert.match(olderRows[11]!, /nightly-report#1\b/);
      assert.ok(!second.html.includes('Older runs →'));

      const failed = (await reader.get('/ui/runs?job=nightly-report&status=failed&label=team%3Dops')).texts('table.runs tbody tr');
      // i % 7 === 3 and i odd: i = 3, 17, 31, 45, 59 → run numbers 4, 18, 32, 46, 60.
      assert.deepEqual(failed.map((text) => /nightly-report#(\d+)/.exec(text)![1]), ['60', '46', '32', '18', '4']);
      for (const text of failed) assert.match(text, /✗\s+failed/);

      const window = await reader.get(`/ui/runs?since=${local(10)}&until=${local(12)}`);
      assert.deepEqual(window.texts('table.runs tbody tr').map((text) => /nightly-report#(\d+)/.exec(text)![1]), ['12', '11']);

      const bad = await reader.get('/ui/runs?status=exploded&label=nokey');
      assert.equal(bad.status, 400);
      assert.match(bad.text('#e-status'), /status must be one of queued/);
      assert.match(bad.text('#e-label'), /label must be key=value/);
      const empty = await reader.get('/ui/runs?job=hello&status=timed_out');
      assert.equal(empty.status, 200);
      assert.match(empty.text('.empty'), /No run matches these filters/);
    });

    test('the runs page\'s stream sends a live row\'s new HTML when its run finishes, and announces a newer run', async () => {
      const page = await reader.get('/ui/runs?job=hello');
      assert.match(page.text(`tr#run-${runs.live}`), /running/);
      const streamUrl = page.all('[sse-connect]')[0]?.attribs['sse-connect'];
      assert.ok(streamUrl, 'the first page has a live stream');
      const stream = await reader.stream(streamUrl);
      try {
        // The stream sends a live row as it is when it starts, then again when it changes.
        const rowEvent = `run-${runs.live}`;
        const text = (html: string) => html.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ');
        assert.match(text((await stream.waitFor((e) => e.event === rowEvent)).data), /▶ running/);
        await finishSeededRun(ui.db, runs.live!, 'succeeded', at(62), 2000);
        assert.match(text((await stream.waitFor((e) => e.event === rowEvent && e.data.includes('succeeded'))).data), /✓ succeeded/);
        // A run that starts later is announced on the first page, not pushed into it.
        assert.equal(stream.events.filter((e) => e.event === 'new-runs').length, 0);
        await seedRun(ui.db, { job: 'hello', status: 'queued', created_at: new Date() });
        await stream.waitFor((e) => e.event === 'new-runs');
      } finally {
        stream.close();
      }
      assert.match((await reader.get('/ui/runs?job=hello')).texts('table.runs tbody tr')[0]!, /hello#3\s+◷\s+queued/);
    });

    test('tokens page: an admin creates a token (shown once, and it works) and revokes it', async () => {
      assert.match((await admin.post('/ui/tokens', { name: 'bad name!', scope: 'read', expires_in: '' })).text('#e-name'), /name must be letters, digits/);
      assert.match((await admin.post('/ui/tokens', { name: 'ci-bot', scope: 'trigger', expires_in: '5' })).text('#e-expires'), /has no unit/);
      const created = await admin.post('/ui/tokens', { name: 'ci-bot', scope: 'trigger', expires_in: '30d' });
      assert.equal(created.status, 201);
      const secret = created.text('#new-token');
      assert.match(secret, /^ksk_/);
      assert.equal((await fetch(`${ui.url}/jobs`, { headers: { authorization: `Bearer ${secret}` } })).status, 200);
      const again = await admin.get('/ui/tokens');
      assert.equal(again.count('#new-token'), 0);
      assert.ok(!again.html.includes(secret), 'the secret is shown once');
      assert.match(again.text('#token-ci-bot'), /trigger\s+active/);
      assert.equal((await admin.post('/ui/tokens/ci-bot/revoke', {})).status, 303);
      const revoked = await admin.get('/ui/tokens');
      assert.match(revoked.text('.flash'), /Token ci-bot revoked/);
      assert.match(revoked.text('#token-ci-bot'), /revoked/);
      assert.equal((await fetch(`${ui.url}/jobs`, { headers: { authorization: `Bearer ${secret}` } })).status, 401);
    });
  });
}

for (const engine of [BROWSER_ENGINE]) {
  describe(`UI pages in Chromium (${engine})`, () => {
    const expectAccessible = expectNoSeriousA11yViolations;
    let ui: TestUi;
    const runs: Record<string, string> = {};

    before(async () => {
      ui = await startTestUi(engine, { config: CONFIG });
      Object.assign(runs, await seed(ui));
    });
    after(async () => {
      await browser.closeSignedInPages();
      await ui?.close();
    });

    test('jobs page: description (as text), schedule in words, next run in UTC and the job\'s zone, last run, sparkline', async () => {
      const page = await browser.signedInPage(ui.url, ui.tokens.admin);
      const row = page.locator('#job-nightly-report');
      const text = await row.innerText();
      assert.ok(text.includes(`Builds the nightly report ${HOSTILE}`), text);
      assert.match(text, /at 06:30 on Monday to Friday \(Europe\/Berlin\)/);
      assert.match(text, /\d{4}-\d{2}-\d{2} \d{2}:30 UTC/);
      assert.match(text, /\(\d{4}-\d{2}-\d{2} 06:30 \+0[12]:00 Europe\/Berlin\)/);
      // The viewer's zone (the browser is in Europe/Berlin) is added by the script.
      assert.match(await row.locator('td[data-label="Next run"] .viewer-time').innerText(), /^\d{4}-\d{2}-\d{2} 06:30 Europe\/Berlin$/);
      assert.match(text, /nightly-report#60/);
      assert.equal(await row.locator('svg.sparkline rect').count(), 20);
      // 9 of the 60 failed (i % 7 === 3), all within both windows; durations 1.0 s to 2.6 s, 12 of each.
      assert.match(await row.locator('td.health').innerText(), /^7d\s+85% 1\.8s \/ 2\.6s\s+30d\s+85% 1\.8s \/ 2\.6s$/);
      assert.equal(await row.locator('ol.slots').getAttribute('aria-label'), 'Last 3 schedule slots, oldest first: 1 skipped, 1 missed, 1 on time');
      assert.deepEqual(await row.locator('ol.slots li').evaluateAll((items) => items.map((item) => item.className)), ['slot-skipped', 'slot-missed', 'slot-on_time']);
      assert.match((await row.locator('ol.slots li').last().getAttribute('title'))!, new RegExp(`^${local(0).replace('T', ' ')} UTC: on time \\(nightly-report#1\\)$`));
      assert.match((await row.locator('svg.sparkline').getAttribute('aria-label'))!, /Durations of the last 20 finished runs/);
      await noXss(page);
      expectNoCspViolations(page);
      await expectAccessible(page);
      await screenshot(page, 'jobs');
    });

    test('an admin suspends and resumes a job with a reason, through the same function as the API', async () => {
      const page = await browser.signedInPage(ui.url, ui.tokens.admin);
      await page.getByLabel('Reason to suspend nightly-report').fill('holiday <b>freeze</b>');
      await page.locator('#job-nightly-report').getByRole('button', { name: 'Suspend' }).click();
      await page.waitForURL(/\/ui\/jobs#job-nightly-report$/);
      assert.match(await page.locator('.flash').innerText(), /Job nightly-report suspended: holiday <b>freeze<\/b>\./);
      assert.match(await page.locator('#job-nightly-report').innerText(), /suspended/);
      const job = await (await ui.call('GET', '/jobs/nightly-report', { scope: 'read' })).json() as { suspended: boolean };
      assert.equal(job.suspended, true);
      const [event] = await ui.db.query<{ actor: string; detail: { reason?: string } }>(
        "SELECT actor, detail FROM job_events WHERE job = 'nightly-report' AND type = 'suspended' ORDER BY at DESC LIMIT 1",
      );
      assert.equal(event?.actor, 'token:test-admin');
      await page.locator('#job-nightly-report').getByRole('button', { name: 'Resume' }).click();
      await page.waitForURL(/\/ui\/jobs#job-nightly-report$/);
      assert.equal((await (await ui.call('GET', '/jobs/nightly-report', { scope: 'read' })).json() as { suspended: boolean }).suspended, false);
    });

    test('a read-only token is offered no Suspend, Trigger or Tokens, and its forged POSTs are refused', async () => {
      const page = await browser.signedInPage(ui.url, ui.tokens.read);
      assert.equal(await page.getByRole('button', { name: /Suspend|Resume|Revoke/ }).count(), 0);
      assert.equal(await page.getByRole('link', { name: /Trigger/ }).count(), 0);
      assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tokens' }).count(), 0);
      // A forged POST with the session's own valid CSRF token: only the scope stands in the way.
      const csrf = await page.locator('form.identity input[name=_csrf]').inputValue();
      const before = await rowCounts(ui.db);
      for (const [path, form] of FORGED_ADMIN_POSTS) {
        const response = await page.request.post(`${ui.url}${path}`, { form: { ...form, _csrf: csrf } });
        assert.equal(response.status(), 403, path);
        assert.match(await response.text(), /has scope read; this needs scope admin/);
      }
      assert.deepEqual(await rowCounts(ui.db), before);
      const tokens = await page.goto(`${ui.url}/ui/tokens`);
      assert.equal(tokens!.status(), 403);
      await expectAccessible(page);
    });

    test('runs page: newest first as job#N, status in words, filters, keyset pages, hostile labels as text', async () => {
      const page = await browser.signedInPage(ui.url, ui.tokens.read);
      await page.goto(`${ui.url}/ui/runs`);
      const rows = page.locator('table.runs tbody tr');
      assert.equal(await rows.count(), 50);
      assert.match(await rows.nth(0).innerText(), /hello#2\s+▶\s+running/);
      assert.match(await rows.nth(1).innerText(), /hello#1/);
      assert.ok((await rows.nth(1).innerText()).includes(`note=${HOSTILE}`));
      await noXss(page);
      await expectAccessible(page);
      await screenshot(page, 'runs');

      await page.getByRole('link', { name: 'Older runs →' }).click();
      assert.equal(await rows.count(), 12);
      assert.match(await rows.nth(11).innerText(), /nightly-report#1\b/);
      assert.equal(await page.getByRole('link', { name: 'Older runs →' }).count(), 0);

      await page.goto(`${ui.url}/ui/runs`);
      await page.getByLabel('Job').selectOption('nightly-report');
      await page.getByLabel('Status').selectOption('failed');
      await page.getByLabel('Label').fill('team=ops');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForURL(/status=failed/);
      const failed = await rows.allInnerTexts();
      // i % 7 === 3 and i odd: i = 3, 17, 31, 45, 59 → run numbers 4, 18, 32, 46, 60.
      assert.deepEqual(failed.map((text) => /nightly-report#(\d+)/.exec(text)![1]), ['60', '46', '32', '18', '4']);
      for (const text of failed) assert.match(text, /✗\s+failed/);

      await page.goto(`${ui.url}/ui/runs?since=${local(10)}&until=${local(12)}`);
      assert.deepEqual((await rows.allInnerTexts()).map((text) => /nightly-report#(\d+)/.exec(text)![1]), ['12', '11']);

      const bad = await page.goto(`${ui.url}/ui/runs?status=exploded&label=nokey`);
      assert.equal(bad!.status(), 400);
      assert.match(await page.locator('#e-status').innerText(), /status must be one of queued/);
      assert.match(await page.locator('#e-label').innerText(), /label must be key=value/);
      const empty = await page.goto(`${ui.url}/ui/runs?job=hello&status=timed_out`);
      assert.equal(empty!.status(), 200);
      assert.match(await page.locator('.empty').innerText(), /No run matches these filters/);
    });

    test('a live row updates itself when its run finishes, without a reload', async () => {
      const page = await browser.signedInPage(ui.url, ui.tokens.read);
      await page.goto(`${ui.url}/ui/runs?job=hello`);
      const row = page.locator(`#run-${runs.live}`);
      assert.match(await row.innerText(), /running/);
      // Marks the page: a reload would lose it.
      await page.evaluate(() => { (globalThis as { __marker?: boolean }).__marker = true; });
      await finishSeededRun(ui.db, runs.live!, 'succeeded', at(62), 2000);
      await page.waitForFunction((id) => document.getElementById(`run-${id}`)?.textContent?.includes('succeeded'), runs.live, { timeout: 15_000 });
      assert.equal(await page.evaluate(() => (globalThis as { __marker?: boolean }).__marker), true);
      assert.match(await row.innerText(), /✓\s+succeeded/);
      // A run that starts later is announced on the first page, not pushed into it.
      await seedRun(ui.db, { job: 'hello', status: 'queued', created_at: new Date() });
      await page.getByText('New runs have arrived.').waitFor({ timeout: 15_000 });
      assert.equal(await page.evaluate(() => (globalThis as { __marker?: boolean }).__marker), true);
      await page.getByRole('link', { name: 'Show them' }).click();
      await page.waitForFunction(() => !(globalThis as { __marker?: boolean }).__marker);
      assert.match(await page.locator('table.runs tbody tr').first().innerText(), /hello#3\s+◷\s+queued/);
      expectNoCspViolations(page);
    });

    test('tokens page: an admin creates a token (shown once, and it works) and revokes it', async () => {
      const page = await browser.signedInPage(ui.url, ui.tokens.admin);
      await page.goto(`${ui.url}/ui/tokens`);
      await expectAccessible(page);
      await page.getByLabel('Name').fill('bad name!');
      await page.getByRole('button', { name: 'Create token' }).click();
      assert.match(await page.locator('#e-name').innerText(), /name must be letters, digits/);
      await page.getByLabel('Name').fill('ci-bot');
      await page.getByLabel('Scope').selectOption('trigger');
      await page.getByLabel('Expires in').fill('5');
      await page.getByRole('button', { name: 'Create token' }).click();
      assert.match(await page.locator('#e-expires').innerText(), /has no unit/);
      await page.getByLabel('Expires in').fill('30d');
      await page.getByRole('button', { name: 'Create token' }).click();
      const secret = await page.locator('#new-token').innerText();
      assert.match(secret, /^ksk_/);
      assert.ok(!page.url().includes(secret));
      const jobs = await fetch(`${ui.url}/jobs`, { headers: { authorization: `Bearer ${secret}` } });
      assert.equal(jobs.status, 200);
      await screenshot(page, 'tokens');
      // Reloading does not show it again.
      await page.goto(`${ui.url}/ui/tokens`);
      assert.equal(await page.locator('#new-token').count(), 0);
      assert.match(await page.locator('#token-ci-bot').innerText(), /trigger\s+active/);

      page.once('dialog', (dialog) => void dialog.accept());
      await page.getByRole('button', { name: 'Revoke ci-bot' }).click();
      await page.waitForURL(/\/ui\/tokens$/);
      assert.match(await page.locator('.flash').innerText(), /Token ci-bot revoked/);
      assert.match(await page.locator('#token-ci-bot').innerText(), /revoked/);
      assert.equal((await fetch(`${ui.url}/jobs`, { headers: { authorization: `Bearer ${secret}` } })).status, 401);
    });

    test('keyboard alone reaches the main content and the filters; a phone\'s width needs no sideways scroll', async () => {
      const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
      await signIn(page, ui.url, ui.tokens.admin);
      for (const path of ['/ui/jobs', '/ui/runs', '/ui/tokens']) {
        await page.goto(`${ui.url}${path}`);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${path} is ${overflow}px wider than a phone`);
      }
      await page.goto(`${ui.url}/ui/runs`);
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
      await page.keyboard.press('Enter');
      await page.waitForURL(/#main$/);
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'f-job');
      await page.emulateMedia({ colorScheme: 'dark' });
      await expectAccessible(page);
      await screenshot(page, 'runs-phone');
    });
  });
}
