// The job page (/ui/jobs/<name>: definition, stats panel over a chosen window, SLA strip, runs-per-day
// chart, recent runs) and the reports page (/ui/reports: the health table of `kubescribe report`)
// on each RunLog engine: the figures against an independent computation over seeded runs and slots
// (test/support/stats-oracle.ts), window switching, an empty job, a live run, unknown and hostile
// names, what each scope is offered, and the reports page against `kubescribe report --json` and
// `--md` for the same window, read from the server's HTML over plain HTTP on every engine; the same in
// Chromium, with the page's scripts, accessibility in light and dark and a phone's width, on one
// engine (BROWSER_ENGINE: PostgreSQL when DATABASE_URL is set, PGlite otherwise), since the browser's
// side does not depend on the engine.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { parseConfig } from '../../src/config/job-config.ts';
import { healthCells, percent } from '../../src/reports/health-report.ts';
import type { JobStats } from '../../src/reports/stats.ts';
import { formatMs } from '../../src/ui/format.ts';
import { BROWSER_ENGINE, ENGINES } from '../support/runlog-engines.ts';
import { textOf, UiSession } from '../support/ui-http.ts';
import { expectNoCspViolations, expectNoSeriousA11yViolations, fileBrowser, screenshot, signIn } from '../support/browser.ts';
import { runCliInProcess } from '../support/cli.ts';
import { assertClose, expectedBuckets, expectedStats, seedRuns, type SeededRun, type SeedRun, type SeedSlot } from '../support/stats-oracle.ts';
import { finishSeededRun, startTestUi, type TestUi } from '../support/ui.ts';

const CONFIG = parseConfig(`
jobs:
  nightly:
    description: Loads the night's orders into the warehouse.
    command: ["python3", "load.py"]
    schedule: "0 3 * * *"
    time_zone: Europe/Berlin
    timeout: 30m
    retries: {limit: 2, backoff: 1m}
  quiet:
    description: Declared, never run.
    command: ["true"]
`, 'kubescribe.yaml');

const DAY = 86_400_000;
// Every seeded time is an hour past a whole number of days before NOW, so no run or slot sits on
// a window's edge (24h, 7d, 30d, 90d) while the pages compute their windows a few seconds later.
const NOW = Date.now();
const daysAgo = (d: number, plusMs = 0) => new Date(NOW - d * DAY + 3_600_000 + plusMs);

/**
 * nightly: one scheduled run a day for 40 days; failed when d % 6 === 0 (RuntimeError: disk full),
 * started 10 s after its slot (d = 3: 5 minutes, late), running 60 s + (d % 7) × 10 s. A cancelled
 * run 2.5 days ago, and a live one now. Slots of the last 10 days: started by that day's run,
 * except d = 4 (missed) and d = 8 (skipped). hello: three quick successes.
 */
/**
 * `kubescribe report` against the UI's server for `window`, and its jobs from `--json`, whose nightly
 * figures are checked against the oracle here: the reports page's table is then checked against both.
 */
async function reportOf(ui: TestUi, runs: readonly SeededRun[], slots: readonly SeedSlot[], window: '30d' | '7d') {
  const cli = async (args: string[]) => {
    const result = await runCliInProcess(['report', '--server', ui.url, '--token', ui.tokens.read, '--window', window, ...args]);
    assert.equal(result.code, 0, result.err);
    return result.out;
  };
  const { jobs } = JSON.parse(await cli(['--json'])) as { jobs: JobStats[] };
  assert.deepEqual(jobs.map((job) => job.job_name), ['hello', 'nightly']);
  const nightly = jobs.find((job) => job.job_name === 'nightly')!;
  const want = expectedPanel(runs, slots, 'nightly', window).stats;
  assertClose({ ...nightly, from: null, to: null }, { ...want, window, from: null, to: null });
  return { cli, jobs };
}

function seedSpec(): { runs: SeedRun[]; slots: SeedSlot[] } {
  const runs: SeedRun[] = [];
  const slots: SeedSlot[] = [];
  for (let d = 40; d >= 1; d--) {
    const created = daysAgo(d);
    const started = new Date(created.getTime() + (d === 3 ? 300_000 : 10_000));
    const failed = d % 6 === 0;
    runs.push({
      job: 'nightly', status: failed ? 'failed' : 'succeeded', created_at: created, started_at: started,
      finished_at: new Date(started.getTime() + 60_000 + (d % 7) * 10_000),
      error_type: failed ? 'RuntimeError' : null, error_message: failed ? 'disk full\nTraceback…' : null,
    });
    if (d <= 10) {
      if (d === 4) slots.push({ job: 'nightly', scheduled_for: created, state: 'missed' });
      else if (d === 8) slots.push({ job: 'nightly', scheduled_for: created, state: 'skipped' });
      else slots.push({ job: 'nightly', scheduled_for: created, state: 'started', run: runs.length - 1 });
    }
  }
  runs.push({ job: 'nightly', status: 'cancelled', trigger: 'manual', created_at: daysAgo(2.5), started_at: daysAgo(2.5, 1000), finished_at: daysAgo(2.5, 5000) });
  for (let i = 0; i < 3; i++) {
    runs.push({ job: 'hello', status: 'succeeded', trigger: 'manual', created_at: daysAgo(1, i * 60_000), started_at: daysAgo(1, i * 60_000 + 500), finished_at: daysAgo(1, i * 60_000 + 2500) });
  }
  runs.push({ job: 'nightly', status: 'running', trigger: 'manual', created_at: new Date(NOW - 30_000), started_at: new Date(NOW - 20_000) });
  return { runs, slots };
}

/** What the job page's panel should say for `job` over `window`, from the oracle's numbers. */
function expectedPanel(runs: readonly SeededRun[], slots: readonly SeedSlot[], job: string, window: '24h' | '7d' | '30d' | '90d') {
  const ms = { '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY, '90d': 90 * DAY }[window];
  const now = new Date();
  const from = new Date(now.getTime() - ms);
  const stats = expectedStats(runs, slots, job, window, from, now, now);
  const sec = (value: number | null) => formatMs(value === null ? null : value * 1000);
  const d = stats.duration_seconds;
  return {
    stats,
    from,
    now,
    successRate: percent(stats.success_rate),
    durations: `${sec(d.p50)} / ${sec(d.p95)} / ${sec(d.p99)} / ${sec(d.max)}`,
    streak: stats.streak ? `${stats.streak.count} ${stats.streak.status}` : '-',
    mtbf: sec(stats.mtbf_seconds),
    queueWait: sec(stats.queue_wait_seconds.p95),
    sla: `${percent(stats.sla.on_time_share)} on time: ${stats.sla.on_time} on time, ${stats.sla.late} late, ${stats.sla.missed} missed, ${stats.sla.skipped} skipped`,
  };
}


const text = async (page: Page, selector: string) => (await page.locator(selector).innerText()).trim();

// What the pages show from the RunLog, on every engine, from the server's HTML (no browser).
for (const engine of ENGINES) {
  describe(`job and reports pages over HTTP (${engine})`, () => {
    let ui: TestUi;
    let runs: SeededRun[];
    let slots: SeedSlot[];
    let reader: UiSession;

    before(async () => {
      ui = await startTestUi(engine, { config: CONFIG });
      const spec = seedSpec();
      runs = await seedRuns(ui.db, spec.runs, spec.slots);
      slots = spec.slots;
      reader = await UiSession.signIn(ui.url, ui.tokens.read);
    });
    after(async () => {
      await ui?.close();
    });

    test('job page: definition, the 30-day figures of the oracle, SLA counts and strip, the chart, recent runs with a live one', async () => {
      assert.ok((await reader.get('/ui/jobs')).all('tr#job-nightly a').some((a) => a.attribs.href === '/ui/jobs/nightly' && textOf(a) === 'nightly'));
      const page = await reader.get('/ui/jobs/nightly');
      assert.equal(page.status, 200);
      assert.equal(page.text('h1'), 'nightly');
      const facts = page.text('.job-facts');
      assert.match(facts, /at 03:00 every day \(Europe\/Berlin\)\s+0 3 \* \* \*/);
      assert.match(facts, /Time zone\s+Europe\/Berlin/);
      assert.equal(page.count('.job-facts ol.plain li'), 3);
      assert.match(facts, /Executor\s+none/);
      assert.match(facts, /Timeout\s+30m/);
      assert.match(facts, /Retries\s+2, backoff 1m/);
      assert.match(page.text('.job-description'), /Loads the night's orders/);

      const want = expectedPanel(runs, slots, 'nightly', '30d');
      assert.equal(want.stats.runs.total, 32);
      assert.equal(page.text('#stats-title'), 'Health over the last 30d');
      assert.equal(page.text('.window-chooser a[aria-current=page]'), '30d');
      assert.match(page.text('.runs-by-status'), /^32\s+▶\s+running 1\s+✓\s+succeeded 25\s+✗\s+failed 5\s+⊘\s+cancelled 1$/);
      assert.equal(page.text('.success-rate'), want.successRate);
      assert.equal(page.text('.durations'), want.durations);
      assert.equal(page.text('.streak'), want.streak);
      assert.equal(page.text('.mtbf'), want.mtbf);
      assert.equal(page.text('.queue-wait'), want.queueWait);
      assert.match(page.text('.last-success'), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
      assert.match(page.text('.last-failure'), new RegExp(`^nightly#${want.stats.last_failure!.run_number}\\s+✗\\s+failed\\s+\\d{4}-.*\\sRuntimeError: disk full$`));
      assert.equal(page.text('.sla-summary'), want.sla);
      assert.deepEqual(page.all('.stats-panel ol.slots li').map((li) => li.attribs.class),
        ['slot-on_time', 'slot-on_time', 'slot-skipped', 'slot-on_time', 'slot-on_time', 'slot-on_time', 'slot-missed', 'slot-late', 'slot-on_time', 'slot-on_time']);
      const buckets = expectedBuckets(runs, 'nightly', want.from, want.now, '1d');
      assert.equal(page.count('svg.bar-chart rect.bar-hit'), buckets.length);
      const finished = buckets.reduce((sum, b) => sum + b.runs, 0);
      assert.match(page.attr('svg.bar-chart', 'aria-label')!, new RegExp(`over ${buckets.length} days, oldest first: ${finished} runs, 5 failed`));
      const rows = page.texts('table.runs tbody tr');
      assert.equal(rows.length, 10);
      assert.match(rows[0]!, /nightly#42\s+▶\s+running/);
      assert.ok(page.all('a').some((a) => textOf(a) === 'All runs of nightly' && a.attribs.href === '/ui/runs?job=nightly'));

      // The live row's stream (the runs page's) sends it again when its run finishes.
      const live = runs[runs.length - 1]!;
      const streamUrl = page.all('[sse-connect]')[0]?.attribs['sse-connect'];
      assert.ok(streamUrl, 'the recent runs follow the live one');
      const stream = await reader.stream(streamUrl);
      try {
        await stream.waitFor((e) => e.event === `run-${live.run_id}`);
        await finishSeededRun(ui.db, live.run_id, 'succeeded', new Date(NOW - 20_000), 5_000);
        runs[runs.length - 1] = { ...live, status: 'succeeded', finished_at: new Date(NOW - 15_000) };
        await stream.waitFor((e) => e.event === `run-${live.run_id}` && e.data.includes('succeeded'));
      } finally {
        stream.close();
      }
    });

    test('the window chooser switches the figures: 7 days, 24 hours and 90 days', async () => {
      for (const window of ['7d', '24h', '90d'] as const) {
        const link = (await reader.get('/ui/jobs/nightly')).all('nav[aria-label=Window] a').find((a) => textOf(a) === window);
        assert.equal(link?.attribs.href, `/ui/jobs/nightly?window=${window}`);
        const page = await reader.get(link.attribs.href);
        const want = expectedPanel(runs, slots, 'nightly', window);
        assert.equal(page.text('#stats-title'), `Health over the last ${window}`);
        assert.match(page.text('.runs-by-status'), new RegExp(`^${want.stats.runs.total}\\b`));
        assert.equal(page.text('.success-rate'), want.successRate, window);
        assert.equal(page.text('.durations'), want.durations, window);
        assert.equal(page.text('.streak'), want.streak, window);
        assert.equal(page.text('.sla-summary'), want.sla, window);
        assert.equal(page.count('.stats-panel ol.slots li'), slots.filter((slot) => slot.scheduled_for >= want.from).length, window);
        const buckets = expectedBuckets(runs, 'nightly', want.from, want.now, window === '24h' ? '1h' : '1d');
        assert.equal(page.count('svg.bar-chart rect.bar-hit'), buckets.length, window);
      }
      // 7 days: d = 1 … 7 (d = 6 failed) and the live run, which has succeeded since; the cancelled run does not count.
      assert.equal((await reader.get('/ui/jobs/nightly?window=7d')).text('.success-rate'), '87.5%');
      const bad = await reader.get('/ui/jobs/nightly?window=1y');
      assert.equal(bad.status, 400);
      assert.match(bad.text('.error-message'), /The window "1y" is not one of 24h, 7d, 30d, 90d/);
    });

    test('an empty job, an unknown job, and hostile names: a page that says so, never a 500', async () => {
      const quiet = await reader.get('/ui/jobs/quiet');
      assert.match(quiet.text('.stats-panel .empty'), /No runs of quiet in the RunLog yet/);
      assert.match(quiet.text('section[aria-labelledby=runs-title] .empty'), /No runs yet/);
      assert.match(quiet.text('.job-facts'), /Schedule\s+by hand only/);
      const unknown = await reader.get('/ui/jobs/no-such-job');
      assert.equal(unknown.status, 404);
      assert.match(unknown.text('.error-message'), /There is no job no-such-job/);
      for (const path of ['%00', '%2E%2E', 'a'.repeat(5000), '%ED%A0%80', '%F0%9F', 'a%00b', `x${'%C3%A9'.repeat(300)}`, '..%2F..%2Fetc%2Fpasswd']) {
        const response = await reader.get(`/ui/jobs/${path}`);
        assert.ok([400, 404].includes(response.status), `${path.slice(0, 40)}: ${response.status}`);
        const decodes = (() => { try { decodeURIComponent(path); return true; } catch { return false; } })();
        if (decodes) assert.match(response.headers.get('content-type') ?? '', /text\/html/, path.slice(0, 40));
        else assert.equal(response.status, 400, path);
      }
    });

    test('scopes: a read-only token sees no actions on the job page; an admin suspends from it and comes back to it', async () => {
      const read = await reader.get('/ui/jobs/nightly');
      assert.deepEqual(read.texts('button').filter((t) => /Suspend|Resume/.test(t)), []);
      assert.ok(!read.texts('a').some((t) => /Trigger/.test(t)));
      const trigger = await (await UiSession.signIn(ui.url, ui.tokens.trigger)).get('/ui/jobs/nightly');
      assert.ok(trigger.all('a').some((a) => textOf(a) === 'Trigger…' && a.attribs.href === '/ui/jobs/nightly/trigger'));
      assert.deepEqual(trigger.texts('button').filter((t) => /Suspend|Resume/.test(t)), []);

      const admin = await UiSession.signIn(ui.url, ui.tokens.admin);
      const offered = await admin.get('/ui/jobs/nightly');
      assert.equal(offered.text('form[action="/ui/jobs/nightly/suspend"] button'), 'Suspend');
      assert.equal(offered.attr('form[action="/ui/jobs/nightly/suspend"] input[name=back]', 'value'), 'job', 'the job page\'s form comes back to it');
      const suspended = await admin.post('/ui/jobs/nightly/suspend', { reason: 'warehouse migration', back: 'job' });
      assert.equal(suspended.headers.get('location'), '/ui/jobs/nightly');
      const page = await admin.get('/ui/jobs/nightly');
      assert.match(page.text('.flash'), /Job nightly suspended: warehouse migration\./);
      assert.match(page.text('h1'), /nightly\s+suspended/);
      assert.match(page.text('.job-facts'), /Next runs\s+none while suspended/);
      assert.equal((await admin.post('/ui/jobs/nightly/resume', { back: 'job' })).headers.get('location'), '/ui/jobs/nightly');
      assert.equal((await admin.get('/ui/jobs/nightly')).count('.job-facts ol.plain li'), 3);
    });

    test('reports page: the table and the Markdown of `kubescribe report` for the same window, linked to the job pages', async () => {
      assert.ok((await reader.get('/ui/jobs')).all('nav[aria-label=Main] a').some((a) => textOf(a) === 'Reports' && a.attribs.href === '/ui/reports'));
      for (const window of ['30d', '7d'] as const) {
        const page = await reader.get(window === '30d' ? '/ui/reports' : `/ui/reports?window=${window}`);
        assert.equal(page.status, 200);
        const { cli, jobs } = await reportOf(ui, runs, slots, window);
        const table = page.all('table.health-table tbody tr').map((row) => row.children.filter((c) => c.type === 'tag').map((cell) => textOf(cell as Parameters<typeof textOf>[0])));
        assert.deepEqual(table, jobs.map((job) => Object.values(healthCells(job))), window);
        const clock = (md: string) => md.replace(/\(to [^)]*\)/, '(to …)');
        assert.equal(clock(page.rawText('#report-markdown').trim()), clock((await cli(['--md'])).trim()), window);
      }
      const page = await reader.get('/ui/reports');
      assert.ok(page.all('tr#health-nightly a').some((a) => textOf(a) === 'nightly' && a.attribs.href === '/ui/jobs/nightly'));
      const failure = runs.find((run) => run.job === 'nightly' && run.status === 'failed' && run.created_at.getTime() === daysAgo(6).getTime())!;
      assert.ok(page.all('tr#health-nightly a').some((a) => textOf(a) === `nightly#${failure.run_number}` && a.attribs.href === `/ui/runs/${failure.run_id}`));
      assert.equal((await reader.get('/ui/reports?window=forever')).status, 400);
    });
  });
}

// One Chromium for the file, for the browser's engine.
const browser = fileBrowser();

for (const engine of [BROWSER_ENGINE]) {
  describe(`job and reports pages in Chromium (${engine})`, () => {
    let ui: TestUi;
    let runs: SeededRun[];
    let slots: SeedSlot[];

    before(async () => {
      ui = await startTestUi(engine, { config: CONFIG });
      const spec = seedSpec();
      runs = await seedRuns(ui.db, spec.runs, spec.slots);
      slots = spec.slots;
    });
    after(async () => {
      await browser.closePages();
      await ui?.close();
    });

    test('job page: definition, the 30-day figures of the oracle, SLA counts and strip, the chart, recent runs with a live one', async () => {
      // Tall enough for the whole stats panel in the screenshot.
      const page = await browser.newPage({ viewport: { width: 1280, height: 1500 } });
      await signIn(page, ui.url, ui.tokens.admin);
      // The jobs list links the job's name to its page.
      await page.locator('#job-nightly').getByRole('link', { name: 'nightly', exact: true }).click();
      await page.waitForURL(/\/ui\/jobs\/nightly$/);
      assert.equal(await text(page, 'h1'), 'nightly');
      const facts = await text(page, '.job-facts');
      assert.match(facts, /at 03:00 every day \(Europe\/Berlin\)\s+0 3 \* \* \*/);
      assert.match(facts, /Time zone\s+Europe\/Berlin/);
      assert.equal(await page.locator('.job-facts ol.plain li').count(), 3);
      // The test server's executor (RecordingExecutor) is called "none".
      assert.match(facts, /Executor\s+none/);
      assert.match(facts, /Timeout\s+30m/);
      assert.match(facts, /Retries\s+2, backoff 1m/);
      assert.match(await text(page, '.job-description'), /Loads the night's orders/);

      const want = expectedPanel(runs, slots, 'nightly', '30d');
      // Known independently of the oracle: 30 scheduled runs (5 failed: d = 6 … 30), the cancelled
      // one and the live one; the newest 5 succeeded; 7 of the 9 judged slots on time.
      assert.equal(want.stats.runs.total, 32);
      assert.deepEqual(want.stats.streak, { status: 'succeeded', count: 5 });
      assert.deepEqual({ ...want.stats.sla, on_time_share: undefined }, { on_time: 7, late: 1, missed: 1, skipped: 1, on_time_share: undefined });

      assert.equal(await text(page, '#stats-title'), 'Health over the last 30d');
      assert.equal(await page.locator('.window-chooser a[aria-current="page"]').innerText(), '30d');
      assert.match(await text(page, '.runs-by-status'), /^32\s+▶\s+running 1\s+✓\s+succeeded 25\s+✗\s+failed 5\s+⊘\s+cancelled 1$/);
      assert.equal(await text(page, '.success-rate'), want.successRate);
      assert.equal(want.successRate, '83.3%');
      assert.equal(await text(page, '.durations'), want.durations);
      assert.equal(await text(page, '.streak'), want.streak);
      assert.equal(await text(page, '.mtbf'), want.mtbf);
      assert.equal(await text(page, '.queue-wait'), want.queueWait);
      // (The viewer's zone, which the page's script adds below a time, is left out of these matches.)
      assert.match(await text(page, '.last-success'), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
      assert.match(await text(page, '.last-failure'), new RegExp(`^nightly#${want.stats.last_failure!.run_number}\\s+✗\\s+failed\\s+\\d{4}-[\\s\\S]*\\nRuntimeError: disk full$`));
      assert.equal(await text(page, '.sla-summary'), want.sla);
      // The strip: the window's 10 slots, oldest first, the newest (yesterday's) on time.
      const strip = page.locator('.stats-panel ol.slots li');
      assert.equal(await strip.count(), 10);
      assert.deepEqual(await strip.evaluateAll((items) => items.map((item) => item.className)),
        ['slot-on_time', 'slot-on_time', 'slot-skipped', 'slot-on_time', 'slot-on_time', 'slot-on_time', 'slot-missed', 'slot-late', 'slot-on_time', 'slot-on_time']);
      // The chart: one column per day of the window, its words the oracle's totals.
      const buckets = expectedBuckets(runs, 'nightly', want.from, want.now, '1d');
      assert.equal(await page.locator('svg.bar-chart rect.bar-hit').count(), buckets.length);
      const finished = buckets.reduce((sum, b) => sum + b.runs, 0);
      assert.match((await page.locator('svg.bar-chart').getAttribute('aria-label'))!, new RegExp(`over ${buckets.length} days, oldest first: ${finished} runs, 5 failed`));
      // Recent runs: the newest 10 (the live one first), and a link to all of them.
      const rows = page.locator('table.runs tbody tr');
      assert.equal(await rows.count(), 10);
      assert.match(await rows.first().innerText(), /nightly#42\s+▶\s+running/);
      assert.equal(await page.getByRole('link', { name: 'All runs of nightly' }).getAttribute('href'), '/ui/runs?job=nightly');
      expectNoCspViolations(page);
      await expectNoSeriousA11yViolations(page);
      await page.emulateMedia({ colorScheme: 'dark' });
      await expectNoSeriousA11yViolations(page);
      await page.emulateMedia({ colorScheme: 'light' });
      await screenshot(page, 'job');

      // The live row follows its run without a reload (the runs page's stream).
      const live = runs[runs.length - 1]!;
      await finishSeededRun(ui.db, live.run_id, 'succeeded', new Date(NOW - 20_000), 5_000);
      runs[runs.length - 1] = { ...live, status: 'succeeded', finished_at: new Date(NOW - 15_000) };
      await page.waitForFunction(() => document.querySelector('table.runs tbody tr')?.textContent?.includes('succeeded'), null, { timeout: 15_000 });
    });

    test('the window chooser switches the figures: 7 days, 24 hours and 90 days', async () => {
      // Each test's pages are closed after it (fileBrowser): this one starts from the job page anew.
      const page = await browser.signedInPage(ui.url, ui.tokens.admin);
      await page.goto(`${ui.url}/ui/jobs/nightly`);
      for (const window of ['7d', '24h', '90d'] as const) {
        await page.getByRole('navigation', { name: 'Window' }).getByRole('link', { name: window }).click();
        await page.waitForURL(new RegExp(`/ui/jobs/nightly\\?window=${window}$`));
        const want = expectedPanel(runs, slots, 'nightly', window);
        assert.equal(await text(page, '#stats-title'), `Health over the last ${window}`);
        assert.match(await text(page, '.runs-by-status'), new RegExp(`^${want.stats.runs.total}\\b`));
        assert.equal(await text(page, '.success-rate'), want.successRate, window);
        assert.equal(await text(page, '.durations'), want.durations, window);
        assert.equal(await text(page, '.streak'), want.streak, window);
        assert.equal(await text(page, '.sla-summary'), want.sla, window);
        const judged = slots.filter((slot) => slot.scheduled_for >= want.from).length;
        assert.equal(await page.locator('.stats-panel ol.slots li').count(), judged, window);
        const buckets = expectedBuckets(runs, 'nightly', want.from, want.now, window === '24h' ? '1h' : '1d');
        assert.equal(await page.locator('svg.bar-chart rect.bar-hit').count(), buckets.length, window);
      }
      // 7 days: d = 1 … 7 (d = 6 failed) and the live run, which has succeeded since; the cancelled run does not count.
      await page.goto(`${ui.url}/ui/jobs/nightly?window=7d`);
      assert.equal(await text(page, '.success-rate'), '87.5%');
      const bad = await page.goto(`${ui.url}/ui/jobs/nightly?window=1y`);
      assert.equal(bad!.status(), 400);
      assert.match(await text(page, '.error-message'), /The window "1y" is not one of 24h, 7d, 30d, 90d/);
    });

    test('an empty job, an unknown job, and hostile names: a page that says so, never a 500', async () => {
      const page = await browser.newPage();
      await signIn(page, ui.url, ui.tokens.read);
      await page.goto(`${ui.url}/ui/jobs/quiet`);
      assert.match(await text(page, '.stats-panel .empty'), /No runs of quiet in the RunLog yet/);
      assert.match(await text(page, '#runs-title + .empty'), /No runs yet/);
      assert.match(await text(page, '.job-facts'), /Schedule\s+by hand only/);
      await expectNoSeriousA11yViolations(page);

      // A phone's width needs no sideways scroll on either page.
      await page.setViewportSize({ width: 390, height: 844 });
      for (const path of ['/ui/jobs/nightly', '/ui/reports']) {
        await page.goto(`${ui.url}${path}`);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${path} is ${overflow}px wider than a phone`);
      }

      const unknown = await page.goto(`${ui.url}/ui/jobs/no-such-job`);
      assert.equal(unknown!.status(), 404);
      assert.match(await text(page, '.error-message'), /There is no job no-such-job/);
      for (const path of ['%00', '%2E%2E', 'a'.repeat(5000), '%ED%A0%80', '%F0%9F', 'a%00b', `x${'%C3%A9'.repeat(300)}`, '..%2F..%2Fetc%2Fpasswd']) {
        const response = await page.request.get(`${ui.url}/ui/jobs/${path}`);
        assert.ok([400, 404].includes(response.status()), `${path.slice(0, 40)}: ${response.status()}`);
        // A path that is not even UTF-8 is refused by the server before any route (the API's JSON 400).
        const decodes = (() => { try { decodeURIComponent(path); return true; } catch { return false; } })();
        if (decodes) assert.match(response.headers()['content-type'] ?? '', /text\/html/, path.slice(0, 40));
        else assert.equal(response.status(), 400, path);
      }
    });

    test('scopes: a read-only token sees no actions on the job page; an admin suspends from it and comes back to it', async () => {
      const reader = await browser.newPage();
      await signIn(reader, ui.url, ui.tokens.read);
      await reader.goto(`${ui.url}/ui/jobs/nightly`);
      assert.equal(await reader.getByRole('button', { name: /Suspend|Resume/ }).count(), 0);
      assert.equal(await reader.getByRole('link', { name: /Trigger/ }).count(), 0);

      const trigger = await browser.newPage();
      await signIn(trigger, ui.url, ui.tokens.trigger);
      await trigger.goto(`${ui.url}/ui/jobs/nightly`);
      assert.equal(await trigger.getByRole('link', { name: 'Trigger…' }).getAttribute('href'), '/ui/jobs/nightly/trigger');
      assert.equal(await trigger.getByRole('button', { name: /Suspend|Resume/ }).count(), 0);

      const admin = await browser.newPage();
      await signIn(admin, ui.url, ui.tokens.admin);
      await admin.goto(`${ui.url}/ui/jobs/nightly`);
      await admin.getByLabel('Reason to suspend nightly').fill('warehouse migration');
      await admin.getByRole('button', { name: 'Suspend' }).click();
      await admin.waitForURL(/\/ui\/jobs\/nightly$/);
      assert.match(await text(admin, '.flash'), /Job nightly suspended: warehouse migration\./);
      assert.match(await text(admin, 'h1'), /nightly\s+suspended/);
      assert.match(await text(admin, '.job-facts'), /Next runs\s+none while suspended/);
      await admin.getByRole('button', { name: 'Resume' }).click();
      await admin.waitForURL(/\/ui\/jobs\/nightly$/);
      assert.equal(await admin.locator('.job-facts ol.plain li').count(), 3);
    });

    test('reports page: the table and the Markdown of `kubescribe report` for the same window, linked to the job pages', async () => {
      const page = await browser.newPage();
      await signIn(page, ui.url, ui.tokens.read);
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Reports' }).click();
      await page.waitForURL(/\/ui\/reports$/);
      for (const window of ['30d', '7d'] as const) {
        if (window !== '30d') {
          await page.getByRole('navigation', { name: 'Window' }).getByRole('link', { name: window }).click();
          await page.waitForURL(new RegExp(`/ui/reports\\?window=${window}$`));
        }
        const { cli, jobs } = await reportOf(ui, runs, slots, window);
        const table = await page.locator('table.health-table tbody tr').evaluateAll((rows) =>
          rows.map((row) => [...row.querySelectorAll('th, td')].map((cell) => (cell as HTMLElement).innerText.trim())));
        assert.deepEqual(table, jobs.map((job) => Object.values(healthCells(job))), window);
        const nightly = jobs.find((job) => job.job_name === 'nightly')!;
        assert.equal(table[1]![1], String(nightly.runs.total));
        assert.equal(table[1]![2], percent(nightly.success_rate));
        // The Markdown is `report --md`'s, but for the time it was computed at.
        const clock = (md: string) => md.replace(/\(to [^)]*\)/, '(to …)');
        assert.equal(clock(await page.locator('#report-markdown').inputValue()), clock(await cli(['--md'])), window);
      }
      const row = page.locator('#health-nightly');
      assert.equal(await row.getByRole('link', { name: 'nightly', exact: true }).getAttribute('href'), '/ui/jobs/nightly');
      const failure = runs.find((run) => run.job === 'nightly' && run.status === 'failed' && run.created_at.getTime() === daysAgo(6).getTime())!;
      assert.equal(await row.getByRole('link', { name: `nightly#${failure.run_number}` }).getAttribute('href'), `/ui/runs/${failure.run_id}`);
      expectNoCspViolations(page);
      await expectNoSeriousA11yViolations(page);
      await page.emulateMedia({ colorScheme: 'dark' });
      await expectNoSeriousA11yViolations(page);
      await page.emulateMedia({ colorScheme: 'light' });
      await page.goto(`${ui.url}/ui/reports`);
      await screenshot(page, 'reports');
      const bad = await page.goto(`${ui.url}/ui/reports?window=forever`);
      assert.equal(bad!.status(), 400);
    });
  });
}
