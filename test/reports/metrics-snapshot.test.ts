// The metrics snapshot (src/reports/metrics-snapshot.ts) on each engine. Its counters come from the
// all-time totals of migration 10, kept by triggers; here runs end by every path there is — the real
// runner (succeeded, failed, timed out), a cancel before start, the reaper (lost), a run recorded
// already finished — slots move through every state and deliveries reach every result, and the
// snapshot is compared with an independent computation in JS over the raw rows, before and after the
// totals are rebuilt from scratch by kubescribe_rebuild_totals().
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/job-config.ts';
import { RecordingExecutor } from '../../src/executors/executor.ts';
import { readMetricsSnapshot, type MetricsSnapshot } from '../../src/reports/metrics-snapshot.ts';
import type { Db } from '../../src/runlog/db.ts';
import { ensureUndeclaredJob, syncJobDefinition } from '../../src/runlog/sql/jobs.ts';
import { claimDueDeliveries, insertDelivery, recordAttempt } from '../../src/runlog/sql/notification-deliveries.ts';
import { insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import { expireClaimedSlots, insertSlots, markSlotSkipped, markSlotStarted, recordStartedSlot } from '../../src/runlog/sql/schedule-slots.ts';
import { jobSyncOf } from '../../src/runlog/sync-jobs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { cancelRun } from '../../src/runs/cancel-run.ts';
import { Reaper } from '../../src/runs/reaper.ts';
import { cronFor, nextFireTime } from '../../src/scheduler/slots.ts';
import { runCli } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

const DURATION_BOUNDS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400, Infinity];
const LAG_BOUNDS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, Infinity];
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'];
const event = (type: string, at = new Date()) => ({ event_id: uuidv7(), at, type, actor: 'test' });

const CONFIG = `
jobs:
  nightly:
    command: ["true"]
    schedule: "0 3 * * *"
    time_zone: Europe/Berlin
  paused:
    command: ["true"]
    schedule: "*/5 * * * *"
`;

type Row = Record<string, any>;

/** A cumulative histogram over `bounds` of `values`, as the snapshot reports it. */
function histogram(bounds: number[], values: number[]) {
  return {
    buckets: bounds.map((le) => ({ le, count: values.filter((v) => v <= le).length })),
    count: values.length,
    sum: values.reduce((a, b) => a + b, 0),
  };
}

/** The snapshot computed from the raw rows alone. */
async function independentSnapshot(db: Db, now: Date): Promise<MetricsSnapshot> {
  const runs = await db.query<Row>('SELECT run_id::text AS run_id, job, status, trigger, executor, created_at, started_at, finished_at FROM runs');
  const slots = await db.query<Row>('SELECT job, scheduled_for, state, run_id::text AS run_id FROM schedule_slots');
  const deliveries = await db.query<Row>('SELECT channel, state FROM notification_deliveries');
  const jobs = await db.query<Row>(
    `SELECT j.name, j.suspended, j.removed_at, v.definition FROM jobs j
     LEFT JOIN job_revisions v ON v.job = j.name AND v.revision = j.current_revision ORDER BY j.name`,
  );
  const count = <T>(rows: T[], key: (row: T) => string) => {
    const map = new Map<string, { row: T; n: number }>();
    for (const row of rows) map.set(key(row), { row, n: (map.get(key(row))?.n ?? 0) + 1 });
    return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v);
  };
  const finished = runs.filter((r) => TERMINAL.includes(r.status));
  const ended = (r: Row) => new Date(r.finished_at ?? r.created_at).getTime();
  const seconds = (a: Date, b: Date) => (new Date(b).getTime() - new Date(a).getTime()) / 1000;
  const byId = new Map(runs.map((r) => [r.run_id, r]));
  const durationJobs = [...new Set(finished.filter((r) => r.started_at && r.finished_at).map((r) => r.job as string))].sort();
  return {
    runsTotal: count(finished, (r) => [r.job, r.status, r.trigger, r.executor].join('\u0000'))
      .map(({ row, n }) => ({ job_name: row.job, status: row.status, trigger: row.trigger, executor: row.executor, count: n })),
    runDurations: durationJobs.map((job) => ({
      job_name: job,
      ...histogram(DURATION_BOUNDS, finished.filter((r) => r.job === job && r.started_at && r.finished_at).map((r) => Math.max(0, seconds(r.started_at, r.finished_at)))),
    })),
    runsActive: count(runs.filter((r) => r.status === 'starting' || r.status === 'running'), (r) => `${r.job}\u0000${r.executor}`)
      .map(({ row, n }) => ({ job_name: row.job, executor: row.executor, count: n })),
    runsQueued: count(runs.filter((r) => r.status === 'queued'), (r) => r.job).map(({ row, n }) => ({ job_name: row.job, count: n })),
    jobs: jobs.map((j) => {
      const mine = finished.filter((r) => r.job === j.name).sort((a, b) => ended(b) - ended(a) || (a.run_id < b.run_id ? 1 : -1));
      const success = mine.find((r) => r.status === 'succeeded');
      const schedule = j.definition?.schedule as string | undefined;
      return {
        job_name: j.name,
        last_run_status: mine[0]?.status ?? null,
        last_run_finished_at: mine[0] ? new Date(ended(mine[0])) : null,
        last_success_at: success ? new Date(ended(success)) : null,
        next_schedule_at: schedule && !j.suspended && !j.removed_at ? nextFireTime(cronFor(schedule, j.definition.time_zone), now) : null,
        suspended: j.suspended,
      };
    }),
    scheduleSlots: count(slots, (s) => `${s.job}\u0000${s.state}`).map(({ row, n }) => ({ job_name: row.job, outcome: row.state, count: n })),
    notifications: count(deliveries.filter((d) => ['sent', 'failed', 'suppressed'].includes(d.state)), (d) => `${d.channel}\u0000${d.state}`)
      .map(({ row, n }) => ({ channel: row.channel, result: row.state, count: n })),
    schedulerFireLag: histogram(LAG_BOUNDS, slots.filter((s) => s.state === 'started' && s.run_id)
      .map((s) => Math.max(0, seconds(s.scheduled_for, byId.get(s.run_id)!.created_at)))),
  };
}

/** Snapshots compared with sums to 1e-6 s (microseconds summed as floats in another order). */
function assertSnapshot(actual: MetricsSnapshot, expected: MetricsSnapshot): void {
  const round = (s: MetricsSnapshot) => JSON.parse(JSON.stringify(s, (key, value) =>
    (key === 'sum' && typeof value === 'number' ? Math.round(value * 1e6) / 1e6 : value)));
  assert.deepEqual(round(actual), round(expected));
}

for (const engine of ENGINES) {
  describe(`metrics snapshot (${engine})`, () => {
    let t: TestRunLog;
    let dir: string;
    const now = new Date();

    before(async () => {
      t = await createTestRunLog(engine);
      dir = mkdtempSync(join(tmpdir(), 'ks-snapshot-'));
      writeFileSync(join(dir, 'kubescribe.yaml'), CONFIG);
      const config = parseConfig(CONFIG, 'kubescribe.yaml');
      await t.withDb(async (db) => {
        for (const def of config.jobs.values()) await syncJobDefinition(db, jobSyncOf(def, config.file));
        await db.query(`UPDATE jobs SET suspended = true WHERE name = 'paused'`);
      });
    });
    after(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    test('runs ended by every path, slots in every state and deliveries of every result are counted exactly', async () => {
      // The real runner: a success, a failure, a timeout.
      const run = async (args: string[]) => runCli(['run', '-q', ...args], { cwd: dir, env: { ...t.env, KUBESCRIBE_CONFIG: join(dir, 'kubescribe.yaml') } });
      assert.equal((await run(['--job', 'nightly', '--', 'sh', '-c', 'exit 0'])).code, 0);
      assert.equal((await run(['--job', 'nightly', '--', 'sh', '-c', 'exit 3'])).code, 3);
      const timedOut = await run(['--job', 'adhoc', '--timeout', '1s', '--', 'sleep', '30']);
      assert.notEqual(timedOut.code, 0, 'a timed-out run exits non-zero');

      await t.withDb(async (db) => {
        const deps = { db, config: parseConfig(CONFIG, 'kubescribe.yaml'), executor: new RecordingExecutor() };
        const queued = (status: string, executor = 'local', created = new Date()) => {
          const runId = uuidv7();
          return insertRun(db, {
            run_id: runId, job: 'adhoc', job_content_hash: null, trigger: 'api', triggered_by: 'test', params: {}, status: status as 'queued',
            executor, created_at: created,
          }, event('created', created)).then(() => runId);
        };
        // Cancelled before it started; lost when the reaper finds its heartbeat silent; recorded already finished.
        const toCancel = await queued('queued');
        assert.equal((await cancelRun(deps, toCancel, 'token:test')).status, 'cancelled');
        const silent = await queued('queued', 'kubernetes', new Date(Date.now() - 120_000));
        await transitionRun(db, silent, ['queued'], 'running', { started_at: new Date(Date.now() - 110_000), heartbeat_at: new Date(Date.now() - 100_000) }, event('running', new Date(Date.now() - 110_000)));
        assert.deepEqual((await new Reaper({ db, lostAfterMs: 60_000 }).tick()).lost, [silent]);
        await queued('failed');
        // Live now: one queued, one running.
        await queued('queued');
        const live = await queued('queued', 'kubernetes');
        await transitionRun(db, live, ['queued'], 'running', { started_at: new Date(), heartbeat_at: new Date() }, event('running'));

        // Slots: claimed → started by a run (fire lag from the run's creation), claimed → skipped,
        // claimed → missed by the sweep → started after all, and one a CronJob fired.
        await ensureUndeclaredJob(db, 'adhoc');
        const slot = (minutes: number) => new Date(Math.floor(Date.now() / 60_000) * 60_000 - minutes * 60_000);
        await insertSlots(db, [1, 2, 3, 4, 5].map((m) => ({ job: 'nightly', scheduled_for: slot(m), state: 'expected' as const, reason: null })));
        const fired = await queued('queued', 'local');
        assert.ok(await markSlotStarted(db, 'nightly', slot(1), fired));
        assert.ok(await markSlotSkipped(db, 'nightly', slot(2), 'job suspended'));
        await db.query(`UPDATE schedule_slots SET updated_at = now() - interval '1 hour' WHERE scheduled_for = ANY ($1::timestamptz[])`, [[slot(3), slot(4)]]);
        assert.equal((await expireClaimedSlots(db, 60_000, 'claimed and never fired')).length, 2);
        const late = await queued('queued');
        assert.ok(await markSlotStarted(db, 'nightly', slot(3), late));
        const cron = await queued('running', 'kubernetes');
        assert.ok(await recordStartedSlot(db, 'nightly', slot(10), cron));
        await insertSlots(db, [{ job: 'paused', scheduled_for: slot(1), state: 'skipped', reason: 'job suspended' }]);

        // Deliveries: suppressed and failed when written, then sent, retried and failed for good after attempts.
        const [{ event_id: eventId } = { event_id: '' }] = await db.query<{ event_id: string }>('SELECT event_id::text AS event_id FROM notification_events LIMIT 1');
        assert.ok(eventId, 'the runs that ended wrote outbox events');
        const delivery = (channel: string, state: 'pending' | 'suppressed' | 'failed') =>
          insertDelivery(db, { event_id: eventId, job: 'nightly', run_id: null, channel, rule: 'failed', state, reason: null, summary: null, next_attempt_at: null });
        await delivery('ops-slack', 'suppressed');
        await delivery('ops-email', 'failed');
        for (const channel of ['a-hook', 'b-hook', 'c-hook']) await delivery(channel, 'pending');
        const claimed = await claimDueDeliveries(db, 'test', 60_000, 10);
        assert.equal(claimed.length, 3);
        // By channel, not by claim position: deliveries written in the same clock tick are claimed in id order.
        const outcomes = { 'a-hook': 'sent', 'b-hook': 'retry', 'c-hook': 'failed' } as const;
        for (const c of claimed) {
          const next = outcomes[c.channel as keyof typeof outcomes];
          assert.ok(next, `claimed an unexpected channel ${c.channel}`);
          assert.ok(await recordAttempt(db, {
            delivery_id: c.delivery_id, owner: 'test', attempt: 1, started_at: new Date(), finished_at: new Date(), ok: next === 'sent',
            error: next === 'sent' ? null : 'HTTP 500', next, retry_at: new Date(),
          }));
        }

        const snapshot = await readMetricsSnapshot(db, now);
        const expected = await independentSnapshot(db, now);
        assertSnapshot(snapshot, expected);
        // What the paths above must have produced, so the comparison is not of two empty snapshots.
        const statuses = new Set(snapshot.runsTotal.map((r) => r.status));
        assert.deepEqual([...statuses].sort(), ['cancelled', 'failed', 'lost', 'succeeded', 'timed_out']);
        assert.deepEqual(new Set(snapshot.scheduleSlots.map((s) => s.outcome)), new Set(['expected', 'started', 'skipped', 'missed']));
        assert.equal(snapshot.schedulerFireLag.count, 3);
        assert.deepEqual(snapshot.notifications.map((n) => `${n.channel}:${n.result}`).sort(),
          ['a-hook:sent', 'c-hook:failed', 'ops-email:failed', 'ops-slack:suppressed']);
        const nightly = snapshot.jobs.find((j) => j.job_name === 'nightly')!;
        assert.equal(nightly.last_run_status, 'failed');
        assert.ok(nightly.last_success_at && nightly.next_schedule_at && nightly.next_schedule_at > now);
        assert.equal(snapshot.jobs.find((j) => j.job_name === 'paused')!.next_schedule_at, null, 'a suspended job fires next never');
        assert.deepEqual(snapshot.runsQueued, [{ job_name: 'adhoc', count: 3 }]);

        // The totals rebuilt from the record are the totals the triggers kept.
        await db.query('SELECT kubescribe_rebuild_totals()');
        assertSnapshot(await readMetricsSnapshot(db, now), expected);
      });
    });
  });
}
