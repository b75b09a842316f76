// Seeded runs and slots for the reporting tests, and an independent computation of the stats over
// them in plain JS (docs/reporting.md's definitions, restated without the SQL), to check
// src/reports/stats.ts and the API against.
import assert from 'node:assert/strict';
import type { Db } from '../../src/runlog/db.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import type { RunStatus, Trigger } from '../../src/runlog/types.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';

const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'];
const FAILING = ['failed', 'timed_out', 'lost'];
const LIVE = ['queued', 'starting', 'running'];
const ALL = ['queued', 'starting', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'lost'];

/** A run to seed; its times are absolute. */
export interface SeedRun {
  job: string;
  status: RunStatus;
  trigger?: Trigger;
  executor?: string;
  created_at: Date;
  started_at?: Date | null;
  finished_at?: Date | null;
  error_type?: string | null;
  error_message?: string | null;
  metrics?: Record<string, number>;
  /** Recorded already in its final status by one insert (an offline replay), without an end time. */
  insertedFinished?: boolean;
}

/** A seeded run as the oracle sees it. */
export interface SeededRun extends Required<Omit<SeedRun, 'insertedFinished'>> {
  run_id: string;
  run_number: number;
}

/** A slot to seed; `run` is the index of the seeded run it started. */
export interface SeedSlot {
  job: string;
  scheduled_for: Date;
  state: 'expected' | 'started' | 'skipped' | 'missed';
  run?: number;
}

const event = (type: string, at: Date) => ({ event_id: uuidv7(), at, type, actor: 'test' });

/**
 * Records the runs through the RunLog's own writes (insert, then the compare-and-set transitions a
 * runner makes), in order, and the slots; returns the runs with their ids and numbers.
 */
export async function seedRuns(db: Db, runs: readonly SeedRun[], slots: readonly SeedSlot[] = []): Promise<SeededRun[]> {
  const seeded: SeededRun[] = [];
  for (const job of new Set([...runs.map((r) => r.job), ...slots.map((s) => s.job)])) await ensureUndeclaredJob(db, job);
  for (const spec of runs) {
    const run_id = uuidv7();
    const base = {
      run_id, job: spec.job, job_content_hash: null, trigger: spec.trigger ?? 'schedule', triggered_by: 'test', params: {},
      executor: spec.executor ?? 'local', created_at: spec.created_at,
    };
    if (spec.insertedFinished) {
      await insertRun(db, { ...base, status: spec.status }, event('created', spec.created_at));
    } else {
      await insertRun(db, { ...base, status: 'queued' }, event('created', spec.created_at));
      if (spec.started_at) {
        await transitionRun(db, run_id, ['queued'], 'running', { started_at: spec.started_at }, event('running', spec.started_at));
      }
      if (TERMINAL.includes(spec.status)) {
        const finished = spec.finished_at!;
        await transitionRun(db, run_id, ['queued', 'running'], spec.status, {
          finished_at: finished, error_type: spec.error_type ?? null, error_message: spec.error_message ?? null, metrics: spec.metrics ?? {},
        }, event(spec.status, finished));
      } else if (spec.status === 'starting' || spec.status === 'queued') {
        // stays as inserted (queued) or is moved to starting
        if (spec.status === 'starting') await transitionRun(db, run_id, ['queued', 'running'], 'starting', {}, event('starting', spec.created_at));
      }
    }
    const [row] = await db.query<{ run_number: number }>('SELECT run_number FROM runs WHERE run_id = $1', [run_id]);
    seeded.push({
      run_id, run_number: row!.run_number, job: spec.job, status: spec.status, trigger: spec.trigger ?? 'schedule', executor: spec.executor ?? 'local',
      created_at: spec.created_at, started_at: spec.insertedFinished ? null : spec.started_at ?? null,
      finished_at: spec.insertedFinished ? null : spec.finished_at ?? null,
      // A run recorded in its final status by one insert carries no error or metrics (the insert has no columns for them).
      error_type: spec.insertedFinished ? null : spec.error_type ?? null,
      error_message: spec.insertedFinished ? null : spec.error_message ?? null,
      metrics: spec.insertedFinished ? {} : spec.metrics ?? {},
    });
  }
  for (const slot of slots) {
    await db.query(
      `INSERT INTO schedule_slots (job, scheduled_for, state, run_id) VALUES ($1, $2, $3, $4)`,
      [slot.job, slot.scheduled_for, slot.state, slot.run === undefined ? null : seeded[slot.run]!.run_id],
    );
  }
  return seeded;
}

/** percentile_cont: linear interpolation between the closest ranks. */
export function percentileCont(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

const endOf = (r: SeededRun) => (r.finished_at ?? r.created_at).getTime();
const byNewest = (a: SeededRun, b: SeededRun) => endOf(b) - endOf(a) || (a.run_id < b.run_id ? 1 : -1);

/** The stats of `job` over [from, to), computed from the seeded rows. */
export function expectedStats(runs: readonly SeededRun[], slots: readonly SeedSlot[], job: string, window: string, from: Date, to: Date, now: Date) {
  const mine = runs.filter((r) => r.job === job);
  const inWindow = mine.filter((r) => TERMINAL.includes(r.status) && endOf(r) >= from.getTime() && endOf(r) < to.getTime());
  const counts: Record<string, number> = Object.fromEntries(ALL.map((s) => [s, 0]));
  for (const r of inWindow) counts[r.status]!++;
  for (const r of mine) if (LIVE.includes(r.status)) counts[r.status]!++;
  const total = ALL.reduce((sum, s) => sum + counts[s]!, 0);
  const judged = counts.succeeded! + FAILING.reduce((sum, s) => sum + counts[s]!, 0);
  const durations = inWindow.filter((r) => r.started_at && r.finished_at).map((r) => (r.finished_at!.getTime() - r.started_at!.getTime()) / 1000);
  const waits = inWindow.filter((r) => r.started_at).map((r) => (r.started_at!.getTime() - r.created_at.getTime()) / 1000);
  const ordered = inWindow.filter((r) => r.status !== 'cancelled').sort(byNewest);
  let streak: { status: string; count: number } | null = null;
  if (ordered.length > 0) {
    let count = 0;
    while (count < ordered.length && ordered[count]!.status === ordered[0]!.status) count++;
    streak = { status: ordered[0]!.status, count };
  }
  const before = mine.filter((r) => TERMINAL.includes(r.status) && endOf(r) < to.getTime()).sort(byNewest);
  const lastSuccess = before.find((r) => r.status === 'succeeded');
  const lastFailure = before.find((r) => FAILING.includes(r.status));
  const failures = inWindow.filter((r) => FAILING.includes(r.status)).map(endOf).sort((a, b) => a - b);
  const sla = { on_time: 0, late: 0, missed: 0, skipped: 0 };
  for (const slot of slots) {
    if (slot.job !== job || slot.scheduled_for < from || slot.scheduled_for >= to) continue;
    if (slot.state === 'missed' || slot.state === 'skipped') sla[slot.state]++;
    if (slot.state !== 'started' || slot.run === undefined) continue;
    const run = runs[slot.run]!;
    const startedAt = run.started_at ?? (TERMINAL.includes(run.status) ? run.created_at : null);
    const due = slot.scheduled_for.getTime() + 60_000;
    if (startedAt && startedAt.getTime() <= due) sla.on_time++;
    else if (startedAt || now.getTime() > due) sla.late++;
  }
  const slaJudged = sla.on_time + sla.late + sla.missed;
  return {
    job_name: job,
    window,
    from: from.toISOString(),
    to: to.toISOString(),
    runs: { ...counts, total },
    success_rate: judged === 0 ? null : counts.succeeded! / judged,
    duration_seconds: {
      p50: percentileCont(durations, 0.5), p95: percentileCont(durations, 0.95), p99: percentileCont(durations, 0.99),
      max: durations.length ? Math.max(...durations) : null,
    },
    queue_wait_seconds: { p95: percentileCont(waits, 0.95) },
    streak,
    last_success_at: lastSuccess ? new Date(endOf(lastSuccess)).toISOString() : null,
    last_failure: lastFailure
      ? {
          run_id: lastFailure.run_id,
          run_number: lastFailure.run_number,
          status: lastFailure.status,
          finished_at: new Date(endOf(lastFailure)).toISOString(),
          error_line: lastFailure.error_type
            ? (lastFailure.error_message ? `${lastFailure.error_type}: ${lastFailure.error_message.split('\n')[0]}` : lastFailure.error_type)
            : null,
        }
      : null,
    mtbf_seconds: failures.length >= 2 ? (failures[failures.length - 1]! - failures[0]!) / 1000 / (failures.length - 1) : null,
    sla: { ...sla, on_time_share: slaJudged === 0 ? null : sla.on_time / slaJudged },
  };
}

/** UTC bucket starts covering [from, to). */
function bucketStarts(from: Date, to: Date, width: '1h' | '1d'): number[] {
  const step = width === '1h' ? 3_600_000 : 86_400_000;
  const starts: number[] = [];
  for (let t = Math.floor(from.getTime() / step) * step; t < to.getTime(); t += step) starts.push(t);
  return starts;
}

/** The `buckets` of a job's stats, computed from the seeded rows. */
export function expectedBuckets(runs: readonly SeededRun[], job: string, from: Date, to: Date, width: '1h' | '1d') {
  const step = width === '1h' ? 3_600_000 : 86_400_000;
  return bucketStarts(from, to, width).map((start) => {
    const inside = runs.filter((r) => r.job === job && TERMINAL.includes(r.status)
      && endOf(r) >= Math.max(start, from.getTime()) && endOf(r) < Math.min(start + step, to.getTime()));
    const durations = inside.filter((r) => r.started_at && r.finished_at).map((r) => (r.finished_at!.getTime() - r.started_at!.getTime()) / 1000);
    return {
      start: new Date(start).toISOString(),
      runs: inside.length,
      succeeded: inside.filter((r) => r.status === 'succeeded').length,
      failed: inside.filter((r) => FAILING.includes(r.status)).length,
      p95_duration_seconds: percentileCont(durations, 0.95),
    };
  });
}

/** The `metric` trend of a job's stats, computed from the seeded rows. */
export function expectedMetric(runs: readonly SeededRun[], job: string, metric: string, from: Date, to: Date, width: '1h' | '1d') {
  const step = width === '1h' ? 3_600_000 : 86_400_000;
  return bucketStarts(from, to, width).map((start) => {
    const values = runs.filter((r) => r.job === job && TERMINAL.includes(r.status) && typeof r.metrics[metric] === 'number'
      && endOf(r) >= Math.max(start, from.getTime()) && endOf(r) < Math.min(start + step, to.getTime())).map((r) => r.metrics[metric]!);
    return {
      start: new Date(start).toISOString(),
      count: values.length,
      avg: values.length ? values.reduce((a, b) => a + b, 0) / values.length : null,
      min: values.length ? Math.min(...values) : null,
      max: values.length ? Math.max(...values) : null,
    };
  });
}

/** Deep equality, numbers within 1e-9 relative (PostgreSQL's percentile_cont and sums may differ from the oracle's in the last bits). */
export function assertClose(actual: unknown, expected: unknown, path = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${path}: ${actual} ≠ ${expected}`);
  } else if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${path}: expected an object, got ${JSON.stringify(actual)}`);
    assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected).sort(), `${path}: keys`);
    for (const key of Object.keys(expected)) assertClose((actual as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key], `${path}.${key}`);
  } else {
    assert.equal(actual, expected, path);
  }
}
