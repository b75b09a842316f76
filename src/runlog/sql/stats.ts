// Read queries of job stats (docs/reporting.md), over the views of migration 10: `finished_runs` and
// `schedule_slot_outcomes`, and the daily rollup of migration 13, `run_days`. Each takes a set of jobs (one, or all of them) and a window [from, to)
// and answers per job, so one job's stats and every job's are the same statements.
import type { Queryable } from '../db.ts';
import { FAILING_STATUSES, LIVE_STATUSES, TERMINAL_STATUSES, type RunStatus } from '../types.ts';

/** Aggregates of the runs that finished in the window. */
export interface WindowAggregateRow {
  job: string;
  /** Runs by terminal status. */
  by_status: Record<string, number>;
  /** percentile_cont of the durations at 0.5, 0.95, 0.99 (null: no finished run with a duration). */
  duration_percentiles: number[] | null;
  duration_max: number | null;
  queue_wait_p95: number | null;
  failing: number;
  first_failure_at: Date | null;
  last_failure_at: Date | null;
}

const DAY_MS = 86_400_000;

/**
 * How a window [from, to) is read: its whole UTC days [dayFrom, dayTo) from the daily rollup
 * `run_days` (migration 13), its partial first day [from, dayFrom) and last day [dayTo, to) from the
 * runs. A window without a whole day (24h that does not start at midnight) is read from the runs alone.
 */
export function windowDays(from: Date, to: Date): { dayFrom: Date; dayTo: Date } {
  const dayFrom = new Date(Math.ceil(from.getTime() / DAY_MS) * DAY_MS);
  const dayTo = new Date(Math.floor(to.getTime() / DAY_MS) * DAY_MS);
  return dayFrom < dayTo ? { dayFrom, dayTo } : { dayFrom: to, dayTo: to };
}

/**
 * The values of an array as rows `v`, for an aggregate over them. unnest() in the select list (a
 * ProjectSet node) hands each value on as it goes; in FROM (a function scan) it first copies them all
 * into a tuplestore, which cost a quarter of the window aggregates' CPU at ~1,000 values per job.
 */
const unnested = (array: string) => `(SELECT unnest(${array}) AS v) AS u`;

/**
 * SQL for percentile_cont(fraction) WITHIN GROUP (ORDER BY v) over the values of a float8 array, for
 * a fraction near 1 (p95): the same result to the bit, from the top values alone. percentile_cont
 * sorts every value and interpolates between the two at ranks floor and ceil of fraction × (n − 1);
 * a bounded sort (ORDER BY … DESC LIMIT, a heap of the n − floor(…) largest, ~5 % of them) finds
 * those two, and the interpolation is PostgreSQL's own (float8_lerp: lo + (pos − floor(pos)) × (hi − lo)).
 * NULL for an empty array, as percentile_cont over no rows.
 */
export function upperPercentileCont(array: string, fraction: number): string {
  return `(SELECT CASE WHEN q.lo = q.hi THEN q.top[q.n - q.lo] ELSE q.top[q.n - q.lo] + ((q.pos - q.lo) * (q.top[q.n - q.hi] - q.top[q.n - q.lo])) END
     FROM (SELECT r.n, r.pos, r.lo, r.hi, ARRAY(SELECT v FROM ${unnested(array)} ORDER BY v DESC LIMIT r.n - r.lo) AS top
           FROM (SELECT c.n, c.pos, floor(c.pos)::int AS lo, ceil(c.pos)::int AS hi
                 FROM (SELECT cardinality(${array}) AS n, ${fraction}::float8 * (cardinality(${array}) - 1) AS pos) AS c) AS r
           WHERE r.n > 0) AS q)`;
}

/**
 * Counts and percentiles of the runs of `jobs` that ended in [from, to); jobs without any are left
 * out. Per job (a lateral subquery): the window's whole days are ~30 rows of `run_days`, whose arrays
 * hold every duration and queue wait, so the percentiles are exactly those over the runs; the two
 * partial days are range scans of runs_job_ended_idx, each run shaped as a day of its own. The
 * arrays are concatenated (kubescribe_array_cat_agg); the durations are sorted once, the queue
 * waits only as far as their p95 needs. One scan of each source: the statement's planning, not only
 * its execution, is paid on every request.
 */
export async function windowAggregates(db: Queryable, jobs: readonly string[], from: Date, to: Date): Promise<WindowAggregateRow[]> {
  const { dayFrom, dayTo } = windowDays(from, to);
  // One column per terminal status, from the one list of them; run_days has a column named after each.
  const statusColumns = TERMINAL_STATUSES.map((status) => `(f.status = '${status}')::int AS ${status}`).join(', ');
  // A run of a partial day as a row of run_days: its counts and one-value arrays.
  const edge = (lo: string, hi: string) =>
    `SELECT ${statusColumns},
            CASE WHEN f.duration_seconds IS NULL THEN '{}'::float8[] ELSE ARRAY[f.duration_seconds] END,
            CASE WHEN f.queue_wait_seconds IS NULL THEN '{}'::float8[] ELSE ARRAY[f.queue_wait_seconds] END,
            CASE WHEN f.failing THEN ARRAY[f.ended_at] ELSE '{}'::timestamptz[] END
     FROM finished_runs f WHERE f.job = j.job AND f.ended_at >= ${lo} AND f.ended_at < ${hi}`;
  const rows = await db.query<Omit<WindowAggregateRow, 'by_status' | 'duration_max'> & { counts: number[] } & Record<string, unknown>>(
    `SELECT j.job, a.counts,
            (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99, 1]) WITHIN GROUP (ORDER BY v) FROM ${unnested('a.durations')}) AS duration_percentiles,
            ${upperPercentileCont('a.queue_waits', 0.95)} AS queue_wait_p95,
            cardinality(a.failure_ends) AS failing,
            (SELECT min(t) FROM unnest(a.failure_ends) AS t) AS first_failure_at,
            (SELECT max(t) FROM unnest(a.failure_ends) AS t) AS last_failure_at
     FROM unnest($1::text[]) AS j(job)
     CROSS JOIN LATERAL (
       SELECT ARRAY[${TERMINAL_STATUSES.map((status) => `coalesce(sum(x.${status}), 0)::int`).join(', ')}] AS counts,
              coalesce(sum(${TERMINAL_STATUSES.map((status) => `x.${status}`).join(' + ')}), 0) AS n,
              kubescribe_array_cat_agg(x.durations) AS durations, kubescribe_array_cat_agg(x.queue_waits) AS queue_waits,
              kubescribe_array_cat_agg(x.failure_ends) AS failure_ends
       FROM (
         SELECT ${TERMINAL_STATUSES.map((status) => `d.${status}`).join(', ')}, d.durations, d.queue_waits, d.failure_ends
         FROM run_days d WHERE d.job = j.job AND d.day >= $4 AND d.day < $5
         UNION ALL ${edge('$2', '$4')}
         UNION ALL ${edge('$5', '$3')}
       ) AS x
     ) AS a
     WHERE a.n > 0`,
    [jobs, from, to, dayFrom, dayTo],
  );
  return rows.map((row) => ({
    job: row.job,
    by_status: Object.fromEntries(TERMINAL_STATUSES.map((status, i) => [status, Number(row.counts[i] ?? 0)])),
    // The fourth "percentile", 1, is the largest value: the max, from the same sort.
    duration_percentiles: row.duration_percentiles?.slice(0, 3).map(Number) ?? null,
    duration_max: row.duration_percentiles ? Number(row.duration_percentiles[3]) : null,
    queue_wait_p95: row.queue_wait_p95 === null ? null : Number(row.queue_wait_p95),
    failing: Number(row.failing),
    first_failure_at: row.first_failure_at,
    last_failure_at: row.last_failure_at,
  }));
}

/** The latest run of a job that ended in the window (cancelled left out), and how many before it in a row share its status. */
export interface StreakRow {
  job: string;
  status: RunStatus;
  count: number;
}

/**
 * The current streak of each job within [from, to): the status of its newest finished run that was
 * not cancelled (someone chose those; they neither extend nor break a streak), and how many of its
 * newest such runs in a row have it. Ordered by end time, then run id.
 */
export async function windowStreaks(db: Queryable, jobs: readonly string[], from: Date, to: Date): Promise<StreakRow[]> {
  // Per job, read backwards from the window's end: the newest run, then the newest that ended
  // otherwise (the streak's start), then the runs between. Each scan is as long as the streak.
  return db.query<StreakRow & Record<string, unknown>>(
    `SELECT j.job, newest.status,
            (SELECT count(*)::int FROM finished_runs f
             WHERE f.job = j.job AND f.status = newest.status AND f.ended_at < $3
               -- A plain lower bound for the index scan to start at, and the tie on the breaker's end
               -- time as a filter: a row comparison among the index conditions made PostgreSQL scan
               -- from the job's first entry (~9 ms a job over 25,000 runs, 1.8 s for 200 jobs).
               AND f.ended_at >= greatest($2::timestamptz, breaker.ended_at)
               AND (breaker.ended_at IS NULL OR f.ended_at > breaker.ended_at OR f.run_id > breaker.run_id)) AS count
     FROM unnest($1::text[]) AS j(job)
     CROSS JOIN LATERAL (
       SELECT f.status FROM finished_runs f
       WHERE f.job = j.job AND f.ended_at >= $2 AND f.ended_at < $3 AND f.status <> 'cancelled'
       ORDER BY f.ended_at DESC, f.run_id DESC LIMIT 1
     ) AS newest
     LEFT JOIN LATERAL (
       SELECT f.ended_at, f.run_id FROM finished_runs f
       WHERE f.job = j.job AND f.ended_at >= $2 AND f.ended_at < $3 AND f.status NOT IN (newest.status, 'cancelled')
       ORDER BY f.ended_at DESC, f.run_id DESC LIMIT 1
     ) AS breaker ON true`,
    [jobs, from, to],
  );
}

/** A job's last success and last failure before `to`, whatever the window. */
export interface LastOutcomeRow {
  job: string;
  last_success_at: Date | null;
  failure_run_id: string | null;
  failure_run_number: number | null;
  failure_status: RunStatus | null;
  failure_ended_at: Date | null;
  failure_error_type: string | null;
  failure_error_message: string | null;
}

/**
 * The newest success and the newest failure (failed, timed_out, lost) of each job that ended before
 * `to`: a backward scan of runs_job_ended_idx to the newest success, and a probe of the small
 * runs_job_failed_idx, however long the history.
 */
export async function lastOutcomes(db: Queryable, jobs: readonly string[], to: Date): Promise<LastOutcomeRow[]> {
  return db.query<LastOutcomeRow & Record<string, unknown>>(
    `SELECT j.job,
            (SELECT f.ended_at FROM finished_runs f
             WHERE f.job = j.job AND f.status = 'succeeded' AND f.ended_at < $2
             ORDER BY f.ended_at DESC, f.run_id DESC LIMIT 1) AS last_success_at,
            r.run_id::text AS failure_run_id, r.run_number AS failure_run_number, r.status AS failure_status,
            lf.ended_at AS failure_ended_at, r.error_type AS failure_error_type, r.error_message AS failure_error_message
     FROM unnest($1::text[]) AS j(job)
     LEFT JOIN LATERAL (
       SELECT f.run_id, f.ended_at FROM finished_runs f
       WHERE f.job = j.job AND f.failing AND f.ended_at < $2
       ORDER BY f.ended_at DESC, f.run_id DESC LIMIT 1
     ) AS lf ON true
     LEFT JOIN runs r ON r.run_id = lf.run_id`,
    [jobs, to],
  );
}

/** The runs of each job that are live now (queued, starting, running), by status. */
export async function liveRunCounts(db: Queryable, jobs: readonly string[]): Promise<{ job: string; status: RunStatus; count: number }[]> {
  return db.query<{ job: string; status: RunStatus; count: number }>(
    `SELECT job, status, count(*)::int AS count FROM runs
     WHERE status = ANY ($2::text[]) AND job = ANY ($1::text[])
     GROUP BY job, status`,
    [jobs, LIVE_STATUSES],
  );
}

// A fired slot whose run has not started is pending for 60 s, late after: the rollup holds the
// outcomes once those 60 s have passed, so a window's last minute before its end is read from the ledger.
const SLOT_JUDGED_AFTER_MS = 60_000;

/**
 * Slots of each job scheduled in [from, to), by SLA outcome (on_time, late, missed, skipped; and
 * pending from the ledger's recent part). The window's whole days come from the rollup `slot_days`
 * (migration 13), its partial first and last day (and the minute before its end) from the view
 * schedule_slot_outcomes.
 */
export async function slotOutcomeCounts(db: Queryable, jobs: readonly string[], from: Date, to: Date): Promise<{ job: string; outcome: string; count: number }[]> {
  const { dayFrom, dayTo } = windowDays(from, new Date(Math.max(from.getTime(), to.getTime() - SLOT_JUDGED_AFTER_MS)));
  const ledger = (lo: string, hi: string) =>
    `SELECT s.outcome, count(*) AS count FROM schedule_slot_outcomes s
     WHERE s.job = j.job AND s.scheduled_for >= ${lo} AND s.scheduled_for < ${hi} GROUP BY s.outcome`;
  // The whole days summed per job first, then turned into one row per outcome: four rows a job into
  // the grouping rather than four a day (~24,000 for 200 jobs over 30 days).
  return db.query<{ job: string; outcome: string; count: number }>(
    `SELECT j.job, o.outcome, o.count FROM unnest($1::text[]) AS j(job)
     CROSS JOIN LATERAL (
       SELECT x.outcome, sum(x.count)::int AS count FROM (
         SELECT k.outcome, k.count
         FROM (SELECT sum(d.on_time) AS on_time, sum(d.late) AS late, sum(d.missed) AS missed, sum(d.skipped) AS skipped
               FROM slot_days d WHERE d.job = j.job AND d.day >= $4 AND d.day < $5) AS d
         CROSS JOIN LATERAL (VALUES ('on_time', d.on_time), ('late', d.late), ('missed', d.missed), ('skipped', d.skipped)) AS k(outcome, count)
         UNION ALL ${ledger('$2', '$4')}
         UNION ALL ${ledger('$5', '$3')}
       ) AS x
       GROUP BY x.outcome
       HAVING sum(x.count) > 0
     ) AS o`,
    [jobs, from, to, dayFrom, dayTo],
  );
}

export type BucketWidth = '1h' | '1d';
const TRUNC: Record<BucketWidth, string> = { '1h': 'hour', '1d': 'day' };
const STEP: Record<BucketWidth, string> = { '1h': '1 hour', '1d': '1 day' };

/** One bucket of a job's finished runs. */
export interface RunBucketRow {
  start: Date;
  runs: number;
  succeeded: number;
  failed: number;
  p95_duration_seconds: number | null;
}

/**
 * A job's finished runs in [from, to) per UTC hour or day (every bucket of the window, empty ones
 * included, oldest first): counts and p95 duration. `failed` counts failed, timed_out and lost.
 * Daily buckets of whole days are the rows of the rollup `run_days` (its durations are every
 * duration of the day, so the p95 is the one over the runs); the window's partial first and last
 * day, and hourly buckets, are read from the runs.
 */
export async function runBuckets(db: Queryable, job: string, from: Date, to: Date, width: BucketWidth): Promise<RunBucketRow[]> {
  const { dayFrom, dayTo } = width === '1d' ? windowDays(from, to) : { dayFrom: to, dayTo: to };
  const fromRuns = (lo: string, hi: string) =>
    `SELECT date_trunc('${TRUNC[width]}', ended_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start,
            count(*)::int AS runs,
            count(*) FILTER (WHERE succeeded)::int AS succeeded,
            count(*) FILTER (WHERE failing)::int AS failed,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds) AS p95
     FROM finished_runs
     WHERE job = $1 AND ended_at >= ${lo} AND ended_at < ${hi}
     GROUP BY 1`;
  const rows = await db.query<RunBucketRow & Record<string, unknown>>(
    `WITH b AS (
       SELECT start FROM generate_series(date_trunc('${TRUNC[width]}', $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                                         $3::timestamptz - interval '1 microsecond', interval '${STEP[width]}') AS start
     ), agg AS (
       SELECT d.day AS start, (${TERMINAL_STATUSES.map((status) => `d.${status}`).join(' + ')})::int AS runs, d.succeeded,
              (${FAILING_STATUSES.map((status) => `d.${status}`).join(' + ')})::int AS failed,
              ${upperPercentileCont('d.durations', 0.95)} AS p95
       FROM run_days d WHERE d.job = $1 AND d.day >= $4 AND d.day < $5
       UNION ALL ${fromRuns('$2', '$4')}
       UNION ALL ${fromRuns('$5', '$3')}
     )
     SELECT b.start, coalesce(agg.runs, 0) AS runs, coalesce(agg.succeeded, 0) AS succeeded,
            coalesce(agg.failed, 0) AS failed, agg.p95 AS p95_duration_seconds
     FROM b LEFT JOIN agg ON agg.start = b.start
     ORDER BY b.start`,
    [job, from, to, dayFrom, dayTo],
  );
  return rows.map((row) => ({ ...row, p95_duration_seconds: row.p95_duration_seconds === null ? null : Number(row.p95_duration_seconds) }));
}

/** One bucket of a metric's values. */
export interface MetricBucketRow {
  start: Date;
  count: number;
  avg: number | null;
  min: number | null;
  max: number | null;
}

/**
 * A numeric value of `runs.metrics` (what a run reported as `{"metric": name, "value": …}`) over the
 * job's runs that finished in [from, to), per UTC hour or day, every bucket included. Runs without
 * the metric, or with a value that is not a number, are left out.
 */
export async function metricBuckets(db: Queryable, job: string, metric: string, from: Date, to: Date, width: BucketWidth): Promise<MetricBucketRow[]> {
  const rows = await db.query<MetricBucketRow & Record<string, unknown>>(
    `WITH b AS (
       SELECT start FROM generate_series(date_trunc('${TRUNC[width]}', $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                                         $3::timestamptz - interval '1 microsecond', interval '${STEP[width]}') AS start
     ), v AS (
       -- The runs finished_runs holds (a terminal status; ended_at its expression), read from runs
       -- itself for their metrics: joining the view back to runs probed the primary key once per run.
       SELECT date_trunc('${TRUNC[width]}', coalesce(r.finished_at, r.created_at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start,
              (r.metrics->>$4)::float8 AS value
       FROM runs r
       WHERE r.job = $1 AND r.status IN (${TERMINAL_STATUSES.map((status) => `'${status}'`).join(', ')})
         AND coalesce(r.finished_at, r.created_at) >= $2 AND coalesce(r.finished_at, r.created_at) < $3
         AND jsonb_typeof(r.metrics->$4) = 'number'
     ), agg AS (
       SELECT start, count(*)::int AS count, avg(value) AS avg, min(value) AS min, max(value) AS max FROM v GROUP BY start
     )
     SELECT b.start, coalesce(agg.count, 0) AS count, agg.avg, agg.min, agg.max
     FROM b LEFT JOIN agg ON agg.start = b.start
     ORDER BY b.start`,
    [job, from, to, metric],
  );
  const num = (value: unknown) => (value === null || value === undefined ? null : Number(value));
  return rows.map((row) => ({ start: row.start, count: row.count, avg: num(row.avg), min: num(row.min), max: num(row.max) }));
}

/** The names of the jobs in the RunLog (every job ever recorded, removed ones included), sorted. */
export async function statsJobNames(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ name: string }>('SELECT name FROM jobs ORDER BY name');
  return rows.map((row) => row.name);
}

/** Whether the RunLog knows the job. */
export async function jobExists(db: Queryable, job: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM jobs WHERE name = $1', [job]);
  return rows.length > 0;
}
