// Cancelling a run on request (API, CLI): the queued case is decided here, a live process is the
// executor's to stop.
import { runEvent } from '../runlog/run-event.ts';
import { getRun, insertEvent, transitionRun } from '../runlog/sql/runs.ts';
import { isTerminal } from '../runlog/types.ts';
import { RunNotFoundError, RunStateConflictError } from './errors.ts';
import type { TriggerDeps } from './trigger-run.ts';

/**
 * Cancels a run: a queued one ends `cancelled` here; a starting or running one is stopped by its
 * executor, which records the outcome. Cancelling a cancelled run answers as the first time did.
 */
export async function cancelRun(deps: TriggerDeps, runId: string, actor: string): Promise<{ run_id: string; status: 'cancelled' | 'cancelling' }> {
  // A run can move while we look at it (a runner adopts it, it ends); each pass acts on a fresh read.
  for (let pass = 0; pass < 5; pass++) {
    const run = await getRun(deps.db, runId);
    if (!run) throw new RunNotFoundError(runId);
    if (run.status === 'cancelled') return { run_id: runId, status: 'cancelled' };
    if (isTerminal(run.status)) {
      throw new RunStateConflictError('run_finished', runId, run.status, `run ${runId} already finished (${run.status}); only a live run can be cancelled`);
    }
    if (run.status === 'queued') {
      const moved = await transitionRun(deps.db, runId, ['queued'], 'cancelled', {
        finished_at: new Date(),
        error_type: 'Cancelled',
        error_message: `cancelled by ${actor} before it started`,
      }, runEvent('cancelled', actor, {}));
      if (!moved.changed) continue;
      // An executor that took the run from its queue a moment ago stops it before its process runs.
      await deps.executor.cancel(runId, actor).catch(() => false);
      return { run_id: runId, status: 'cancelled' };
    }
    if (await deps.executor.cancel(runId, actor)) return { run_id: runId, status: 'cancelling' };
    const now = await getRun(deps.db, runId);
    if (now && !isTerminal(now.status)) {
      await insertEvent(deps.db, runId, runEvent('cancel_requested', actor, { delivered: false, executor: deps.executor.name }));
      throw new RunStateConflictError('not_cancellable', runId, now.status,
        `run ${runId} is ${now.status} but no process of it is reachable from this server (executor ${deps.executor.name}); ` +
          'it ends on its own, or is marked lost when its heartbeat stops');
    }
  }
  throw new Error(`run ${runId} kept changing state while being cancelled`);
}
