// The monitors: a late run (past its expected_duration), missed slots of a per-second schedule from the
// slot ledger, and abnormal runs by duration and by a metric against the job's recent successes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { findAbnormal, percentile } from '../../src/notify/abnormal.ts';
import { runMonitors } from '../../src/notify/monitors.ts';
import type { Db } from '../../src/runlog/db.ts';
import { listRunNotifications } from '../../src/runlog/sql/notification-deliveries.ts';
import { syncJobs } from '../../src/runlog/sync-jobs.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { openSharedRunLog, seedRun, type SharedRunLog } from '../runlog/shared-runlog.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { configFrom, finishedRun, makeNotifier } from './fixtures.ts';
import { startHttpReceiver, type HttpReceiver } from './receivers.ts';

const hook = (url: string, path: string) => `notify:\n  channels:\n    hook: {type: webhook, url: "${url}/${path}"}\n  defaults:\n    channels: [hook]\n`;

describe('abnormal detection', () => {
  const rule = { metrics: ['duration', 'rows_read'], window: 30, min_samples: 5, low: 5, high: 95 };
  const history = Array.from({ length: 10 }, (_, i) => ({ duration_ms: 60_000 + i * 1000, metrics: { rows_read: 1000 + i * 10 } }));

  it('percentiles interpolate like percentile_cont', () => {
    assert.equal(percentile([600, 900], 95), 885);
    assert.equal(percentile([1, 2, 3, 4, 5], 50), 3);
  });

  it('flags a value below p5 or above p95, a metric no longer reported, and not a normal run', () => {
    assert.deepEqual(findAbnormal({ duration_ms: 64_000, metrics: { rows_read: 1040 } }, history, rule), []);
    const low = findAbnormal({ duration_ms: 64_000, metrics: { rows_read: 3 } }, history, rule);
    assert.deepEqual(low.map((f) => f.description), ['rows_read 3 below p5 (1004.5) of the last 10 successful runs']);
    const slow = findAbnormal({ duration_ms: 600_000, metrics: { rows_read: 1040 } }, history, rule);
    assert.deepEqual(slow.map((f) => f.description), ['duration 10m above p95 (1m8s550ms) of the last 10 successful runs']);
    const missing = findAbnormal({ duration_ms: 64_000, metrics: {} }, history, rule);
    assert.deepEqual(missing.map((f) => f.metric), ['rows_read']);
  });

  it('says nothing below the minimum sample size', () => {
    assert.deepEqual(findAbnormal({ duration_ms: 1, metrics: { rows_read: 0 } }, history.slice(0, 4), rule), []);
  });
});

for (const engine of ENGINES) {
  describe(`notification monitors (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    let http: HttpReceiver;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
      http = await startHttpReceiver();
    });
    after(async () => {
      await http?.close();
      await shared?.close();
    });
    const received = (path: string) => http.posts.filter((p) => p.path === `/${path}`).map((p) => p.json as Record<string, any>);

    it('a run still running past its expected_duration is reported late, once', async () => {
      const yaml = `${hook(http.url, 'late')}jobs:\n  slow:\n    command: [x]\n    expected_duration: 2s\n    notify: {on: [late], channels: [hook]}\n`;
      const notifier = makeNotifier(db, yaml, {});
      const run = await seedRun(db, { job: 'slow' });
      // Started just now: not late until 2 s have passed, which a loaded machine must not reach before the check.
      await db.query('UPDATE runs SET started_at = now() WHERE run_id = $1', [run.run_id]);
      assert.deepEqual(await runMonitors(db, configFrom(yaml)), { ran: true, late: 0, missed: 0, swept: 0 });
      await db.query("UPDATE runs SET started_at = now() - interval '5 seconds' WHERE run_id = $1", [run.run_id]);
      await notifier.runOnce();
      await notifier.runOnce({ monitors: false });
      assert.deepEqual(await runMonitors(db, configFrom(yaml)), { ran: true, late: 0, missed: 0, swept: 0 }, 'once per run');
      const [message] = received('late');
      assert.equal(received('late').length, 1);
      assert.equal(message!.event, 'late');
      assert.equal(message!.run.run_id, run.run_id);
      assert.equal(message!.run.status, 'running');
      // 5 s when sent, plus whatever a loaded machine took between the update and the send.
      assert.match(message!.title, /^slow is late: running for [5-9]s(\d+ms)?, expected 2s$/);
      assert.equal((await listRunNotifications(db, run.run_id))[0]!.rule, 'late');
    });

    it('missed slots of a per-second schedule are alerted once, the rest throttled and counted', async () => {
      const yaml = `${hook(http.url, 'missed')}jobs:\n  ticker:\n    command: [x]\n    schedule: "* * * * * *"\n    catch_up: none\n    notify: {on: [missed], channels: [hook]}\n`;
      const config = configFrom(yaml);
      await syncJobs(db, config);
      let now = new Date();
      const scheduler = new Scheduler({
        db, config, now: () => now,
        fire: async (job) => (await seedRun(db, { job: job.name, trigger: 'schedule' })).run_id,
      });
      await scheduler.tick();
      now = new Date(now.getTime() + 30_000); // the scheduler was away for 30 s: overdue slots become missed
      await scheduler.tick();
      const [{ n }] = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM schedule_slots WHERE job = 'ticker' AND state = 'missed'") as [{ n: number }];
      assert.ok(n >= 10, `${n} missed slots`);
      const notifier = makeNotifier(db, yaml, {});
      await notifier.runOnce();
      await notifier.runOnce({ monitors: false });
      const messages = received('missed');
      assert.equal(messages.length, 1);
      assert.equal(messages[0]!.event, 'missed');
      assert.match(messages[0]!.title, /^ticker missed its scheduled run of /);
      assert.match(messages[0]!.detail.reason, /overdue/);
      const states = await db.query<{ state: string; n: number }>(
        "SELECT state, count(*)::int AS n FROM notification_deliveries WHERE job = 'ticker' GROUP BY state ORDER BY state");
      assert.deepEqual(states, [{ state: 'sent', n: 1 }, { state: 'suppressed', n: n - 1 }]);
    });

    it('a successful run far outside its history is abnormal: by duration, and by metric', async () => {
      const yaml = `${hook(http.url, 'abnormal')}jobs:\n  etl:\n    command: [x]\n    notify:\n      on: [abnormal]\n      channels: [hook]\n      throttle: 0s\n      abnormal: {metrics: [duration, rows_read], window: 30, min_samples: 8}\n`;
      const notifier = makeNotifier(db, yaml, {});
      // The extremes first, so that every later run lies inside the range of those before it.
      const durations = [10_000, 11_000, 10_500, 10_400, 10_600, 10_450, 10_550, 10_500, 10_480, 10_520];
      const rows = [900, 1100, 1000, 990, 1010, 995, 1005, 1000, 998, 1002];
      for (let i = 0; i < 10; i++) await finishedRun(db, 'etl', 'succeeded', { durationMs: durations[i], metrics: { rows_read: rows[i]! } });
      await notifier.runOnce();
      assert.equal(received('abnormal').length, 0, 'a normal history raises nothing');
      const slow = await finishedRun(db, 'etl', 'succeeded', { durationMs: 120_000, metrics: { rows_read: 1000 } });
      const empty = await finishedRun(db, 'etl', 'succeeded', { durationMs: 10_500, metrics: { rows_read: 0 } });
      await notifier.runOnce();
      await notifier.runOnce();
      const messages = received('abnormal');
      assert.deepEqual(messages.map((m) => m.run.run_id), [slow, empty]);
      assert.deepEqual(messages[0]!.detail.findings.map((f: { metric: string }) => f.metric), ['duration']);
      assert.match(messages[0]!.title, /^etl finished abnormally: duration 2m above p95 \(\d+s\d*m?s?\) of the last 10 successful runs$/);
      assert.match(messages[0]!.title, /p95 \(10s\d+ms\)/);
      assert.deepEqual(messages[1]!.detail.findings.map((f: { metric: string; value: number }) => [f.metric, f.value]), [['rows_read', 0]]);
      assert.match(messages[1]!.title, /rows_read 0 below p5/);
    });
  });
}
