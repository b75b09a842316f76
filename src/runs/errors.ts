// Domain errors of triggering, cancelling and retrying runs. They carry the facts (which job, which
// run) but no HTTP: the API maps them to status codes, the scheduler to slot states.
import type { RunStatus } from '../runlog/types.ts';

/** The job is not declared in the config this process loaded. */
export class JobNotFoundError extends Error {
  constructor(readonly job: string) {
    // The usual cause is a file edited after the server loaded it: say how to make the server see it.
    super(`no job ${job}: it is not declared in the kubescribe.yaml this server loaded (just added it? \`kubescribe dev\` `
      + 'reloads the file when it changes and prints any error in it; `kubescribe serve` reloads on SIGHUP, or restart it)');
    this.name = 'JobNotFoundError';
  }
}

/** The job's `Forbid` policy refused a new run because `running_run_id` is live. */
export class ConcurrencyConflictError extends Error {
  constructor(
    readonly job: string,
    readonly running_run_id: string,
    readonly running_status: RunStatus,
  ) {
    super(`job ${job} has concurrency_policy Forbid and run ${running_run_id} is ${running_status}; the trigger was skipped`);
    this.name = 'ConcurrencyConflictError';
  }
}

/** The RunLog has no run with this id. */
export class RunNotFoundError extends Error {
  constructor(readonly run_id: string) {
    super(`no run ${run_id}`);
    this.name = 'RunNotFoundError';
  }
}

/** What was asked cannot be done in the run's current state; `code` says which rule it broke. */
export class RunStateConflictError extends Error {
  constructor(
    readonly code: 'run_finished' | 'run_not_finished' | 'not_cancellable',
    readonly run_id: string,
    readonly status: RunStatus,
    message: string,
  ) {
    super(message);
    this.name = 'RunStateConflictError';
  }
}

/** An idempotency key already names a run of another job, or with other params. */
export class IdempotencyConflictError extends Error {
  constructor(
    readonly idempotency_key: string,
    readonly run_id: string,
  ) {
    super(`idempotency key ${JSON.stringify(idempotency_key)} was already used by run ${run_id} with another job or other params`);
    this.name = 'IdempotencyConflictError';
  }
}
