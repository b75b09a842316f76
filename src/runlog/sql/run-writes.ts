// The one insert of runs (single runs, the trigger service's batches, a runner's own run) and the
// trigger service's other queries: idempotency, the job-row lock and the concurrency policy's view of
// a job's live runs.
import type { Queryable } from '../db.ts';
import { LIVE_STATUSES, type RunRecord, type RunStatus } from '../types.ts';
import { RUN_COLUMNS } from './run-columns.ts';
import type { EventInput, NewRun } from './runs.ts';
import { withLockTimeout } from './lock-wait.ts';
import { hashToken, liveTokenSql, scopeAllows, TOKEN_SCOPES, touchTokenSql } from './tokens.ts';

/**
 * Inserts a run and its `created` event in one statement (so it also works inside a caller's
 * transaction) and returns the new row. Returns null, writing nothing, when the run_id or the
 * idempotency key is already taken.
 */
export async function insertRunReturning(db: Queryable, run: NewRun, event: EventInput): Promise<RunRecord | null> {
  const [row] = await insertRunsReturning(db, [{ run, event }]);
  return row ?? null;
}

/**
 * A run to insert with its `created` event. With `token`, the run is written only if that API token
 * is live with at least `trigger` scope, and its owner (`token:<name>`) becomes triggered_by and the
 * event's actor: the token check and the write are one statement.
 */
export interface RunInsert {
  run: NewRun;
  event: EventInput;
  token?: string;
}

// The scopes that may trigger, from the one definition of what a scope allows.
const TRIGGER_SCOPES = TOKEN_SCOPES.filter((scope) => scopeAllows(scope, 'trigger'));

/**
 * Inserts several runs, each with its `created` event, in one statement: the new rows in input
 * order, null for a run whose run_id or idempotency key was already taken (also by an earlier run of
 * the same batch) or whose token is not good. One failing row fails the statement, and so all of them.
 * `idempotencyConflict: 'fail'` makes a taken idempotency key a unique violation (23505) instead of a null.
 */
export async function insertRunsReturning(
  db: Queryable,
  entries: RunInsert[],
  now: Date = new Date(),
  { idempotencyConflict = 'skip' }: { idempotencyConflict?: 'skip' | 'fail' } = {},
): Promise<Array<RunRecord | null>> {
  // One jsonb parameter whatever the batch size: the statement text stays the same, and both
  // engines read it with the same jsonb_to_recordset.
  const input = entries.map(({ run, event, token }, ord) => ({
    ord,
    token_hash: token === undefined ? null : hashToken(token),
    run_id: run.run_id, job: run.job, content_hash: run.job_content_hash, trigger: run.trigger, triggered_by: run.triggered_by,
    params: run.params, status: run.status, attempt: run.attempt ?? 1, retry_of: run.retry_of ?? null, executor: run.executor,
    executor_ref: run.executor_ref ?? {}, image: run.image ?? null, command: run.command ?? null, tenant: run.tenant ?? null,
    labels: run.labels ?? {}, created_at: run.created_at, idempotency_key: run.idempotency_key ?? null,
    event_id: event.event_id, event_at: event.at, event_type: event.type, actor: event.actor, detail: event.detail ?? {},
  }));
  const rows = await db.query<RunRecord & Record<string, unknown>>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
         token_hash text, run_id uuid, job text, content_hash text, trigger text, triggered_by text, params jsonb, status text, attempt int,
         retry_of uuid, executor text, executor_ref jsonb, image text, command jsonb, tenant text, labels jsonb,
         created_at timestamptz, idempotency_key text, event_id uuid, event_at timestamptz, event_type text, actor text,
         detail jsonb, ord int)
     ), ins AS (
       INSERT INTO runs (run_id, job, job_revision, trigger, triggered_by, params, status, attempt, retry_of,
                         executor, executor_ref, image, command, tenant, labels, created_at, idempotency_key)
       SELECT i.run_id, i.job,
              (SELECT max(revision) FROM job_revisions r WHERE r.job = i.job AND r.content_hash = i.content_hash),
              i.trigger, CASE WHEN i.token_hash IS NULL THEN i.triggered_by ELSE 'token:' || t.name END,
              i.params, i.status, i.attempt, i.retry_of, i.executor, i.executor_ref, i.image,
              i.command, i.tenant, i.labels, i.created_at, i.idempotency_key
       FROM input i LEFT JOIN api_tokens t ON t.token_hash = i.token_hash
       WHERE i.token_hash IS NULL
          OR (${liveTokenSql('t', '$2')} AND t.scope = ANY ($3::text[]))
       -- Input order, so that of two rows with one idempotency key the earlier one is written.
       ORDER BY i.ord
       ON CONFLICT ${idempotencyConflict === 'skip' ? '' : '(run_id) '}DO NOTHING
       RETURNING *
     ), ev AS (
       INSERT INTO run_events (event_id, run_id, at, type, from_status, to_status, actor, detail)
       SELECT i.event_id, ins.run_id, i.event_at, i.event_type, NULL, ins.status,
              CASE WHEN i.token_hash IS NULL THEN i.actor ELSE ins.triggered_by END, i.detail
       FROM ins JOIN input i ON i.run_id = ins.run_id
     ), touched AS (
       -- Last use, by the same rule as touchToken for other requests.
       UPDATE api_tokens SET ${touchTokenSql('$2')}
         AND token_hash IN (SELECT i.token_hash FROM input i JOIN ins ON ins.run_id = i.run_id)
     )
     SELECT ${RUN_COLUMNS} FROM ins`,
    [JSON.stringify(input), now, TRIGGER_SCOPES],
  );
  const byId = new Map(rows.map((row) => [row.run_id, row as RunRecord]));
  return entries.map(({ run }) => byId.get(run.run_id) ?? null);
}

/**
 * insertRunsReturning for a batch of unrelated triggers: when the statement fails, each run is tried
 * on its own, so one bad row fails only its own trigger (as its Error), never its neighbours.
 */
export async function insertRunsIsolated(db: Queryable, entries: RunInsert[]): Promise<Array<RunRecord | null | Error>> {
  try {
    return await insertRunsReturning(db, entries);
  } catch (error) {
    if (entries.length === 1) throw error;
    return Promise.all(entries.map((entry) =>
      insertRunsReturning(db, [entry]).then(([row]) => row ?? null).catch((failure: unknown) => (failure instanceof Error ? failure : new Error(String(failure))))));
  }
}

/** The run an idempotency key created, or null. */
export async function findRunByIdempotencyKey(db: Queryable, key: string): Promise<RunRecord | null> {
  const [row] = await db.query<RunRecord & Record<string, unknown>>(
    `SELECT ${RUN_COLUMNS} FROM runs WHERE idempotency_key = $1`,
    [key],
  );
  return row ?? null;
}

// How long a trigger waits for another trigger (or run insert) of the same job. Each holds the row
// for one short transaction (a few ms); five seconds is a queue of hundreds, or a holder that hung.
export const JOB_ROW_LOCK_TIMEOUT_MS = 5_000;

/**
 * Locks the job's row until the transaction ends: triggers of one job that apply a concurrency
 * policy queue up here, so "is a run live?" and "insert the new run" act as one step. Waits at most
 * `timeoutMs`, then throws a LockTimeoutError naming the session that holds the row.
 */
export async function lockJobRow(tx: Queryable, job: string, timeoutMs: number = JOB_ROW_LOCK_TIMEOUT_MS): Promise<void> {
  await withLockTimeout(tx, { kind: 'row', description: `the row of job ${job}`, table: 'jobs', key: job }, timeoutMs,
    () => tx.query('SELECT name FROM jobs WHERE name = $1 FOR UPDATE', [job]));
}

/** The job's queued, starting and running runs, oldest first. */
export async function listLiveRuns(db: Queryable, job: string): Promise<{ run_id: string; status: RunStatus }[]> {
  return db.query<{ run_id: string; status: RunStatus }>(
    `SELECT run_id::text AS run_id, status FROM runs
     WHERE job = $1 AND status = ANY ($2::text[])
     ORDER BY created_at, run_id`,
    [job, LIVE_STATUSES],
  );
}
