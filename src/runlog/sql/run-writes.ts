// Queries of the trigger service and the local executor: creating queued runs, the concurrency
// policy's view of a job's live runs, and the executor's restart reconciliation.
import type { Queryable } from '../db.ts';
import { jsonb } from '../db.ts';
import type { RunRecord, RunStatus } from '../types.ts';
import type { EventInput, NewRun } from './runs.ts';

// Kept identical to runs.ts's column list so a RETURNING row is the same RunRecord getRun() gives.
const RUN_COLUMNS = `run_id::text AS run_id, job, job_revision, trigger, triggered_by, params, status, attempt,
  retry_of::text AS retry_of, executor, executor_ref, image, command, tenant, labels, created_at, started_at,
  finished_at, heartbeat_at, exit_code, signal, error_type, error_message, error_tail, outputs, metrics,
  idempotency_key, log_bytes, log_dropped_bytes`;

/**
 * Inserts a run and its `created` event in one statement (so it also works inside a caller's
 * transaction) and returns the new row. Returns null, writing nothing, when the run_id or the
 * idempotency key is already taken.
 */
export async function insertRunReturning(db: Queryable, run: NewRun, event: EventInput): Promise<RunRecord | null> {
  const [row] = await db.query<RunRecord & Record<string, unknown>>(
    `WITH ins AS (
       INSERT INTO runs (run_id, job, job_revision, trigger, triggered_by, params, status, attempt, retry_of,
                         executor, executor_ref, image, command, tenant, labels, created_at, idempotency_key)
       VALUES ($1, $2, (SELECT max(revision) FROM job_revisions WHERE job = $2 AND content_hash = $3),
               $4, $5, $6::jsonb, $7, $8, $9, $10, $11::jsonb, $12, $13::jsonb, $14, $15::jsonb, $16, $17)
       ON CONFLICT DO NOTHING
       RETURNING *
     ), ev AS (
       INSERT INTO run_events (event_id, run_id, at, type, from_status, to_status, actor, detail)
       SELECT $18, ins.run_id, $19, $20, NULL, ins.status, $21, $22::jsonb FROM ins
     )
     SELECT ${RUN_COLUMNS} FROM ins`,
    [
      run.run_id, run.job, run.job_content_hash, run.trigger, run.triggered_by, jsonb(run.params), run.status,
      run.attempt ?? 1, run.retry_of ?? null, run.executor, jsonb(run.executor_ref ?? {}), run.image ?? null,
      run.command ? jsonb(run.command) : null, run.tenant ?? null, jsonb(run.labels ?? {}), run.created_at,
      run.idempotency_key ?? null,
      event.event_id, event.at, event.type, event.actor, jsonb(event.detail ?? {}),
    ],
  );
  return row ?? null;
}

/** The run an idempotency key created, or null. */
export async function findRunByIdempotencyKey(db: Queryable, key: string): Promise<RunRecord | null> {
  const [row] = await db.query<RunRecord & Record<string, unknown>>(
    `SELECT ${RUN_COLUMNS} FROM runs WHERE idempotency_key = $1`,
    [key],
  );
  return row ?? null;
}

/**
 * Locks the job's row until the transaction ends: triggers of one job that apply a concurrency
 * policy queue up here, so "is a run live?" and "insert the new run" act as one step.
 */
export async function lockJobRow(tx: Queryable, job: string): Promise<void> {
  await tx.query('SELECT name FROM jobs WHERE name = $1 FOR UPDATE', [job]);
}

/** The job's queued, starting and running runs, oldest first. */
export async function listLiveRuns(db: Queryable, job: string): Promise<{ run_id: string; status: RunStatus }[]> {
  return db.query<{ run_id: string; status: RunStatus }>(
    `SELECT run_id::text AS run_id, status FROM runs
     WHERE job = $1 AND status IN ('queued', 'starting', 'running')
     ORDER BY created_at, run_id`,
    [job],
  );
}

/** Queued runs of an executor in the order they were accepted. */
export async function listQueuedRunIds(db: Queryable, executor: string): Promise<string[]> {
  const rows = await db.query<{ run_id: string }>(
    `SELECT run_id::text AS run_id FROM runs WHERE status = 'queued' AND executor = $1 ORDER BY created_at, run_id`,
    [executor],
  );
  return rows.map((row) => row.run_id);
}

/**
 * Live runs that an executor of this kind took from the queue (created `queued`, then adopted by
 * its runner). Runs a `kubescribe run` in a terminal created itself are not among them: their own
 * runner supervises them.
 */
export async function listAdoptedLiveRuns(db: Queryable, executor: string): Promise<RunRecord[]> {
  return db.query<RunRecord & Record<string, unknown>>(
    `SELECT ${RUN_COLUMNS} FROM runs r
     WHERE r.status IN ('starting', 'running') AND r.executor = $1
       AND EXISTS (SELECT 1 FROM run_events e
                   WHERE e.run_id = r.run_id AND e.type = 'created' AND e.to_status = 'queued')
     ORDER BY r.created_at, r.run_id`,
    [executor],
  );
}
