import type { Queryable } from '../db.ts';
import { STARTED_STATUSES, type RunStatus } from '../types.ts';

/** A `starting`/`running` run and the last time anything showed it was alive. */
export interface SilentRun {
  run_id: string;
  job: string;
  status: RunStatus;
  executor: string;
  executor_ref: Record<string, unknown>;
  /** The latest of its heartbeat, start, creation and entry into its current status. */
  last_sign_at: Date;
}

/**
 * Live runs with no sign of life since `before`, oldest silence first, locked until the transaction
 * ends so that a heartbeat arriving meanwhile waits and then finds the run no longer live. A run is
 * alive as of its last heartbeat, start, or entry into its current status: an executor may adopt a
 * run that was queued for hours, and its created_at says nothing about its runner. Rows another
 * session is updating right now (a heartbeat being written) are skipped, not waited for: that runner
 * is alive. Only live runs are looked at, which the partial index runs_live_idx holds: a handful,
 * however long the history.
 */
export async function lockSilentRuns(tx: Queryable, before: Date, limit: number): Promise<SilentRun[]> {
  return tx.query<SilentRun & Record<string, unknown>>(
    `SELECT r.run_id::text AS run_id, r.job, r.status, r.executor, r.executor_ref, s.last_sign_at
     FROM runs r,
          LATERAL (SELECT greatest(r.heartbeat_at, r.started_at, r.created_at,
                                   (SELECT max(e.at) FROM run_events e WHERE e.run_id = r.run_id AND e.to_status = r.status))
                          AS last_sign_at) s
     WHERE r.status = ANY ($3::text[]) AND s.last_sign_at < $1
     ORDER BY s.last_sign_at, r.run_id
     LIMIT $2
     FOR UPDATE OF r SKIP LOCKED`,
    [before, limit, STARTED_STATUSES],
  );
}
