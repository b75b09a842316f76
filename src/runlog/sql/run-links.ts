// Queries of the runs a run page links to: the retries of a run (its `retry_of` children) and the
// job's last successful run, whose params a "rerun with changes" is compared with.
import type { Queryable } from '../db.ts';
import type { RunStatus } from '../types.ts';

/** Enough of a run to link to it. */
export interface RunLink {
  run_id: string;
  job: string;
  run_number: number;
  status: RunStatus;
  attempt: number;
  created_at: Date;
}

const LINK_COLUMNS = 'run_id::text AS run_id, job, run_number, status, attempt, created_at';

/** The runs that retry `runId` (automatic or by hand), oldest first, at most `limit` (runs_retry_of_idx). */
export async function listRetriesOf(db: Queryable, runId: string, limit = 20): Promise<RunLink[]> {
  return db.query<RunLink & Record<string, unknown>>(
    `SELECT ${LINK_COLUMNS} FROM runs WHERE retry_of = $1 ORDER BY created_at, run_id LIMIT $2`,
    [runId, limit],
  );
}

/** One run as a link, or null. */
export async function getRunLink(db: Queryable, runId: string): Promise<RunLink | null> {
  const [row] = await db.query<RunLink & Record<string, unknown>>(`SELECT ${LINK_COLUMNS} FROM runs WHERE run_id = $1`, [runId]);
  return row ?? null;
}

/** The job's newest succeeded run with its params, or null (runs_job_created_idx, newest first). */
export async function lastSucceededRun(db: Queryable, job: string): Promise<(RunLink & { params: Record<string, unknown> }) | null> {
  const [row] = await db.query<RunLink & { params: Record<string, unknown> } & Record<string, unknown>>(
    `SELECT ${LINK_COLUMNS}, params FROM runs WHERE job = $1 AND status = 'succeeded'
     ORDER BY created_at DESC, run_id DESC LIMIT 1`,
    [job],
  );
  return row ?? null;
}
