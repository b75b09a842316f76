// Queries of retention (migration 0011, docs/reporting.md#retention): each removes one bounded batch
// of rows, so that no statement holds its locks long or deletes millions of rows at once.
import type { Queryable } from '../db.ts';
import type { RunStatus } from '../types.ts';

/** What one batch of log pruning did. */
export interface LogPruneBatch {
  /** Log chunks deleted (at most the chunk limit). */
  chunks: number;
  /** Runs whose log is now gone entirely and that were marked `log_pruned_at`. */
  runs: number;
  /** Runs the batch looked at (at most the run limit): a full batch means more may be waiting. */
  candidates: number;
}

/**
 * Deletes up to `maxChunks` log chunks of the (up to `maxRuns`) oldest runs finished before `cutoff`
 * whose log is still stored, and marks those left without any chunk as pruned. A run with a long log
 * takes several batches; it is marked only once its last chunk is gone.
 */
export async function pruneLogBatch(tx: Queryable, cutoff: Date, maxRuns: number, maxChunks: number): Promise<LogPruneBatch> {
  const candidates = await tx.query<{ run_id: string }>(
    `SELECT run_id::text AS run_id FROM runs
     WHERE log_pruned_at IS NULL AND finished_at IS NOT NULL AND finished_at < $1
     ORDER BY finished_at LIMIT $2`,
    [cutoff, maxRuns],
  );
  if (candidates.length === 0) return { chunks: 0, runs: 0, candidates: 0 };
  const ids = candidates.map((row) => row.run_id);
  const [deleted] = await tx.query<{ count: number }>(
    `WITH doomed AS (
       DELETE FROM run_logs WHERE (run_id, seq) IN (SELECT run_id, seq FROM run_logs WHERE run_id = ANY ($1::uuid[]) LIMIT $2)
       RETURNING 1
     ) SELECT count(*)::int AS count FROM doomed`,
    [ids, maxChunks],
  );
  const marked = await tx.query<{ run_id: string }>(
    `UPDATE runs r SET log_pruned_at = now()
     WHERE r.run_id = ANY ($1::uuid[]) AND r.log_pruned_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM run_logs l WHERE l.run_id = r.run_id)
     RETURNING r.run_id::text AS run_id`,
    [ids],
  );
  return { chunks: Number(deleted?.count ?? 0), runs: marked.length, candidates: candidates.length };
}

/** What one batch of outbox pruning did. */
export interface NotificationPruneBatch { deliveries: number; attempts: number; events: number }

/**
 * Deletes up to `maxRows` finished deliveries (sent, failed, suppressed) created before `cutoff` with
 * their attempts, then up to `maxRows` events dispatched before `cutoff` that no delivery refers to.
 * Pending and sending deliveries, and undispatched events, are never touched.
 */
export async function pruneNotificationBatch(tx: Queryable, cutoff: Date, maxRows: number): Promise<NotificationPruneBatch> {
  const [deliveries] = await tx.query<{ deliveries: number; attempts: number }>(
    `WITH doomed AS (
       SELECT delivery_id FROM notification_deliveries
       WHERE state IN ('sent', 'failed', 'suppressed') AND created_at < $1
       ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
     ), attempts AS (
       DELETE FROM notification_attempts a USING doomed WHERE a.delivery_id = doomed.delivery_id RETURNING 1
     ), deliveries AS (
       DELETE FROM notification_deliveries d USING doomed WHERE d.delivery_id = doomed.delivery_id RETURNING 1
     )
     SELECT (SELECT count(*) FROM deliveries)::int AS deliveries, (SELECT count(*) FROM attempts)::int AS attempts`,
    [cutoff, maxRows],
  );
  const [events] = await tx.query<{ count: number }>(
    `WITH doomed AS (
       SELECT event_id FROM notification_events e
       WHERE e.dispatched_at IS NOT NULL AND e.dispatched_at < $1
         AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.event_id = e.event_id)
       ORDER BY e.dispatched_at LIMIT $2 FOR UPDATE SKIP LOCKED
     ), deleted AS (
       DELETE FROM notification_events e USING doomed WHERE e.event_id = doomed.event_id RETURNING 1
     ) SELECT count(*)::int AS count FROM deleted`,
    [cutoff, maxRows],
  );
  return { deliveries: Number(deliveries?.deliveries ?? 0), attempts: Number(deliveries?.attempts ?? 0), events: Number(events?.count ?? 0) };
}

/** A run's status with what retention needs to know about its log; null when there is no such run. */
export async function runLogState(db: Queryable, runId: string): Promise<{ status: RunStatus; finished_at: Date | null; log_pruned_at: Date | null } | null> {
  const [row] = await db.query<{ status: RunStatus; finished_at: Date | null; log_pruned_at: Date | null }>(
    'SELECT status, finished_at, log_pruned_at FROM runs WHERE run_id = $1',
    [runId],
  );
  return row ?? null;
}
