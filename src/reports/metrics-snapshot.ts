// Everything `/metrics` exposes, read from the RunLog so that every replica reports the same truth
// (no per-process counter that resets on restart). Counters come from the all-time totals of
// migration 10, which triggers keep in the transaction of each fact; gauges from the live runs and
// one index probe per job. See docs/reporting.md#metrics-snapshot.
import type { Queryable } from '../runlog/db.ts';
import {
  fireLagTotals, histogramBounds, jobLastRuns, liveRunsByLabels, notificationTotals, runDurationTotals, runTotalsByLabels, slotTotals,
} from '../runlog/sql/metrics-snapshot.ts';
import { STARTED_STATUSES } from '../runlog/types.ts';
import { cronFor, nextFireTime } from '../scheduler/slots.ts';

/** A cumulative Prometheus histogram: `count` of observations ≤ each `le` (the last is +Inf), their `count` and `sum`. */
export interface HistogramSnapshot {
  buckets: Array<{ le: number; count: number }>;
  count: number;
  sum: number;
}

export interface MetricsSnapshot {
  /** Finished runs, all time, by their labels; a counter that never resets. */
  runsTotal: Array<{ job_name: string; status: string; trigger: string; executor: string; count: number }>;
  /** Durations (finished_at − started_at, seconds) of finished runs that started, per job; buckets cumulative, the last le is +Inf. */
  runDurations: Array<{ job_name: string } & HistogramSnapshot>;
  /** Runs starting or running now. */
  runsActive: Array<{ job_name: string; executor: string; count: number }>;
  /** Runs queued now. */
  runsQueued: Array<{ job_name: string; count: number }>;
  /** Per job in the RunLog: its newest finished run, newest success, next fire time and suspension. */
  jobs: Array<{
    job_name: string;
    last_run_status: string | null;
    last_run_finished_at: Date | null;
    last_success_at: Date | null;
    /** The next fire time of the current revision's schedule after `now`; null: no schedule, suspended or removed. */
    next_schedule_at: Date | null;
    suspended: boolean;
  }>;
  /** Slots of the schedule-slot ledger, all time, by job and outcome (the ledger's state: expected, started, skipped, missed). */
  scheduleSlots: Array<{ job_name: string; outcome: string; count: number }>;
  /** Notification deliveries, all time, by channel and final result (sent, failed, suppressed). */
  notifications: Array<{ channel: string; result: string; count: number }>;
  /** scheduled_for → the run recorded (its created_at), over every slot that started a run. */
  schedulerFireLag: HistogramSnapshot;
}

/** Reads the metrics snapshot; `now` is when next fire times are computed from. */
export async function readMetricsSnapshot(db: Queryable, now: Date = new Date()): Promise<MetricsSnapshot> {
  const bounds = await histogramBounds(db);
  const runsTotal = await runTotalsByLabels(db);
  const durations = await runDurationTotals(db);
  const live = await liveRunsByLabels(db);
  const jobs = await jobLastRuns(db);
  const slots = await slotTotals(db);
  const fireLag = await fireLagTotals(db);
  const notifications = await notificationTotals(db);

  const durationsByJob = new Map<string, typeof durations>();
  for (const row of durations) durationsByJob.set(row.job, [...(durationsByJob.get(row.job) ?? []), row]);

  return {
    runsTotal: runsTotal.map(({ job, ...rest }) => ({ job_name: job, ...rest })),
    runDurations: [...durationsByJob].map(([job, rows]) => ({ job_name: job, ...cumulative(bounds.run_duration, rows) })),
    runsActive: sumBy(live.filter((row) => (STARTED_STATUSES as readonly string[]).includes(row.status)), (row) => `${row.job}\u0000${row.executor}`)
      .map(([row, count]) => ({ job_name: row.job, executor: row.executor, count })),
    runsQueued: sumBy(live.filter((row) => row.status === 'queued'), (row) => row.job).map(([row, count]) => ({ job_name: row.job, count })),
    jobs: jobs.map((row) => ({
      job_name: row.job,
      last_run_status: row.last_run_status,
      last_run_finished_at: row.last_run_finished_at === null ? null : new Date(row.last_run_finished_at),
      last_success_at: row.last_success_at === null ? null : new Date(row.last_success_at),
      next_schedule_at: row.suspended || row.removed ? null : nextScheduleAt(row.schedule, row.time_zone, now),
      suspended: row.suspended,
    })),
    scheduleSlots: slots.map((row) => ({ job_name: row.job, outcome: row.state, count: row.count })),
    notifications,
    schedulerFireLag: cumulative(bounds.fire_lag, fireLag),
  };
}

/** Per-bucket totals (each row the count of its own bucket) as a cumulative histogram over every bound and +Inf. */
function cumulative(bounds: readonly number[], rows: ReadonlyArray<{ le: number; count: number; sum: number }>): HistogramSnapshot {
  let running = 0;
  const buckets = [...bounds, Number.POSITIVE_INFINITY].map((le) => {
    running += rows.filter((row) => row.le === le).reduce((sum, row) => sum + row.count, 0);
    return { le, count: running };
  });
  return { buckets, count: running, sum: rows.reduce((sum, row) => sum + row.sum, 0) };
}

function sumBy<T extends { count: number }>(rows: readonly T[], key: (row: T) => string): Array<[T, number]> {
  const sums = new Map<string, [T, number]>();
  for (const row of rows) {
    const entry = sums.get(key(row));
    sums.set(key(row), [entry?.[0] ?? row, (entry?.[1] ?? 0) + row.count]);
  }
  return [...sums.values()];
}

// A revision stored by an older or hand-edited config may hold an expression croner rejects: no next
// fire time then, rather than a scrape that fails for every job.
function nextScheduleAt(schedule: string | null, timeZone: string | null, now: Date): Date | null {
  if (!schedule) return null;
  try {
    return nextFireTime(cronFor(schedule, timeZone ?? 'UTC'), now);
  } catch {
    return null;
  }
}
