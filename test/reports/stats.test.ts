// Job stats (src/reports/stats.ts) on each engine, against an independent computation in JS over the
// seeded runs (test/support/stats-oracle.ts): every window, buckets, a metric's trend, and the edges —
// a job without runs, a job whose runs all failed, runs exactly at the window's ends, live runs, a
// run recorded already finished, a run cancelled before it started.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { allJobStats, jobStats, STATS_WINDOWS, windowRange, type StatsWindow } from '../../src/reports/stats.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';
import { assertClose, expectedBuckets, expectedMetric, expectedStats, seedRuns, type SeededRun, type SeedRun, type SeedSlot } from '../support/stats-oracle.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Whole milliseconds, as JS dates hold them; an odd offset so that no run ends on a bucket boundary by accident.
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000 - 17_000);
const at = (msBeforeNow: number) => new Date(NOW.getTime() - msBeforeNow);


/** A varied history of one job over 100 days: every status, durations from 1 s to 2 h, queue waits, a metric. */
function history(job: string): SeedRun[] {
  const runs: SeedRun[] = [];
  const statuses = ['succeeded', 'succeeded', 'failed', 'succeeded', 'timed_out', 'succeeded', 'cancelled', 'lost', 'succeeded'] as const;
  for (let i = 0; i < 150; i++) {
    const created = at(i * 16 * HOUR + 5 * 60_000 + (i % 7) * 1_337);
    const status = statuses[i % statuses.length]!;
    const started = new Date(created.getTime() + (i % 5) * 1_250);
    const finished = new Date(started.getTime() + 1_000 + ((i * 7_919) % 7_200) * 1_000 + (i % 3) * 333);
    runs.push({
      job, status, created_at: created, started_at: started, finished_at: finished,
      trigger: i % 4 === 0 ? 'manual' : 'schedule', executor: i % 3 === 0 ? 'kubernetes' : 'local',
      error_type: status === 'succeeded' ? null : status === 'failed' ? 'ExitCode' : status === 'timed_out' ? 'Timeout' : status === 'lost' ? 'Lost' : 'Cancelled',
      error_message: status === 'failed' ? `exited with code ${i % 5 + 1}\nTraceback (most recent call last):` : null,
      metrics: status === 'succeeded' ? { rows_read: 1000 + i * 3.5 } : {},
    });
  }
  return runs;
}

for (const engine of ENGINES) {
  describe(`job stats (${engine})`, () => {
    let t: TestRunLog;
    let runs: SeededRun[];
    const slots: SeedSlot[] = [];

    before(async () => {
      t = await createTestRunLog(engine);
      // No process but this one uses the RunLog: every withDb below shares one opening (~0.45 s of CPU each on PGlite).
      await t.hold();
      const specs: SeedRun[] = [...history('mixed')];
      const w7 = windowRange('7d', NOW);
      // The window's ends: a run ending exactly at `from` counts, one ending exactly at `to` does not.
      specs.push({ job: 'mixed', status: 'failed', created_at: at(7 * DAY + 60_000), started_at: at(7 * DAY + 30_000), finished_at: w7.from, error_type: 'ExitCode', error_message: 'at from' });
      specs.push({ job: 'mixed', status: 'succeeded', created_at: at(60_000), started_at: at(50_000), finished_at: w7.to, metrics: { rows_read: 1 } });
      // Live runs are counted by their status, never as finished; their durations count nowhere.
      specs.push({ job: 'mixed', status: 'running', created_at: at(2 * HOUR), started_at: at(HOUR) });
      specs.push({ job: 'mixed', status: 'queued', created_at: at(10 * 60_000) });
      specs.push({ job: 'mixed', status: 'starting', created_at: at(5 * 60_000) });
      // Recorded already finished (no end time: counts when created), and cancelled before it started.
      specs.push({ job: 'mixed', status: 'failed', created_at: at(3 * HOUR + 1), insertedFinished: true, error_type: 'InvalidParams', error_message: 'params.date: required' });
      specs.push({ job: 'mixed', status: 'cancelled', created_at: at(5 * HOUR), finished_at: at(4 * HOUR) });
      const slotRuns = specs.length;
      // Slots of the SLA: started on time, started late, never started (cancelled while queued), missed, skipped, claimed.
      specs.push({ job: 'mixed', status: 'succeeded', created_at: at(30 * HOUR), started_at: at(30 * HOUR - 20_000), finished_at: at(29 * HOUR) });
      specs.push({ job: 'mixed', status: 'succeeded', created_at: at(50 * HOUR), started_at: at(50 * HOUR - 5 * 60_000), finished_at: at(49 * HOUR) });
      specs.push({ job: 'mixed', status: 'cancelled', created_at: at(70 * HOUR - 10_000), finished_at: at(69 * HOUR) });
      specs.push({ job: 'mixed', status: 'succeeded', created_at: at(20 * DAY), started_at: at(20 * DAY - 61_000), finished_at: at(20 * DAY - 120_000) });
      slots.push({ job: 'mixed', scheduled_for: at(30 * HOUR + 10_000), state: 'started', run: slotRuns });
      slots.push({ job: 'mixed', scheduled_for: at(50 * HOUR + 1_000), state: 'started', run: slotRuns + 1 });
      slots.push({ job: 'mixed', scheduled_for: at(70 * HOUR), state: 'started', run: slotRuns + 2 });
      slots.push({ job: 'mixed', scheduled_for: at(20 * DAY), state: 'started', run: slotRuns + 3 });
      slots.push({ job: 'mixed', scheduled_for: at(3 * DAY), state: 'missed' });
      slots.push({ job: 'mixed', scheduled_for: at(4 * DAY), state: 'missed' });
      slots.push({ job: 'mixed', scheduled_for: at(5 * DAY), state: 'skipped' });
      slots.push({ job: 'mixed', scheduled_for: at(40 * DAY), state: 'skipped' });
      slots.push({ job: 'mixed', scheduled_for: at(2 * HOUR), state: 'expected' });
      // Every run failed: no success rate above 0, no last success; a job with only a live run; a job with none.
      for (let i = 0; i < 6; i++) {
        const status = (['failed', 'timed_out', 'lost'] as const)[i % 3]!;
        specs.push({
          job: 'allfail', status, created_at: at(i * 11 * HOUR + (i + 3) * 1_000), started_at: at(i * 11 * HOUR + (i + 2) * 1_000),
          finished_at: at(i * 11 * HOUR + 1_000), error_type: 'ExitCode', error_message: `boom ${i}`,
        });
      }
      specs.push({ job: 'liveonly', status: 'running', created_at: at(HOUR), started_at: at(HOUR - 1_000) });
      runs = await t.withDb(async (db) => {
        await ensureUndeclaredJob(db, 'empty');
        return seedRuns(db, specs, slots);
      });
    });
    after(() => t.cleanup());

    for (const window of STATS_WINDOWS) {
      test(`one job's stats over ${window} match the independent computation`, async () => {
        const stats = await t.withDb((db) => jobStats(db, 'mixed', { window, now: NOW }));
        const { from, to } = windowRange(window, NOW);
        assertClose(stats, expectedStats(runs, slots, 'mixed', window, from, to, new Date()));
      });
    }

    test('every job’s stats, sorted by name: a job without runs, one whose runs all failed, one with only a live run', async () => {
      for (const window of ['24h', '30d'] as StatsWindow[]) {
        const all = await t.withDb((db) => allJobStats(db, { window, now: NOW }));
        const { from, to } = windowRange(window, NOW);
        assert.deepEqual(all.map((s) => s.job_name), ['allfail', 'empty', 'liveonly', 'mixed']);
        for (const stats of all) assertClose(stats, expectedStats(runs, slots, stats.job_name, window, from, to, new Date()), `${window} ${stats.job_name}`);
      }
      const all = await t.withDb((db) => allJobStats(db, { window: '30d', now: NOW }));
      const [allfail, empty, liveonly] = all;
      assert.equal(allfail!.success_rate, 0);
      assert.equal(allfail!.last_success_at, null);
      assert.equal(allfail!.runs.total, 6);
      assert.equal(empty!.runs.total, 0);
      assert.equal(empty!.success_rate, null);
      assert.deepEqual(empty!.duration_seconds, { p50: null, p95: null, p99: null, max: null });
      assert.equal(empty!.streak, null);
      assert.equal(empty!.sla.on_time_share, null);
      assert.equal(liveonly!.runs.running, 1);
      assert.equal(liveonly!.runs.total, 1);
      assert.equal(liveonly!.success_rate, null, 'a live run is not finished');
      assert.equal(liveonly!.duration_seconds.max, null);
    });

    test('the window is [from, to): a run ending exactly at from counts, one ending exactly at to does not', async () => {
      const { from } = windowRange('7d', NOW);
      const stats = (await t.withDb((db) => jobStats(db, 'mixed', { window: '7d', now: NOW })))!;
      const justAfter = (await t.withDb((db) => jobStats(db, 'mixed', { window: '7d', now: new Date(NOW.getTime() + 1) })))!;
      // One ms later the run at `from` has left the window and the run at `to` has entered it.
      assert.ok(runs.some((r) => r.status === 'failed' && r.finished_at?.getTime() === from.getTime()));
      assert.equal(justAfter.runs.failed, stats.runs.failed - 1);
      assert.equal(justAfter.runs.succeeded, stats.runs.succeeded + 1);
      assert.equal(stats.last_success_at === NOW.toISOString(), false, 'a success at `to` is not yet the last one');
      assert.equal(justAfter.last_success_at, NOW.toISOString());
    });

    test('buckets per day and per hour, and a metric’s trend, match the independent computation', async () => {
      for (const [window, bucket] of [['7d', '1d'], ['24h', '1h'], ['90d', '1d']] as const) {
        const stats = (await t.withDb((db) => jobStats(db, 'mixed', { window, bucket, metric: 'rows_read', now: NOW })))!;
        const { from, to } = windowRange(window, NOW);
        assertClose(stats.buckets, expectedBuckets(runs, 'mixed', from, to, bucket), `${window} buckets`);
        assertClose(stats.metric, { name: 'rows_read', bucket, buckets: expectedMetric(runs, 'mixed', 'rows_read', from, to, bucket) }, `${window} metric`);
        assert.equal(stats.buckets!.reduce((sum, b) => sum + b.runs, 0),
          stats.runs.succeeded + stats.runs.failed + stats.runs.cancelled + stats.runs.timed_out + stats.runs.lost, 'buckets add up to the finished runs');
      }
      const plain = (await t.withDb((db) => jobStats(db, 'mixed', { window: '7d', metric: 'no_such_metric', now: NOW })))!;
      assert.equal(plain.buckets, undefined);
      assert.equal(plain.metric!.bucket, '1d');
      assert.ok(plain.metric!.buckets.every((b) => b.count === 0 && b.avg === null));
    });

    test('the SLA of the slots: on time, late (also a run that never started), missed, skipped; a claimed slot is not judged yet', async () => {
      const stats = (await t.withDb((db) => jobStats(db, 'mixed', { window: '7d', now: NOW })))!;
      assert.deepEqual(stats.sla, { on_time: 2, late: 1, missed: 2, skipped: 1, on_time_share: 2 / 5 });
      const month = (await t.withDb((db) => jobStats(db, 'mixed', { window: '30d', now: NOW })))!;
      assert.equal(month.sla.late, 2, 'started 61 s after its slot');
    });

    test('an unknown job has no stats', async () => {
      assert.equal(await t.withDb((db) => jobStats(db, 'nope', { window: '7d', now: NOW })), null);
    });
  });
}
