import type { Queryable } from '../db.ts';
import { jsonb } from '../db.ts';
import { STARTED_STATUSES, type RunRecord, type RunStatus, type Trigger } from '../types.ts';
import { RUN_COLUMNS } from './run-columns.ts';
import { insertRunsReturning } from './run-writes.ts';

export interface NewRun {
  run_id: string;
  job: string;
  /** The revision is looked up by the definition's hash, so an offline-buffered run still links to it. */
  job_content_hash: string | null;
  trigger: Trigger;
  triggered_by: string | null;
  params: Record<string, unknown>;
  status: RunStatus;
  attempt?: number;
  retry_of?: string | null;
  executor: string;
  executor_ref?: Record<string, unknown>;
  image?: string | null;
  command?: string[] | null;
  tenant?: string | null;
  labels?: Record<string, string>;
  created_at: Date;
  idempotency_key?: string | null;
}

export interface EventInput {
  event_id: string;
  at: Date;
  type: string;
  actor: string | null;
  detail?: Record<string, unknown>;
}

/**
 * Inserts a run and its `created` event (insertRunsReturning's one statement); false, writing nothing,
 * when the run_id is already there (a replayed record). A taken idempotency key is an error (23505):
 * a runner recording its own run has no earlier run to fall back to.
 */
export async function insertRun(db: Queryable, run: NewRun, event: EventInput): Promise<boolean> {
  const [row] = await insertRunsReturning(db, [{ run, event }], new Date(), { idempotencyConflict: 'fail' });
  return row != null;
}

/** Columns a transition may set alongside the status. */
export interface RunPatch {
  started_at?: Date;
  finished_at?: Date;
  heartbeat_at?: Date;
  exit_code?: number | null;
  signal?: string | null;
  error_type?: string | null;
  error_message?: string | null;
  error_tail?: string | null;
  outputs?: Record<string, unknown>;
  metrics?: Record<string, number>;
  executor_ref?: Record<string, unknown>;
  params?: Record<string, unknown>;
  image?: string | null;
  log_bytes?: number;
  log_dropped_bytes?: number;
}

const JSON_COLUMNS = new Set(['outputs', 'metrics', 'executor_ref', 'params']);
const PATCH_COLUMNS = new Set([
  'started_at', 'finished_at', 'heartbeat_at', 'exit_code', 'signal', 'error_type', 'error_message', 'error_tail',
  'outputs', 'metrics', 'executor_ref', 'params', 'image', 'log_bytes', 'log_dropped_bytes',
]);

export interface TransitionResult {
  /** True when this call moved the run; false when it was not in one of the `from` states. */
  changed: boolean;
  /** The run's status after the call (null: no such run). */
  status: RunStatus | null;
}

/**
 * Compare-and-set of a run's status: moves it to `to` only if it is in one of `from`, and writes the
 * transition's run event in the same statement, so a status never changes without its audit record.
 */
export async function transitionRun(
  db: Queryable,
  runId: string,
  from: readonly RunStatus[],
  to: RunStatus,
  patch: RunPatch,
  event: EventInput,
): Promise<TransitionResult> {
  const params: unknown[] = [runId, from, to, event.event_id, event.at, event.type, event.actor, jsonb(event.detail ?? {})];
  const sets = ['status = $3'];
  for (const [column, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (!PATCH_COLUMNS.has(column)) throw new Error(`transitionRun: ${column} is not a patchable column`);
    params.push(JSON_COLUMNS.has(column) ? jsonb(value) : value);
    sets.push(`${column} = $${params.length}${JSON_COLUMNS.has(column) ? '::jsonb' : ''}`);
  }
  const [row] = await db.query<{ changed_from: RunStatus | null; current: RunStatus | null }>(
    `WITH prev AS (
       SELECT run_id, status FROM runs WHERE run_id = $1 FOR UPDATE
     ), upd AS (
       UPDATE runs r SET ${sets.join(', ')}
       FROM prev WHERE r.run_id = prev.run_id AND prev.status = ANY ($2::text[])
       RETURNING prev.status AS from_status
     ), ev AS (
       INSERT INTO run_events (event_id, run_id, at, type, from_status, to_status, actor, detail)
       SELECT $4, $1, $5, $6, upd.from_status, $3, $7, $8::jsonb FROM upd
       ON CONFLICT (event_id) DO NOTHING
       RETURNING 1
     )
     SELECT (SELECT from_status FROM upd) AS changed_from,
            COALESCE((SELECT $3::text FROM upd), (SELECT status FROM prev)) AS current`,
    params,
  );
  return { changed: row?.changed_from != null, status: row?.current ?? null };
}

/** Updates a live run's heartbeat; a finished run is left alone. */
export async function touchHeartbeat(db: Queryable, runId: string, at: Date): Promise<void> {
  await db.query(
    `UPDATE runs SET heartbeat_at = $2 WHERE run_id = $1 AND status = ANY ($3::text[])
       AND (heartbeat_at IS NULL OR heartbeat_at < $2)`,
    [runId, at, STARTED_STATUSES],
  );
}

/** Records the stored log size of a run (any state: the log of a finished run may still be flushing). */
export async function setLogTotals(db: Queryable, runId: string, logBytes: number, droppedBytes: number): Promise<void> {
  await db.query('UPDATE runs SET log_bytes = $2, log_dropped_bytes = $3 WHERE run_id = $1', [runId, logBytes, droppedBytes]);
}

/** Appends an event that is not a status transition (a warning, an action). Idempotent by event_id. */
export async function insertEvent(
  db: Queryable,
  runId: string,
  event: EventInput,
  fromStatus: RunStatus | null = null,
  toStatus: RunStatus | null = null,
): Promise<void> {
  await db.query(
    `INSERT INTO run_events (event_id, run_id, at, type, from_status, to_status, actor, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT (event_id) DO NOTHING`,
    [event.event_id, runId, event.at, event.type, fromStatus, toStatus, event.actor, jsonb(event.detail ?? {})],
  );
}

/** Fetches one run, or null. */
export async function getRun(db: Queryable, runId: string): Promise<RunRecord | null> {
  const [row] = await db.query<RunRecord & Record<string, unknown>>(`SELECT ${RUN_COLUMNS} FROM runs WHERE run_id = $1`, [runId]);
  return row ?? null;
}
