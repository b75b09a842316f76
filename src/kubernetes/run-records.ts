// The RunLog queries of the Kubernetes executor, watcher and reconciler (kept beside them rather than
// in src/runlog/sql/ because nothing else uses them).
import type { Queryable } from '../runlog/db.ts';
import { jsonb } from '../runlog/db.ts';

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

/** Queued runs of the Kubernetes executor, oldest first, with the job that names their Job. */
export async function listQueuedRuns(db: Queryable, executor: string): Promise<{ run_id: string; job: string; created_at: Date }[]> {
  return db.query<{ run_id: string; job: string; created_at: Date }>(
    `SELECT run_id::text AS run_id, job, created_at FROM runs WHERE status = 'queued' AND executor = $1 ORDER BY created_at, run_id`,
    [executor],
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
     WHERE status IN ('queued', 'starting', 'running') AND executor = 'kubernetes' AND executor_ref @> $1::jsonb
     ORDER BY created_at DESC LIMIT 1`,
    [jsonb({ namespace, pod })],
  );
  return row?.run_id ?? null;
}
