// The daily rollups of migration 13 — finished runs (`run_days`) and the slot ledger's SLA outcomes
// (`slot_days`) — against an independent computation in
// JS from the raw rows of `runs`, on each engine, after every kind of write that can touch it: runs
// finishing (on time and days late), runs recorded already finished with an old time, runs cancelled
// before they started, a finished run's start, creation time or job corrected, a run deleted, the
// retention loop pruning logs, and kubescribe_rebuild_run_days(). And the window aggregates read
// through it against the same aggregates read from the runs alone, for windows on and off midnight;
// likewise the slots: claimed, fired, started on time or late, missed, skipped, changed, deleted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { emptyConfig } from '../../src/config/job-definition.ts';
import type { Db } from '../../src/runlog/db.ts';
import { Retention } from '../../src/runlog/retention.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { runBuckets, slotOutcomeCounts, upperPercentileCont, windowAggregates, windowDays } from '../../src/runlog/sql/stats.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { openSharedRunLog, seedRun, type SharedRunLog } from './shared-runlog.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'];
const FAILING = ['failed', 'timed_out', 'lost'];
// Midnight UTC two days from now, minus whole days: runs are placed relative to day boundaries.
const MIDNIGHT = Math.floor(Date.now() / DAY) * DAY;

interface RawRun { job: string; status: string; created_at: Date; started_at: Date | null; finished_at: Date | null }
interface DayRow {
  job: string; day: string; succeeded: number; failed: number; cancelled: number; timed_out: number; lost: number;
  durations: number[]; queue_waits: number[]; failure_ends: string[];
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

/** The rollup as the definitions say it should be, computed in JS from the runs' rows. */
function expectedDays(runs: RawRun[]): DayRow[] {
  const days = new Map<string, DayRow>();
  for (const run of runs) {
    if (!TERMINAL.includes(run.status)) continue;
    const ended = run.finished_at ?? run.created_at;
    const day = new Date(Math.floor(ended.getTime() / DAY) * DAY).toISOString();
    const key = `${run.job} ${day}`;
    const row = days.get(key) ?? { job: run.job, day, succeeded: 0, failed: 0, cancelled: 0, timed_out: 0, lost: 0, durations: [], queue_waits: [], failure_ends: [] };
    (row as unknown as Record<string, number>)[run.status]! += 1;
    if (run.started_at && run.finished_at) row.durations.push(Math.max((run.finished_at.getTime() - run.started_at.getTime()) / 1000, 0));
    if (run.started_at) row.queue_waits.push(Math.max((run.started_at.getTime() - run.created_at.getTime()) / 1000, 0));
    if (FAILING.includes(run.status)) row.failure_ends.push(ended.toISOString());
    days.set(key, row);
  }
  return [...days.values()].map((row) => ({ ...row, durations: sorted(row.durations), queue_waits: sorted(row.queue_waits), failure_ends: row.failure_ends.sort() }))
    .sort((a, b) => `${a.job} ${a.day}`.localeCompare(`${b.job} ${b.day}`));
}

/** The rollup's rows that hold runs (a day whose runs all moved away stays as a row of zeros), arrays sorted. */
async function actualDays(db: Db): Promise<DayRow[]> {
  const rows = await db.query<Omit<DayRow, 'day' | 'failure_ends'> & { day: Date; failure_ends: Date[] }>(
    'SELECT * FROM run_days ORDER BY job, day',
  );
  for (const row of rows) {
    if (row.succeeded + row.failed + row.cancelled + row.timed_out + row.lost === 0) {
      assert.deepEqual([row.durations, row.queue_waits, row.failure_ends], [[], [], []], `an emptied day keeps no values: ${row.job} ${row.day.toISOString()}`);
    }
  }
  return rows
    .filter((row) => row.succeeded + row.failed + row.cancelled + row.timed_out + row.lost > 0)
    .map((row) => ({
      job: row.job, day: row.day.toISOString(), succeeded: row.succeeded, failed: row.failed, cancelled: row.cancelled,
      timed_out: row.timed_out, lost: row.lost, durations: sorted(row.durations.map(Number)), queue_waits: sorted(row.queue_waits.map(Number)),
      failure_ends: row.failure_ends.map((at) => at.toISOString()).sort(),
    }))
    .sort((a, b) => `${a.job} ${a.day}`.localeCompare(`${b.job} ${b.day}`));
}

async function rawRuns(db: Db): Promise<RawRun[]> {
  return db.query<RawRun & Record<string, unknown>>('SELECT job, status, created_at, started_at, finished_at FROM runs');
}

/** Equal, numbers within 1e-9 (date_part and JS may round an interval's seconds differently in the last bit). */
function assertDaysEqual(actual: DayRow[], expected: DayRow[], what: string): void {
  assert.deepEqual(actual.map((row) => ({ ...row, durations: row.durations.length, queue_waits: row.queue_waits.length })),
    expected.map((row) => ({ ...row, durations: row.durations.length, queue_waits: row.queue_waits.length })), what);
  actual.forEach((row, i) => {
    for (const key of ['durations', 'queue_waits'] as const) {
      row[key].forEach((value, k) => assert.ok(Math.abs(value - expected[i]![key][k]!) < 1e-9, `${what}: ${row.job} ${row.day} ${key}[${k}] ${value} ≠ ${expected[i]![key][k]}`));
    }
  });
}

async function assertRollupMatchesRuns(db: Db, what: string): Promise<void> {
  const expected = expectedDays(await rawRuns(db));
  assert.ok(expected.length > 0, 'the test has finished runs');
  assertDaysEqual(await actualDays(db), expected, what);
}

/** The aggregates of migration 10's query, straight from every run of the window: what the rollup must reproduce. */
async function aggregatesFromRuns(db: Db, jobs: string[], from: Date, to: Date) {
  const rows = await db.query<Record<string, unknown>>(
    `SELECT f.job, count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded, count(*) FILTER (WHERE status = 'failed')::int AS failed,
            count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled, count(*) FILTER (WHERE status = 'timed_out')::int AS timed_out,
            count(*) FILTER (WHERE status = 'lost')::int AS lost,
            percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_seconds) AS p,
            max(duration_seconds) AS max, percentile_cont(0.95) WITHIN GROUP (ORDER BY queue_wait_seconds) AS wait,
            count(*) FILTER (WHERE failing)::int AS failing, min(ended_at) FILTER (WHERE failing) AS first, max(ended_at) FILTER (WHERE failing) AS last
     FROM finished_runs f WHERE f.job = ANY ($1::text[]) AND f.ended_at >= $2 AND f.ended_at < $3
     GROUP BY f.job ORDER BY f.job`,
    [jobs, from, to],
  );
  return rows.map((row) => ({
    job: row.job,
    by_status: Object.fromEntries(TERMINAL.map((status) => [status, row[status]])),
    duration_percentiles: (row.p as number[] | null)?.map(Number) ?? null,
    duration_max: row.max === null ? null : Number(row.max),
    queue_wait_p95: row.wait === null ? null : Number(row.wait),
    failing: row.failing,
    first_failure_at: row.first,
    last_failure_at: row.last,
  }));
}

interface RawSlot { job: string; scheduled_for: Date; state: string; run_id: string | null; run_started_at: Date | null }

/** slot_days as the SLA's definition says (docs/reporting.md#stats), once each slot's 60 s have passed, in JS. */
function expectedSlotDays(slots: RawSlot[]): Array<{ job: string; day: string; on_time: number; late: number; missed: number; skipped: number }> {
  const days = new Map<string, { job: string; day: string; on_time: number; late: number; missed: number; skipped: number }>();
  for (const slot of slots) {
    let outcome: 'on_time' | 'late' | 'missed' | 'skipped' | null;
    if (slot.state === 'missed' || slot.state === 'skipped') outcome = slot.state;
    else if (slot.state === 'expected' || slot.run_id === null) outcome = null;
    else if (slot.run_started_at && slot.run_started_at.getTime() <= slot.scheduled_for.getTime() + 60_000) outcome = 'on_time';
    else outcome = 'late';
    if (!outcome) continue;
    const day = new Date(Math.floor(slot.scheduled_for.getTime() / DAY) * DAY).toISOString();
    const row = days.get(`${slot.job} ${day}`) ?? { job: slot.job, day, on_time: 0, late: 0, missed: 0, skipped: 0 };
    row[outcome] += 1;
    days.set(`${slot.job} ${day}`, row);
  }
  return [...days.values()].sort((a, b) => `${a.job} ${a.day}`.localeCompare(`${b.job} ${b.day}`));
}

async function assertSlotRollupMatchesLedger(db: Db, what: string): Promise<void> {
  const slots = await db.query<RawSlot & Record<string, unknown>>('SELECT job, scheduled_for, state, run_id::text AS run_id, run_started_at FROM schedule_slots');
  const rows = await db.query<{ job: string; day: Date; on_time: number; late: number; missed: number; skipped: number }>(
    'SELECT job, day, on_time, late, missed, skipped FROM slot_days WHERE on_time + late + missed + skipped > 0 ORDER BY job, day',
  );
  const [{ negative } = { negative: 0 }] = await db.query<{ negative: number }>('SELECT count(*)::int AS negative FROM slot_days WHERE least(on_time, late, missed, skipped) < 0');
  assert.equal(negative, 0, `${what}: no count below zero`);
  assert.deepEqual(rows.map((row) => ({ ...row, day: row.day.toISOString() })).sort((a, b) => `${a.job} ${a.day}`.localeCompare(`${b.job} ${b.day}`)),
    expectedSlotDays(slots), what);
}

for (const engine of ENGINES) {
  describe(`run_days, the daily rollup of finished runs (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
    });
    after(() => shared?.close());

    /** A run of `job` created at `created` (ms), then, as a runner records it, started and finished. */
    async function finishedRun(job: string, created: number, waitMs: number | null, durationMs: number | null, status: string): Promise<string> {
      const run = await seedRun(db, { job, status: 'queued', created_at: new Date(created) });
      if (waitMs !== null) await db.query(`UPDATE runs SET status = 'running', started_at = $2 WHERE run_id = $1`, [run.run_id, new Date(created + waitMs)]);
      const finished = new Date(created + (waitMs ?? 0) + (durationMs ?? 1_000));
      await db.query('UPDATE runs SET status = $2, finished_at = $3 WHERE run_id = $1', [run.run_id, status, finished]);
      return run.run_id;
    }

    it('holds, per job and UTC day of the end, what the runs hold: counts, durations, queue waits and failure times', async () => {
      // Several days of two jobs, every status, runs around midnight (a run ends in the day it ends, not the one it started).
      for (let d = 1; d <= 5; d++) {
        for (const [k, status] of TERMINAL.entries()) {
          await finishedRun('alpha', MIDNIGHT - d * DAY + k * HOUR + 5_000, 1_250 * k, 60_000 + 7_919 * k + d, status);
          await finishedRun('beta', MIDNIGHT - d * DAY - 90_000 + k * 1_000, 2_000, 120_000, status);
        }
      }
      // Two runs of one day with the same duration and wait (the rollup keeps both).
      await finishedRun('alpha', MIDNIGHT - 2 * DAY + 10 * HOUR, 500, 30_000, 'succeeded');
      await finishedRun('alpha', MIDNIGHT - 2 * DAY + 11 * HOUR, 500, 30_000, 'succeeded');
      // Cancelled while queued: counted, with no duration and no queue wait.
      await finishedRun('alpha', MIDNIGHT - 3 * DAY + 2 * HOUR, null, null, 'cancelled');
      // Live runs are not in the rollup.
      await seedRun(db, { job: 'alpha', status: 'running', created_at: new Date(MIDNIGHT - HOUR) });
      await seedRun(db, { job: 'beta', status: 'queued', created_at: new Date(MIDNIGHT - HOUR) });
      await assertRollupMatchesRuns(db, 'after runs finished');
    });

    it('puts a run that finishes days late in the day it finished, and a run recorded already finished in the day it was created', async () => {
      const late = await seedRun(db, { job: 'alpha', status: 'running', created_at: new Date(MIDNIGHT - 9 * DAY) });
      await db.query(`UPDATE runs SET started_at = $2 WHERE run_id = $1`, [late.run_id, new Date(MIDNIGHT - 9 * DAY + 3_000)]);
      await assertRollupMatchesRuns(db, 'a live run that started');
      await db.query(`UPDATE runs SET status = 'timed_out', finished_at = $2 WHERE run_id = $1`, [late.run_id, new Date(MIDNIGHT - 4 * HOUR)]);
      // Offline replays and rejected triggers: one insert in a final status, no end time, an old creation time.
      await seedRun(db, { job: 'alpha', status: 'failed', created_at: new Date(MIDNIGHT - 40 * DAY + 7) });
      await seedRun(db, { job: 'gamma', status: 'succeeded', created_at: new Date(MIDNIGHT - 400 * DAY) });
      await assertRollupMatchesRuns(db, 'after a late finish and old finished inserts');
      const [row] = await db.query<{ failed: number }>(`SELECT failed FROM run_days WHERE job = 'alpha' AND day = $1`, [new Date(MIDNIGHT - 40 * DAY)]);
      assert.equal(row?.failed, 1);
    });

    it('moves a finished run when its start, its creation time (no end time) or its job is corrected, and takes a deleted run out', async () => {
      const [dup] = await db.query<{ run_id: string }>(
        `SELECT run_id FROM runs WHERE job = 'alpha' AND created_at = $1`, [new Date(MIDNIGHT - 2 * DAY + 10 * HOUR)],
      );
      // One of two equal durations changes: the other stays in the array.
      await db.query('UPDATE runs SET started_at = started_at + interval \'10 seconds\' WHERE run_id = $1', [dup!.run_id]);
      await assertRollupMatchesRuns(db, 'after a start was corrected');
      await db.query(`UPDATE runs SET created_at = created_at + interval '3 days' WHERE job = 'gamma'`);
      await assertRollupMatchesRuns(db, 'after a creation time was corrected');
      await ensureUndeclaredJob(db, 'delta');
      await db.query(`UPDATE runs SET job = 'delta' WHERE job = 'beta' AND status = 'lost' AND finished_at < $1`, [new Date(MIDNIGHT - 3 * DAY)]);
      await assertRollupMatchesRuns(db, 'after runs moved to another job');
      // KubeScribe never deletes a run (its events are append-only), but a succeeded run without events can be, by hand.
      const gone = uuidv7();
      await db.query(
        `INSERT INTO runs (run_id, job, trigger, triggered_by, status, executor, created_at, started_at, finished_at)
         VALUES ($1, 'alpha', 'manual', 'tester', 'succeeded', 'local', $2, $3, $4)`,
        [gone, new Date(MIDNIGHT - 2 * DAY + 12 * HOUR), new Date(MIDNIGHT - 2 * DAY + 12 * HOUR + 500), new Date(MIDNIGHT - 2 * DAY + 12 * HOUR + 30_500)],
      );
      await assertRollupMatchesRuns(db, 'before a run is deleted');
      await db.transaction(async (tx) => {
        await tx.query('DELETE FROM notification_events WHERE run_id = $1', [gone]); // its outcome's outbox row
        await tx.query('DELETE FROM runs WHERE run_id = $1', [gone]);
      });
      await assertRollupMatchesRuns(db, 'after a run was deleted');
      // What the guard refuses changes nothing here either.
      await assert.rejects(db.query(`UPDATE runs SET status = 'succeeded' WHERE job = 'alpha' AND status = 'lost'`), /terminal/);
      await assertRollupMatchesRuns(db, 'after a refused change');
    });

    it('is left as it is by the retention loop pruning logs (it marks runs log_pruned_at)', async () => {
      const before = await actualDays(db);
      const old = await db.query<{ run_id: string }>(`SELECT run_id FROM runs WHERE finished_at < $1`, [new Date(MIDNIGHT - 3 * DAY)]);
      for (const { run_id } of old) {
        await db.query(`INSERT INTO run_logs (run_id, seq, stream, at, text) VALUES ($1, 1, 'stdout', now(), 'line')`, [run_id]);
      }
      const retention = new Retention({ db, config: { ...emptyConfig(), retention: { logs_ms: DAY } }, batch: { runs: 1000, chunks: 1000 } });
      await retention.tick();
      const [{ pruned } = { pruned: 0 }] = await db.query<{ pruned: number }>('SELECT count(*)::int AS pruned FROM runs WHERE log_pruned_at IS NOT NULL');
      assert.ok(pruned >= old.length && old.length > 0, `logs were pruned (${pruned} of ${old.length})`);
      assert.deepEqual(await actualDays(db), before);
      await assertRollupMatchesRuns(db, 'after retention');
    });

    it('is recomputed from the runs by kubescribe_rebuild_run_days(), to the same rows', async () => {
      const before = await actualDays(db);
      await db.query('UPDATE run_days SET succeeded = succeeded + 100, durations = durations || 1e9::float8');
      await db.query('SELECT kubescribe_rebuild_run_days()');
      assertDaysEqual(await actualDays(db), before, 'after the rebuild');
      await assertRollupMatchesRuns(db, 'after the rebuild');
    });

    it('counts the slot ledger per job and day by SLA outcome as slots are claimed, fired, started, changed and deleted', async () => {
      const slot = (job: string, at: number, state: string, runId: string | null = null) =>
        db.query('INSERT INTO schedule_slots (job, scheduled_for, state, run_id) VALUES ($1, $2, $3, $4)', [job, new Date(at), state, runId]);
      const base = MIDNIGHT - 6 * DAY;
      // Fired slots whose runs start on time, late, and one whose run is still queued.
      const onTime = await seedRun(db, { job: 'sla', status: 'queued', created_at: new Date(base + 1_000) });
      const late = await seedRun(db, { job: 'sla', status: 'queued', created_at: new Date(base + HOUR + 1_000) });
      const waiting = await seedRun(db, { job: 'sla', status: 'queued', created_at: new Date(base + 2 * HOUR + 1_000) });
      await slot('sla', base, 'started', onTime.run_id);
      await slot('sla', base + HOUR, 'started', late.run_id);
      await slot('sla', base + 2 * HOUR, 'started', waiting.run_id);
      await slot('sla', base + 3 * HOUR, 'expected');
      await slot('sla', base + 4 * HOUR, 'missed');
      await slot('sla', base + DAY - 1, 'skipped');
      await slot('sla', base + DAY, 'missed');
      await assertSlotRollupMatchesLedger(db, 'after slots were recorded');
      // The runs start (runs_slot_started sets each slot's run_started_at): on time, and 61 s late.
      await db.query(`UPDATE runs SET status = 'running', started_at = $2 WHERE run_id = $1`, [onTime.run_id, new Date(base + 30_000)]);
      await db.query(`UPDATE runs SET status = 'running', started_at = $2 WHERE run_id = $1`, [late.run_id, new Date(base + HOUR + 61_000)]);
      await assertSlotRollupMatchesLedger(db, 'after the runs started');
      // A claimed slot is fired, a missed one is started after all, one is deleted by hand.
      const fired = await seedRun(db, { job: 'sla', status: 'queued', created_at: new Date(base + 3 * HOUR + 500) });
      await db.query(`UPDATE schedule_slots SET state = 'started', run_id = $2 WHERE job = 'sla' AND scheduled_for = $1`, [new Date(base + 3 * HOUR), fired.run_id]);
      await db.query(`UPDATE runs SET status = 'running', started_at = $2 WHERE run_id = $1`, [fired.run_id, new Date(base + 3 * HOUR + 2_000)]);
      const rescued = await seedRun(db, { job: 'sla', status: 'queued', created_at: new Date(base + 4 * HOUR + 90_000) });
      await db.query(`UPDATE schedule_slots SET state = 'started', run_id = $2 WHERE job = 'sla' AND scheduled_for = $1`, [new Date(base + 4 * HOUR), rescued.run_id]);
      await db.query(`DELETE FROM schedule_slots WHERE job = 'sla' AND scheduled_for = $1`, [new Date(base + DAY)]);
      await assertSlotRollupMatchesLedger(db, 'after slots changed');
      await db.query('UPDATE slot_days SET late = late + 7');
      await db.query('SELECT kubescribe_rebuild_run_days()');
      await assertSlotRollupMatchesLedger(db, 'after the rebuild');
    });

    it('gives the SLA counts of the ledger for windows on and off midnight, a slot within its 60 s still pending', async () => {
      // A slot fired 20 s before the window's end whose run has not started: pending, not late.
      const now = Date.now();
      const recent = await seedRun(db, { job: 'sla', status: 'queued', created_at: new Date(now - 19_000) });
      await db.query(`INSERT INTO schedule_slots (job, scheduled_for, state, run_id) VALUES ('sla', $1, 'started', $2)`, [new Date(now - 20_000), recent.run_id]);
      const fromLedger = async (from: Date, to: Date) => (await db.query<{ job: string; outcome: string; count: number }>(
        `SELECT job, outcome, count(*)::int AS count FROM schedule_slot_outcomes
         WHERE job = ANY ($1::text[]) AND scheduled_for >= $2 AND scheduled_for < $3 GROUP BY job, outcome`, [['sla', 'alpha'], from, to],
      )).sort((a, b) => `${a.job} ${a.outcome}`.localeCompare(`${b.job} ${b.outcome}`));
      const windows: Array<[string, Date, Date]> = [
        ['30 days ending now', new Date(now - 30 * DAY), new Date(now)],
        ['7 days ending off midnight', new Date(MIDNIGHT - 7 * DAY + 5 * HOUR + 17), new Date(MIDNIGHT - DAY + 5 * HOUR + 17)],
        ['whole days', new Date(MIDNIGHT - 6 * DAY), new Date(MIDNIGHT - 5 * DAY)],
        ['ending 30 s after midnight', new Date(MIDNIGHT - 6 * DAY + 30_000), new Date(MIDNIGHT - 4 * DAY + 30_000)],
        ['24 hours', new Date(now - DAY), new Date(now)],
      ];
      for (const [what, from, to] of windows) {
        const actual = (await slotOutcomeCounts(db, ['sla', 'alpha'], from, to)).sort((a, b) => `${a.job} ${a.outcome}`.localeCompare(`${b.job} ${b.outcome}`));
        assert.deepEqual(actual, await fromLedger(from, to), what);
      }
      const latest = await slotOutcomeCounts(db, ['sla'], new Date(now - DAY), new Date(now));
      assert.ok(latest.some((row) => row.outcome === 'pending'), 'the slot within its 60 s is pending');
    });

    it('finds percentile_cont(0.95) from the top values to the bit, for every count, with ties, zeros and one value', async () => {
      // Deterministic values (a multiplicative hash), durations-like with repeats; counts 0…260 cover
      // every position of the two ranks 0.95 × (n − 1) falls between, equal ranks included (n = 21, 41, …).
      const arrays: number[][] = [];
      for (let n = 0; n <= 260; n++) {
        arrays.push(Array.from({ length: n }, (_, i) => {
          const h = ((n * 7919 + i) * 2654435761) % 4294967296;
          return h % 7 === 0 ? 0 : h % 11 === 0 ? 42.5 : (h % 100_000) / 997;
        }));
      }
      const rows = await db.query<{ n: number; top: number | null; sorted: number | null }>(
        `SELECT cardinality(a.values) AS n, ${upperPercentileCont('a.values', 0.95)} AS top,
                (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY v) FROM unnest(a.values) AS v) AS sorted
         FROM unnest($1::text[]) AS t(text) CROSS JOIN LATERAL (SELECT t.text::float8[] AS values) AS a`,
        [arrays.map((values) => `{${values.join(',')}}`)],
      );
      assert.equal(rows.length, arrays.length);
      for (const row of rows) assert.equal(row.top === null ? null : Number(row.top), row.sorted === null ? null : Number(row.sorted), `n = ${row.n}`);
      assert.equal(rows[0]!.top, null, 'no values: null, as percentile_cont over no rows');
    });

    it('gives the window aggregates of every run of the window, for windows on and off midnight', async () => {
      const jobs = ['alpha', 'beta', 'gamma', 'delta', 'nobody'];
      const windows: Array<[string, Date, Date]> = [
        ['30 days ending now', new Date(Date.now() - 30 * DAY), new Date()],
        ['7 days ending off midnight', new Date(MIDNIGHT - 7 * DAY + 5 * HOUR + 17), new Date(MIDNIGHT + 5 * HOUR + 17)],
        ['whole days, midnight to midnight', new Date(MIDNIGHT - 4 * DAY), new Date(MIDNIGHT - DAY)],
        ['24 hours within two days', new Date(MIDNIGHT - 2 * DAY + 3 * HOUR), new Date(MIDNIGHT - DAY + 3 * HOUR)],
        ['one whole day', new Date(MIDNIGHT - 2 * DAY), new Date(MIDNIGHT - DAY)],
        ['400 days', new Date(MIDNIGHT - 400 * DAY), new Date(MIDNIGHT + HOUR)],
      ];
      for (const [what, from, to] of windows) {
        const actual = (await windowAggregates(db, jobs, from, to)).sort((a, b) => a.job.localeCompare(b.job));
        const expected = await aggregatesFromRuns(db, jobs, from, to);
        assert.ok(expected.length > 0, `${what}: the window holds runs`);
        assert.deepEqual(actual.map((row) => ({ ...row, duration_percentiles: row.duration_percentiles?.map((v) => v.toFixed(9)) })),
          expected.map((row) => ({ ...row, duration_percentiles: row.duration_percentiles?.map((v) => v.toFixed(9)) })), what);
      }
      assert.deepEqual(windowDays(new Date(MIDNIGHT - 2 * DAY + 3 * HOUR), new Date(MIDNIGHT - DAY + 3 * HOUR)),
        { dayFrom: new Date(MIDNIGHT - DAY + 3 * HOUR), dayTo: new Date(MIDNIGHT - DAY + 3 * HOUR) }, 'no whole day: the runs alone');
    });

    it('gives daily buckets through the rollup equal to those read from every run, for windows on and off midnight', async () => {
      const windows: Array<[string, Date, Date]> = [
        ['30 days ending now', new Date(Date.now() - 30 * DAY), new Date()],
        ['7 days ending off midnight', new Date(MIDNIGHT - 7 * DAY + 5 * HOUR + 17), new Date(MIDNIGHT + 5 * HOUR + 17)],
        ['whole days, midnight to midnight', new Date(MIDNIGHT - 4 * DAY), new Date(MIDNIGHT - DAY)],
        ['24 hours within two days', new Date(MIDNIGHT - 2 * DAY + 3 * HOUR), new Date(MIDNIGHT - DAY + 3 * HOUR)],
        ['400 days', new Date(MIDNIGHT - 400 * DAY), new Date(MIDNIGHT + HOUR)],
      ];
      let nonEmpty = 0;
      for (const job of ['alpha', 'beta', 'gamma', 'delta', 'nobody']) {
        for (const [what, from, to] of windows) {
          // The statement before the rollup served whole days: every bucket from the runs.
          const expected = await db.query<Record<string, unknown>>(
            `SELECT b.start, coalesce(a.runs, 0) AS runs, coalesce(a.succeeded, 0) AS succeeded, coalesce(a.failed, 0) AS failed, a.p95 AS p95_duration_seconds
             FROM generate_series(date_trunc('day', $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', $3::timestamptz - interval '1 microsecond', interval '1 day') AS b(start)
             LEFT JOIN (SELECT date_trunc('day', ended_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start, count(*)::int AS runs,
                               count(*) FILTER (WHERE succeeded)::int AS succeeded, count(*) FILTER (WHERE failing)::int AS failed,
                               percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds) AS p95
                        FROM finished_runs WHERE job = $1 AND ended_at >= $2 AND ended_at < $3 GROUP BY 1) AS a ON a.start = b.start
             ORDER BY b.start`,
            [job, from, to],
          );
          const actual = await runBuckets(db, job, from, to, '1d');
          assert.deepEqual(actual, expected.map((row) => ({ ...row, p95_duration_seconds: row.p95_duration_seconds === null ? null : Number(row.p95_duration_seconds) })), `${job}, ${what}`);
          nonEmpty += actual.filter((bucket) => bucket.runs > 0).length;
        }
      }
      assert.ok(nonEmpty > 10, `the windows hold runs (${nonEmpty} buckets)`);
    });
  });
}
