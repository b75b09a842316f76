// Read queries of the API over `runs`: the filtered, keyset-paginated list and the status probe the
// log stream polls.
import type { Queryable } from '../db.ts';
import { jsonb } from '../db.ts';
import type { RunRecord, RunStatus, Trigger } from '../types.ts';

// Same columns as getRun in runs.ts, plus `cursor_at`: created_at as text with microseconds, because
// a JS Date keeps only milliseconds and a cursor rounded to them would skip rows.
const LIST_COLUMNS = `run_id::text AS run_id, job, job_revision, trigger, triggered_by, params, status, attempt,
  retry_of::text AS retry_of, executor, executor_ref, image, command, tenant, labels, created_at, started_at,
  finished_at, heartbeat_at, exit_code, signal, error_type, error_message, error_tail, outputs, metrics,
  idempotency_key, log_bytes, log_dropped_bytes,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at`;

export interface RunQuery {
  job?: string;
  status?: RunStatus;
  trigger?: Trigger;
  /** Runs whose labels contain this key with this value. */
  label?: { key: string; value: string };
  /** created_at >= since. */
  since?: Date;
  /** created_at < until. */
  until?: Date;
  /** Only runs strictly after this position in the newest-first order (the previous page's last row). */
  before?: { created_at: string; run_id: string };
  limit: number;
}

export type ListedRun = RunRecord & { cursor_at: string };

/** Lists runs newest first (created_at, then run_id, both descending) matching every given filter. */
export async function queryRuns(db: Queryable, query: RunQuery): Promise<ListedRun[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (query.job !== undefined) where.push(`job = ${param(query.job)}`);
  if (query.status !== undefined) where.push(`status = ${param(query.status)}`);
  if (query.trigger !== undefined) where.push(`trigger = ${param(query.trigger)}`);
  if (query.label !== undefined) where.push(`labels @> ${param(jsonb({ [query.label.key]: query.label.value }))}::jsonb`);
  if (query.since !== undefined) where.push(`created_at >= ${param(query.since)}`);
  if (query.until !== undefined) where.push(`created_at < ${param(query.until)}`);
  if (query.before !== undefined) {
    // A row comparison, so the (created_at DESC, run_id DESC) indexes serve it as one range scan.
    where.push(`(created_at, run_id) < (${param(query.before.created_at)}::timestamptz, ${param(query.before.run_id)}::uuid)`);
  }
  return db.query<ListedRun & Record<string, unknown>>(
    `SELECT ${LIST_COLUMNS} FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY created_at DESC, run_id DESC LIMIT ${param(query.limit)}`,
    params,
  );
}

/** A run's current status, or null when there is no such run. */
export async function getRunStatus(db: Queryable, runId: string): Promise<RunStatus | null> {
  const [row] = await db.query<{ status: RunStatus }>('SELECT status FROM runs WHERE run_id = $1', [runId]);
  return row?.status ?? null;
}
