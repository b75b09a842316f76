// Retrying a finished run: a new run of the same job, linked to the old one.
import { getRun } from '../runlog/sql/runs.ts';
import { isTerminal } from '../runlog/types.ts';
import { RunNotFoundError, RunStateConflictError } from './errors.ts';
import { triggerRun, type TriggerDeps, type TriggerResult } from './trigger-run.ts';

/**
 * Retries a finished run as a new run: trigger `retry`, `retry_of` the old run, the next attempt,
 * the old params with `params` merged over them.
 */
export async function retryRun(
  deps: TriggerDeps,
  runId: string,
  request: { params?: Record<string, unknown>; reason?: string | null; triggered_by: string },
): Promise<TriggerResult> {
  const old = await getRun(deps.db, runId);
  if (!old) throw new RunNotFoundError(runId);
  if (!isTerminal(old.status)) {
    throw new RunStateConflictError('run_not_finished', runId, old.status, `run ${runId} is still ${old.status}; only a finished run can be retried`);
  }
  return triggerRun(deps, {
    job: old.job,
    params: { ...old.params, ...(request.params ?? {}) },
    reason: request.reason ?? null,
    trigger: 'retry',
    triggered_by: request.triggered_by,
    retry_of: old.run_id,
    attempt: old.attempt + 1,
  });
}
