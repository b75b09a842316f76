// Read queries over `runs` for the API and the CLI: the one filtered, keyset-paginated list and the
// status probe the log stream polls.
import type { Queryable } from '../db.ts';
import { jsonb } from '../db.ts';
import { NOTIFIED_STATUSES, type RunRecord, type RunStatus, type Trigger } from '../types.ts';
import { RUN_COLUMNS } from './run-columns.ts';

// The run columns plus `cursor_at`: created_at as text with microseconds, because a JS Date keeps
// only milliseconds and a cursor rounded to them would skip rows.
const LIST_COLUMNS = `${RUN_COLUMNS},
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
  /** At most this many rows (default 50). */
  limit?: number;
}

export type ListedRun = RunRecord & { cursor_at: string };

/** Lists runs newest first (created_at, then run_id, both descending) matching every given filter. */
export async function listRuns(db: Queryable, query: RunQuery = {}): Promise<ListedRun[]> {
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
     ORDER BY created_at DESC, run_id DESC LIMIT ${param(query.limit ?? 50)}`,
    params,
  );
}

/** A run's current status, or null when there is no such run. */
export async function getRunStatus(db: Queryable, runId: string): Promise<RunStatus | null> {
  const [row] = await db.query<{ status: RunStatus }>('SELECT status FROM runs WHERE run_id = $1', [runId]);
  return row?.status ?? null;
}

/** Runs whose id starts with the given prefix, newest first: at most `limit` of them. */
export async function findRunsByPrefix(db: Queryable, prefix: string, limit = 2): Promise<string[]> {
  const rows = await db.query<{ run_id: string }>(
    `SELECT run_id::text AS run_id FROM runs WHERE run_id::text LIKE $1 || '%' ORDER BY created_at DESC LIMIT $2`,
    [prefix.toLowerCase(), limit],
  );
  return rows.map((row) => row.run_id);
}

/** The id of the job's run with this run number, or null. */
export async function findRunByNumber(db: Queryable, job: string, runNumber: number): Promise<string | null> {
  const [row] = await db.query<{ run_id: string }>(
    'SELECT run_id::text AS run_id FROM runs WHERE job = $1 AND run_number = $2',
    [job, runNumber],
  );
  return row?.run_id ?? null;
}

/**
 * The status of the job's last finished run before this one (cancelled runs do not count: someone
 * chose them), or null when it has none. Ordered by when they finished, as a person reads a history.
 */
export async function previousOutcome(db: Queryable, job: string, runId: string): Promise<string | null> {
  const [row] = await db.query<{ status: string }>(
    `SELECT p.status FROM runs r JOIN runs p ON p.job = r.job
     WHERE r.run_id = $2 AND p.job = $1 AND p.run_id <> r.run_id
       AND p.status = ANY ($3::text[])
       AND (coalesce(p.finished_at, p.created_at), p.run_id) < (coalesce(r.finished_at, r.created_at), r.run_id)
     ORDER BY coalesce(p.finished_at, p.created_at) DESC, p.run_id DESC LIMIT 1`,
    [job, runId, NOTIFIED_STATUSES],
  );
  return row?.status ?? null;
}

/** Durations and metrics of the job's last `limit` successful runs that finished before `before`, excluding `runId`. */
export async function recentSuccesses(
  db: Queryable,
  job: string,
  runId: string,
  before: Date,
  limit: number,
): Promise<{ duration_ms: number | null; metrics: Record<string, unknown> }[]> {
  const rows = await db.query<{ duration_ms: number | null; metrics: Record<string, unknown> }>(
    `SELECT (extract(epoch FROM finished_at - started_at) * 1000)::float8 AS duration_ms, metrics
     FROM runs
     WHERE job = $1 AND status = 'succeeded' AND run_id <> $2 AND finished_at <= $3
     ORDER BY finished_at DESC, run_id DESC LIMIT $4`,
    [job, runId, before, limit],
  );
  return rows.map((row) => ({ duration_ms: row.duration_ms === null ? null : Number(row.duration_ms), metrics: row.metrics ?? {} }));
}

/** The runs with these ids (those that exist), in no particular order: a page refreshing its live rows. */
export async function listRunsByIds(db: Queryable, runIds: readonly string[]): Promise<RunRecord[]> {
  if (runIds.length === 0) return [];
  return db.query<RunRecord & Record<string, unknown>>(
    `SELECT ${RUN_COLUMNS} FROM runs WHERE run_id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)`,
    [JSON.stringify(runIds)],
  );
}

/** What the jobs page shows of a recent run: its name and link, status, and duration (last run and sparkline). */
export type RecentRun = Pick<RunRecord, 'run_id' | 'job' | 'run_number' | 'status' | 'created_at' | 'started_at' | 'finished_at'>;

/** The newest `limit` runs of each job, newest first within each job, in one statement (the jobs page's sparklines). */
export async function listRecentRunsOfJobs(db: Queryable, jobs: readonly string[], limit: number): Promise<RecentRun[]> {
  if (jobs.length === 0) return [];
  // LATERAL with LIMIT per job: each job reads its newest rows from the (job, created_at) index, whatever its history.
  // Only the columns the page shows: 50 jobs x 20 runs of every column (params, labels, outputs, metrics as
  // JSON) made parsing the rows the page's largest cost in the server (docs/benchmarks.md, jobs page profile).
  // Ordered by the uuid itself (runs.run_id), the index's own order; its text form sorts the same.
  return db.query<RecentRun & Record<string, unknown>>(
    `SELECT r.run_id::text AS run_id, r.job, r.run_number, r.status, r.created_at, r.started_at, r.finished_at
     FROM (SELECT DISTINCT name FROM jsonb_array_elements_text($1::jsonb) AS j(name)) AS j
     CROSS JOIN LATERAL (
       SELECT runs.run_id, runs.job, runs.run_number, runs.status, runs.created_at, runs.started_at, runs.finished_at
       FROM runs WHERE runs.job = j.name ORDER BY runs.created_at DESC, runs.run_id DESC LIMIT $2
     ) AS r
     ORDER BY r.job, r.created_at DESC, r.run_id DESC`,
    [JSON.stringify(jobs), limit],
  );
}
