// Read queries of the metrics snapshot (src/reports/metrics-snapshot.ts): the all-time totals of
// migration 10, kept by triggers, and the few live facts. None of them reads more than the totals
// tables, the live runs and one index probe per job, so a scrape costs the same at 5 M runs as at 5.
import type { Queryable } from '../db.ts';
import { LIVE_STATUSES } from '../types.ts';

/** `run_totals` summed over its duration buckets: finished runs by job, status, trigger and executor. */
export async function runTotalsByLabels(db: Queryable): Promise<{ job: string; status: string; trigger: string; executor: string; count: number }[]> {
  const rows = await db.query<{ job: string; status: string; trigger: string; executor: string; count: string }>(
    `SELECT job, status, trigger, executor, sum(runs)::text AS count FROM run_totals
     GROUP BY job, status, trigger, executor HAVING sum(runs) > 0
     ORDER BY job, status, trigger, executor`,
  );
  return rows.map((row) => ({ ...row, count: Number(row.count) }));
}

/** `run_totals` by job and duration bucket (`le` in seconds, Infinity for the last), runs without a duration left out. */
export async function runDurationTotals(db: Queryable): Promise<{ job: string; le: number; count: number; sum: number }[]> {
  const rows = await db.query<{ job: string; le: number; count: string; sum: number }>(
    `SELECT job, le, sum(runs)::text AS count, sum(duration_sum) AS sum FROM run_totals
     WHERE le IS NOT NULL GROUP BY job, le ORDER BY job, le`,
  );
  return rows.map((row) => ({ job: row.job, le: Number(row.le), count: Number(row.count), sum: Number(row.sum) }));
}

/** The histogram bounds migration 10 defined, in seconds (without +Inf). */
export async function histogramBounds(db: Queryable): Promise<{ run_duration: number[]; fire_lag: number[] }> {
  const [row] = await db.query<{ run_duration: number[]; fire_lag: number[] }>(
    'SELECT kubescribe_run_duration_bounds() AS run_duration, kubescribe_fire_lag_bounds() AS fire_lag',
  );
  return { run_duration: row!.run_duration.map(Number), fire_lag: row!.fire_lag.map(Number) };
}

/** Live runs by job, status and executor. */
export async function liveRunsByLabels(db: Queryable): Promise<{ job: string; status: string; executor: string; count: number }[]> {
  return db.query<{ job: string; status: string; executor: string; count: number }>(
    `SELECT job, status, executor, count(*)::int AS count FROM runs
     WHERE status = ANY ($1::text[]) GROUP BY job, status, executor ORDER BY job, status, executor`,
    [LIVE_STATUSES],
  );
}

/** What each job's newest finished run and newest success were. */
export interface JobLastRunRow {
  job: string;
  suspended: boolean;
  removed: boolean;
  /** The schedule and zone of the job's current revision (null: none). */
  schedule: string | null;
  time_zone: string | null;
  last_run_status: string | null;
  last_run_finished_at: Date | null;
  last_success_at: Date | null;
}

/**
 * Per job: its newest finished run (by end time) and its newest success, read backwards from the end
 * of runs_job_ended_idx: a probe per job, whatever the history's length.
 */
export async function jobLastRuns(db: Queryable): Promise<JobLastRunRow[]> {
  return db.query<JobLastRunRow & Record<string, unknown>>(
    `SELECT j.name AS job, j.suspended, j.removed_at IS NOT NULL AS removed,
            v.definition->>'schedule' AS schedule, v.definition->>'time_zone' AS time_zone,
            l.status AS last_run_status, l.ended_at AS last_run_finished_at,
            (SELECT f.ended_at FROM finished_runs f WHERE f.job = j.name AND f.status = 'succeeded'
             ORDER BY f.ended_at DESC, f.run_id DESC LIMIT 1) AS last_success_at
     FROM jobs j
     LEFT JOIN job_revisions v ON v.job = j.name AND v.revision = j.current_revision
     LEFT JOIN LATERAL (
       SELECT f.status, f.ended_at FROM finished_runs f WHERE f.job = j.name
       ORDER BY f.ended_at DESC, f.run_id DESC LIMIT 1
     ) AS l ON true
     ORDER BY j.name`,
  );
}

/** `schedule_slot_totals` by job and state. */
export async function slotTotals(db: Queryable): Promise<{ job: string; state: string; count: number }[]> {
  const rows = await db.query<{ job: string; state: string; count: string }>(
    `SELECT job, state, sum(slots)::text AS count FROM schedule_slot_totals
     GROUP BY job, state HAVING sum(slots) > 0 ORDER BY job, state`,
  );
  return rows.map((row) => ({ ...row, count: Number(row.count) }));
}

/** `schedule_slot_totals` of started slots by fire-lag bucket, over all jobs. */
export async function fireLagTotals(db: Queryable): Promise<{ le: number; count: number; sum: number }[]> {
  const rows = await db.query<{ le: number; count: string; sum: number }>(
    `SELECT lag_le AS le, sum(slots)::text AS count, sum(lag_sum) AS sum FROM schedule_slot_totals
     WHERE lag_le IS NOT NULL GROUP BY lag_le ORDER BY lag_le`,
  );
  return rows.map((row) => ({ le: Number(row.le), count: Number(row.count), sum: Number(row.sum) }));
}

/** `notification_totals`: deliveries by channel and final result. */
export async function notificationTotals(db: Queryable): Promise<{ channel: string; result: string; count: number }[]> {
  const rows = await db.query<{ channel: string; result: string; count: string }>(
    'SELECT channel, result, deliveries::text AS count FROM notification_totals ORDER BY channel, result',
  );
  return rows.map((row) => ({ ...row, count: Number(row.count) }));
}
