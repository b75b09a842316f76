// Queries by which executors (local, Kubernetes: its executor, watcher and reconciler) find their
// runs and note where each one lives: the queue, the runs they adopted, the executor reference.
import type { Queryable } from '../db.ts';
import { jsonb } from '../db.ts';
import type { RunRecord } from '../types.ts';
import { LIVE_STATUSES, STARTED_STATUSES } from '../types.ts';
import { RUN_COLUMNS } from './run-columns.ts';

/**
 * Adds keys to a run's executor_ref (namespace, Job, pod, image digest), keeping the ones the runner
 * wrote (host, pid). Writes nothing when they are already there, so every watch event may call it.
 */
export async function mergeExecutorRef(db: Queryable, runId: string, ref: Record<string, unknown>, image: string | null = null): Promise<void> {
  await db.query(
    `UPDATE runs SET executor_ref = executor_ref || $2::jsonb, image = COALESCE(image, $3)
     WHERE run_id = $1 AND (NOT executor_ref @> $2::jsonb OR (image IS NULL AND $3::text IS NOT NULL))`,
    [runId, jsonb(ref), image],
  );
}

/** Who asked to cancel the run (the latest `cancel_requested` event), or null. */
export async function cancelRequestedBy(db: Queryable, runId: string): Promise<string | null> {
  const [row] = await db.query<{ actor: string | null }>(
    `SELECT actor FROM run_events WHERE run_id = $1 AND type = 'cancel_requested' ORDER BY at DESC LIMIT 1`,
    [runId],
  );
  return row ? (row.actor ?? 'unknown') : null;
}

/** Queued runs of an executor in the order they were accepted, with their job (which names a Kubernetes Job). */
export async function listQueuedRuns(db: Queryable, executor: string): Promise<{ run_id: string; job: string; created_at: Date }[]> {
  return db.query<{ run_id: string; job: string; created_at: Date }>(
    `SELECT run_id::text AS run_id, job, created_at FROM runs WHERE status = $2 AND executor = $1 ORDER BY created_at, run_id`,
    [executor, 'queued'],
  );
}

/**
 * Live runs that an executor of this kind took from the queue (created `queued`, then adopted by
 * its runner). Runs a `kubescribe run` in a terminal created itself are not among them: their own
 * runner supervises them.
 */
export async function listAdoptedLiveRuns(db: Queryable, executor: string): Promise<RunRecord[]> {
  return db.query<RunRecord & Record<string, unknown>>(
    `SELECT ${RUN_COLUMNS} FROM runs r
     WHERE r.status = ANY ($2::text[]) AND r.executor = $1
       AND EXISTS (SELECT 1 FROM run_events e
                   WHERE e.run_id = r.run_id AND e.type = 'created' AND e.to_status = $3)
     ORDER BY r.created_at, r.run_id`,
    [executor, STARTED_STATUSES, 'queued'],
  );
}

/** Which of these run ids the RunLog knows. */
export async function knownRunIds(db: Queryable, runIds: string[]): Promise<Set<string>> {
  if (runIds.length === 0) return new Set();
  const rows = await db.query<{ run_id: string }>(
    `SELECT run_id::text AS run_id FROM runs WHERE run_id::text IN (SELECT jsonb_array_elements_text($1::jsonb))`,
    [jsonb(runIds)],
  );
  return new Set(rows.map((row) => row.run_id));
}

/**
 * The live run whose runner reported running in this pod: how a pod of a Job its CronJob started
 * (no run-id label; its runner created the run) is matched to its run.
 */
export async function findLiveRunByPod(db: Queryable, namespace: string, pod: string): Promise<string | null> {
  const [row] = await db.query<{ run_id: string }>(
    `SELECT run_id::text AS run_id FROM runs
     WHERE status = ANY ($2::text[]) AND executor = 'kubernetes' AND executor_ref @> $1::jsonb
     ORDER BY created_at DESC LIMIT 1`,
    [jsonb({ namespace, pod }), LIVE_STATUSES],
  );
  return row?.run_id ?? null;
}
