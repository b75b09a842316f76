// Job stats from the RunLog (docs/reporting.md#stats): what `GET /jobs/{name}/stats`, `GET /stats`,
// `kubescribe report` and the UI show. Every number is defined once, here and in the SQL views of
// migration 10 that the queries read; the fields are snake_case, as the API returns them.
import type { Queryable } from '../runlog/db.ts';
import {
  jobExists, lastOutcomes, liveRunCounts, metricBuckets, runBuckets, slotOutcomeCounts, statsJobNames, windowAggregates,
  windowStreaks, type BucketWidth, type LastOutcomeRow,
} from '../runlog/sql/stats.ts';
import { FAILING_STATUSES, RUN_STATUSES, type RunStatus } from '../runlog/types.ts';
import { isoOrNull } from '../util/iso.ts';

export const STATS_WINDOWS = ['24h', '7d', '30d', '90d'] as const;
export type StatsWindow = (typeof STATS_WINDOWS)[number];
export const STATS_BUCKETS = ['1h', '1d'] as const;
export type StatsBucket = BucketWidth;

const WINDOW_MS: Record<StatsWindow, number> = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000, '90d': 90 * 86_400_000 };

/** A window's [from, to) ending at `now`. */
export function windowRange(window: StatsWindow, now: Date): { from: Date; to: Date } {
  return { from: new Date(now.getTime() - WINDOW_MS[window]), to: now };
}

/** A job's stats over a window; see docs/reporting.md#stats for each field's definition. */
export interface JobStats {
  job_name: string;
  window: StatsWindow;
  /** The window, [from, to): `to` is the time of the query. */
  from: string;
  to: string;
  /**
   * Runs by status: the terminal ones that ended in the window; queued, starting and running: the
   * runs in that state now. `total` is their sum.
   */
  runs: Record<RunStatus, number> & { total: number };
  /** succeeded / (succeeded + failed + timed_out + lost) in the window; cancelled runs are left out; null when none. */
  success_rate: number | null;
  /** Of the runs that ended in the window and had started (percentile_cont, seconds); null when none. */
  duration_seconds: { p50: number | null; p95: number | null; p99: number | null; max: number | null };
  /** created_at → started_at of the runs that ended in the window and had started. */
  queue_wait_seconds: { p95: number | null };
  /** The newest run in the window that was not cancelled, and how many in a row before it ended the same way; null when none. */
  streak: { status: RunStatus; count: number } | null;
  /** The newest success ever (up to `to`), not only in the window. */
  last_success_at: string | null;
  /** The newest failure ever (failed, timed_out or lost, up to `to`). */
  last_failure: {
    run_id: string;
    run_number: number;
    status: RunStatus;
    finished_at: string;
    /** `<error_type>: <first line of error_message>`, or the error type alone; null without an error. */
    error_line: string | null;
  } | null;
  /** Mean time between the failures in the window: (last − first) / (failures − 1); null with fewer than two. */
  mtbf_seconds: number | null;
  /** Schedule slots in the window by outcome (view `schedule_slot_outcomes`): on_time / (on_time + late + missed). */
  sla: { on_time: number; late: number; missed: number; skipped: number; on_time_share: number | null };
  /** With `bucket`: the window's finished runs per UTC hour or day, oldest first, empty ones included. */
  buckets?: Array<{ start: string; runs: number; succeeded: number; failed: number; p95_duration_seconds: number | null }>;
  /** With `metric`: that value of runs.metrics per bucket (`bucket`, else 1d). */
  metric?: { name: string; bucket: StatsBucket; buckets: Array<{ start: string; count: number; avg: number | null; min: number | null; max: number | null }> };
}

export interface JobStatsOptions {
  window: StatsWindow;
  bucket?: StatsBucket;
  metric?: string;
  now?: Date;
}

/** The stats of one job over a window; null when the RunLog has no such job. */
export async function jobStats(db: Queryable, jobName: string, options: JobStatsOptions): Promise<JobStats | null> {
  if (!(await jobExists(db, jobName))) return null;
  const now = options.now ?? new Date();
  const { from, to } = windowRange(options.window, now);
  const [stats] = await statsFor(db, [jobName], options.window, from, to);
  const result = stats!;
  if (options.bucket) {
    result.buckets = (await runBuckets(db, jobName, from, to, options.bucket)).map((row) => ({
      start: row.start.toISOString(), runs: row.runs, succeeded: row.succeeded, failed: row.failed, p95_duration_seconds: row.p95_duration_seconds,
    }));
  }
  if (options.metric !== undefined) {
    const bucket = options.bucket ?? '1d';
    result.metric = {
      name: options.metric,
      bucket,
      buckets: (await metricBuckets(db, jobName, options.metric, from, to, bucket)).map((row) => ({ ...row, start: row.start.toISOString() })),
    };
  }
  return result;
}

/** The stats of every job in the RunLog over a window, sorted by job name. */
export async function allJobStats(db: Queryable, options: { window: StatsWindow; now?: Date }): Promise<JobStats[]> {
  const now = options.now ?? new Date();
  const { from, to } = windowRange(options.window, now);
  return statsFor(db, await statsJobNames(db), options.window, from, to);
}

async function statsFor(db: Queryable, jobs: string[], window: StatsWindow, from: Date, to: Date): Promise<JobStats[]> {
  if (jobs.length === 0) return [];
  // Sequential: PGlite serialises anyway, and on PostgreSQL one request should hold one connection.
  const aggregates = byJob(await windowAggregates(db, jobs, from, to));
  const streaks = byJob(await windowStreaks(db, jobs, from, to));
  const outcomes = byJob(await lastOutcomes(db, jobs, to));
  const live = groupByJob(await liveRunCounts(db, jobs));
  const slots = groupByJob(await slotOutcomeCounts(db, jobs, from, to));
  return jobs.map((job): JobStats => {
    const agg = aggregates.get(job);
    const runs = Object.fromEntries(RUN_STATUSES.map((status) => [status, 0])) as Record<RunStatus, number> & { total: number };
    for (const [status, n] of Object.entries(agg?.by_status ?? {})) runs[status as RunStatus] = n;
    for (const row of live.get(job) ?? []) runs[row.status] = row.count;
    runs.total = RUN_STATUSES.reduce((sum, status) => sum + runs[status], 0);
    const judged = runs.succeeded + FAILING_STATUSES.reduce((sum, status) => sum + runs[status], 0);
    const [p50 = null, p95 = null, p99 = null] = agg?.duration_percentiles ?? [];
    const failing = agg?.failing ?? 0;
    const sla = { on_time: 0, late: 0, missed: 0, skipped: 0 };
    for (const row of slots.get(job) ?? []) if (row.outcome in sla) sla[row.outcome as keyof typeof sla] = row.count;
    const slaJudged = sla.on_time + sla.late + sla.missed;
    const streak = streaks.get(job);
    return {
      job_name: job,
      window,
      from: from.toISOString(),
      to: to.toISOString(),
      runs,
      success_rate: judged === 0 ? null : runs.succeeded / judged,
      duration_seconds: { p50, p95, p99, max: agg?.duration_max ?? null },
      queue_wait_seconds: { p95: agg?.queue_wait_p95 ?? null },
      streak: streak ? { status: streak.status, count: streak.count } : null,
      last_success_at: isoOrNull(outcomes.get(job)?.last_success_at ?? null),
      last_failure: lastFailure(outcomes.get(job)),
      mtbf_seconds: failing >= 2 && agg?.first_failure_at && agg.last_failure_at
        ? (new Date(agg.last_failure_at).getTime() - new Date(agg.first_failure_at).getTime()) / 1000 / (failing - 1)
        : null,
      sla: { ...sla, on_time_share: slaJudged === 0 ? null : sla.on_time / slaJudged },
    };
  });
}

/** The error line a failure shows: `<type>: <first line of message>`, cut at 200 characters. */
export function errorLine(type: string | null, message: string | null): string | null {
  if (!type) return null;
  const first = (message ?? '').split('\n')[0]!.trim();
  const line = first ? `${type}: ${first}` : type;
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

function lastFailure(row: LastOutcomeRow | undefined): JobStats['last_failure'] {
  if (!row || row.failure_run_id === null) return null;
  return {
    run_id: row.failure_run_id,
    run_number: Number(row.failure_run_number),
    status: row.failure_status!,
    finished_at: new Date(row.failure_ended_at!).toISOString(),
    error_line: errorLine(row.failure_error_type, row.failure_error_message),
  };
}

function byJob<T extends { job: string }>(rows: T[]): Map<string, T> {
  return new Map(rows.map((row) => [row.job, row]));
}

function groupByJob<T extends { job: string }>(rows: T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) map.set(row.job, [...(map.get(row.job) ?? []), row]);
  return map;
}
