// Queries of `run_retries` (migration 0009, docs/runner.md#retries): one row per run that ended
// failed, timed_out or lost, written by a trigger with the terminal transition; the retrier decides
// each once (scheduled with a due time, or skipped) and creates the retry run when it is due.
import type { Queryable } from '../db.ts';
import { jsonb } from '../db.ts';
import { FAILING_STATUSES, type RunStatus } from '../types.ts';
import type { EventInput } from './runs.ts';

export type RetryState = 'pending' | 'scheduled' | 'created' | 'skipped';

/** One row of `run_retries`: what was decided about retrying a run. */
export interface RunRetry {
  run_id: string;
  job: string;
  state: RetryState;
  /** The attempt the retry is (the failed run's attempt + 1); null until decided. */
  attempt: number | null;
  retry_limit: number | null;
  due_at: Date | null;
  retry_run_id: string | null;
  reason: string | null;
  created_at: Date;
  decided_at: Date | null;
}

/** An open row (pending, or scheduled and due) with what the decision needs of its run. */
export interface OpenRetry extends RunRetry {
  status: RunStatus;
  run_attempt: number;
  error_type: string | null;
  params: Record<string, unknown>;
  finished_at: Date | null;
}

const RETRY_COLUMNS = `q.run_id::text AS run_id, q.job, q.state, q.attempt, q.retry_limit, q.due_at,
  q.retry_run_id::text AS retry_run_id, q.reason, q.created_at, q.decided_at`;

/**
 * Locks, for the caller's transaction, up to `limit` rows of `executor`'s runs that are undecided, or
 * scheduled and due by `now`; SKIP LOCKED, so a replica never waits for another's rows.
 */
export async function lockOpenRetries(tx: Queryable, executor: string, now: Date, limit: number): Promise<OpenRetry[]> {
  return tx.query<OpenRetry & Record<string, unknown>>(
    `SELECT ${RETRY_COLUMNS}, r.status, r.attempt AS run_attempt, r.error_type, r.params, r.finished_at
     FROM run_retries q JOIN runs r ON r.run_id = q.run_id
     WHERE r.executor = $1
       AND (q.state = 'pending' OR (q.state = 'scheduled' AND q.due_at <= $2))
     ORDER BY q.due_at NULLS FIRST, q.created_at
     LIMIT $3
     FOR UPDATE OF q SKIP LOCKED`,
    [executor, now, limit],
  );
}

/** When the earliest scheduled retry of `executor`'s runs is due, or null when none waits. */
export async function nextRetryDue(db: Queryable, executor: string): Promise<Date | null> {
  const [row] = await db.query<{ due_at: Date | null }>(
    `SELECT min(q.due_at) AS due_at FROM run_retries q JOIN runs r ON r.run_id = q.run_id
     WHERE q.state = 'scheduled' AND r.executor = $1`,
    [executor],
  );
  return row?.due_at ?? null;
}

/** Records the decision to retry (attempt, limit, due time) with its run event, in one statement; false if already decided. */
export async function scheduleRetry(
  db: Queryable,
  runId: string,
  decision: { attempt: number; limit: number; dueAt: Date },
  event: EventInput,
): Promise<boolean> {
  const rows = await db.query<{ run_id: string }>(
    `WITH upd AS (
       UPDATE run_retries SET state = 'scheduled', attempt = $2, retry_limit = $3, due_at = $4, decided_at = $6
       WHERE run_id = $1 AND state = 'pending'
       RETURNING run_id
     ), ev AS (
       INSERT INTO run_events (event_id, run_id, at, type, actor, detail)
       SELECT $5, run_id, $6, $7, $8, $9::jsonb FROM upd
       ON CONFLICT (event_id) DO NOTHING
     )
     SELECT run_id::text AS run_id FROM upd`,
    [runId, decision.attempt, decision.limit, decision.dueAt, event.event_id, event.at, event.type, event.actor, jsonb(event.detail ?? {})],
  );
  return rows.length > 0;
}

/** Records that the run is not retried and why (and the job's limit, when it has retries), with a run event when one is given; false if already decided. */
export async function skipRetry(db: Queryable, runId: string, reason: string, event: EventInput | null, limit: number | null = null): Promise<boolean> {
  const rows = await db.query<{ run_id: string }>(
    `WITH upd AS (
       UPDATE run_retries SET state = 'skipped', reason = $2, decided_at = coalesce(decided_at, $3),
                              retry_limit = coalesce($8, retry_limit)
       WHERE run_id = $1 AND state IN ('pending', 'scheduled')
       RETURNING run_id
     ), ev AS (
       INSERT INTO run_events (event_id, run_id, at, type, actor, detail)
       SELECT $4, run_id, $3, $5, $6, $7::jsonb FROM upd WHERE $4::uuid IS NOT NULL
       ON CONFLICT (event_id) DO NOTHING
     )
     SELECT run_id::text AS run_id FROM upd`,
    [runId, reason, event?.at ?? new Date(), event?.event_id ?? null, event?.type ?? null, event?.actor ?? null, jsonb(event?.detail ?? {}), limit],
  );
  return rows.length > 0;
}

/**
 * Links the scheduled retry to the run that is it, with the failed run's `retry_created` event, in one
 * statement; false (and no event) when another replica linked it first.
 */
export async function markRetryCreated(db: Queryable, runId: string, retryRunId: string, event: EventInput): Promise<boolean> {
  const rows = await db.query<{ run_id: string }>(
    `WITH upd AS (
       UPDATE run_retries SET state = 'created', retry_run_id = $2
       WHERE run_id = $1 AND state = 'scheduled'
       RETURNING run_id
     ), ev AS (
       INSERT INTO run_events (event_id, run_id, at, type, actor, detail)
       SELECT $3, run_id, $4, $5, $6, $7::jsonb FROM upd
       ON CONFLICT (event_id) DO NOTHING
     )
     SELECT run_id::text AS run_id FROM upd`,
    [runId, retryRunId, event.event_id, event.at, event.type, event.actor, jsonb(event.detail ?? {})],
  );
  return rows.length > 0;
}

/** What was decided about retrying the run, or null (it did not fail, or the decision row is not written yet). */
export async function getRunRetry(db: Queryable, runId: string): Promise<RunRetry | null> {
  const [row] = await db.query<RunRetry & Record<string, unknown>>(`SELECT ${RETRY_COLUMNS} FROM run_retries q WHERE q.run_id = $1`, [runId]);
  return row ?? null;
}

/**
 * Writes the missing row of each run that ended failing within `lookbackMs` (and after migration 9,
 * so an upgrade does not retry history) but has none: the trigger's insert failed and left a warning.
 * Returns how many were written.
 */
export async function insertMissingRetryRows(db: Queryable, lookbackMs: number): Promise<number> {
  const rows = await db.query<{ run_id: string }>(
    `INSERT INTO run_retries (run_id, job)
     SELECT r.run_id, r.job FROM runs r
     WHERE r.status = ANY ($2::text[])
       AND r.created_at > now() - $1 * interval '1 millisecond'
       AND coalesce(r.finished_at, r.created_at) > (SELECT applied_at FROM kubescribe_migrations WHERE version = 9)
       AND NOT EXISTS (SELECT 1 FROM run_retries q WHERE q.run_id = r.run_id)
     ON CONFLICT (run_id) DO NOTHING
     RETURNING run_id::text AS run_id`,
    [lookbackMs, FAILING_STATUSES],
  );
  return rows.length;
}
