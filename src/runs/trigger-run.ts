// The one way a run is requested — by the API, the scheduler, a retry — so that every accepted
// trigger becomes exactly one run: written first as `queued`, dispatched after.
// Cancelling and retrying live beside it (cancel-run.ts, retry-run.ts); the per-database caches that
// make a trigger cheap in trigger-caches.ts.
import { isDeepStrictEqual } from 'node:util';
import { jobDefinitionHash, type ConcurrencyPolicy, type JobDefinition, type KubescribeConfig } from '../config/job-definition.ts';
import type { Executor } from '../executors/executor.ts';
import type { Db, Queryable } from '../runlog/db.ts';
import { runEvent } from '../runlog/run-event.ts';
import { listJobRevisions } from '../runlog/sql/jobs.ts';
import { findRunByIdempotencyKey, insertRunReturning, listLiveRuns, lockJobRow, type RunInsert } from '../runlog/sql/run-writes.ts';
import { insertEvent, transitionRun, type EventInput, type NewRun } from '../runlog/sql/runs.ts';
import type { RunRecord, RunStatus, Trigger } from '../runlog/types.ts';
import { uuidv7 } from '../runlog/uuidv7.ts';
import { InvalidParamsError } from '../runner/params.ts';
import { resolveParams } from '../runner/params-schema.ts';
import { ConcurrencyConflictError, IdempotencyConflictError, JobNotFoundError } from './errors.ts';
import { allowInserts, ensureJobSynced } from './trigger-caches.ts';

export { InvalidParamsError };

/**
 * The largest params a run may have, as JSON bytes (defaults applied). They are stored with the run,
 * shown in every list of runs and handed to the job's process; 64 KiB is far beyond what a job's
 * inputs need and well below the 128 KiB Linux allows one environment variable.
 */
export const MAX_PARAMS_BYTES = 64 * 1024;

/** What triggering needs: the RunLog, the loaded config, and where runs are sent. */
export interface TriggerDeps {
  db: Db;
  config: KubescribeConfig;
  executor: Executor;
}

/** One request for a run of a declared job. */
export interface TriggerRequest {
  job: string;
  params?: Record<string, unknown>;
  idempotency_key?: string | null;
  reason?: string | null;
  trigger: Trigger;
  triggered_by: string;
  /**
   * The caller's bearer token when it has not been checked yet (API triggers); `triggered_by` is then
   * ignored. An Allow trigger checks it in the statement that writes the run; every other path calls
   * `authenticate` first, which throws when the token is not good and returns the actor otherwise.
   */
  token?: string;
  authenticate?: () => Promise<string>;
  retry_of?: string | null;
  attempt?: number;
  dry_run?: boolean;
  /** Replaces the job's own policy for this trigger (automatic retries never replace a newer run). */
  concurrency_policy?: ConcurrencyPolicy;
}

/** What a dry run would start. Env values are never shown: they may be secrets. */
export interface DryRunPlan {
  job: string;
  params: Record<string, unknown>;
  command: string[];
  env_names: string[];
  executor: string;
  concurrency_policy: ConcurrencyPolicy;
  /** What the executor would create (the Kubernetes Job), for executors that can say. */
  manifest?: Record<string, unknown>;
}

/** The run a trigger created, or the one its idempotency key had created before. */
export interface TriggerResult {
  run: RunRecord | null;
  created: boolean;
  replaced_run_id?: string;
  replaced_run_ids?: string[];
  dry_run?: DryRunPlan;
}

type Outcome =
  | { kind: 'created'; run: RunRecord; replaced: { run_id: string; status: RunStatus }[] }
  | { kind: 'existing'; run: RunRecord }
  | { kind: 'forbidden'; live: { run_id: string; status: RunStatus } };

// Rolls back a policy transaction whose insert lost to the same idempotency key used for another job.
class KeyTaken extends Error {}

/**
 * Validates a trigger, applies the job's concurrency policy and idempotency key, writes the run as
 * `queued` with its `created` event, then hands it to the executor. A failed dispatch leaves the run
 * queued for the executor to pick up; it is never lost.
 */
export async function triggerRun(deps: TriggerDeps, request: TriggerRequest): Promise<TriggerResult> {
  const definition = deps.config.jobs.get(request.job);
  if (!definition) throw new JobNotFoundError(request.job);
  // Everything a request is checked against comes before the dry run returns, so a dry run that
  // passes means the real trigger passes these checks too.
  const params = resolveParams(definition.name, definition.params, request.params ?? {}, { coerce: false });
  checkParamsSize(definition.name, params);
  const policy = request.concurrency_policy ?? definition.concurrency_policy;
  // One statement fewer per API trigger: only a plain Allow insert can check the token as it writes.
  const tokenInStatement = request.token !== undefined && !request.dry_run && !request.idempotency_key && policy === 'Allow';
  if (request.token !== undefined && !tokenInStatement) {
    if (!request.authenticate) throw new Error('triggerRun: a request with a token needs authenticate');
    request = { ...request, token: undefined, triggered_by: await request.authenticate() };
  }
  if (request.dry_run) {
    const plan = deps.executor.plan
      ? await deps.executor.plan({ job: definition.name, params, revision: await recordedRevision(deps.db, definition) })
      : {};
    return {
      run: null,
      created: false,
      dry_run: {
        job: definition.name,
        params,
        command: definition.command,
        env_names: Object.keys(definition.env),
        executor: deps.executor.name,
        concurrency_policy: policy,
        ...(plan.manifest ? { manifest: plan.manifest } : {}),
      },
    };
  }

  const key = request.idempotency_key ?? null;
  if (key) {
    // The common replay costs one indexed read, before any lock or write.
    const existing = await findRunByIdempotencyKey(deps.db, key);
    if (existing) return { run: sameRequest(existing, definition.name, params, key), created: false };
  }

  const contentHash = await ensureJobSynced(deps.db, deps.config.file, definition);
  const runId = uuidv7();
  const createdAt = new Date();
  // Unknown until the statement that checks the token names its owner.
  let actor: string | null = tokenInStatement ? null : request.triggered_by;
  const newRun: NewRun = {
    run_id: runId,
    job: definition.name,
    job_content_hash: contentHash,
    trigger: request.trigger,
    triggered_by: actor,
    params,
    status: 'queued',
    attempt: request.attempt ?? 1,
    retry_of: request.retry_of ?? null,
    executor: deps.executor.name,
    image: definition.image ?? null,
    command: definition.command,
    tenant: definition.tenant ?? null,
    labels: definition.labels,
    created_at: createdAt,
    idempotency_key: key,
  };
  const createdEvent = (replaces: string[]) =>
    runEvent('created', actor, {
      trigger: request.trigger,
      ...(request.reason ? { reason: request.reason } : {}),
      ...(key ? { idempotency_key: key } : {}),
      ...(request.retry_of ? { retry_of: request.retry_of, attempt: newRun.attempt } : {}),
      ...(replaces.length > 0 ? { replaces, concurrency_policy: policy } : {}),
    }, createdAt);

  let outcome: Outcome;
  if (policy === 'Allow') {
    const entry: RunInsert = { run: newRun, event: createdEvent([]), token: tokenInStatement ? request.token : undefined };
    let run = await allowInserts(deps.db).submit(entry);
    if (!run && tokenInStatement) {
      // The statement refused the token: the ordinary check says why (401 or 403). A token that is
      // good after all (changed in between) gets its run written the ordinary way.
      actor = await request.authenticate!();
      run = await insertRunReturning(deps.db, { ...newRun, triggered_by: actor }, { ...entry.event, actor });
    }
    if (run) actor = run.triggered_by;
    outcome = run ? { kind: 'created', run, replaced: [] } : { kind: 'existing', run: await readBack(deps.db, key) };
  } else {
    try {
      outcome = await deps.db.transaction((tx) => applyPolicy(tx, policy, newRun, request, createdEvent));
    } catch (error) {
      if (!(error instanceof KeyTaken)) throw error;
      outcome = { kind: 'existing', run: await readBack(deps.db, key) };
    }
  }

  if (outcome.kind === 'forbidden') {
    throw new ConcurrencyConflictError(definition.name, outcome.live.run_id, outcome.live.status);
  }
  if (outcome.kind === 'existing') return { run: sameRequest(outcome.run, definition.name, params, key!), created: false };

  // Replaced runs were marked in the transaction; their processes are stopped before the new run is
  // handed over. The old process may still be in its grace period when the new one starts, exactly
  // as with a Kubernetes CronJob's Replace.
  for (const old of outcome.replaced) {
    await deps.executor.cancel(old.run_id, actor ?? request.triggered_by).catch(() => false);
  }
  try {
    await deps.executor.dispatch(runId);
  } catch (error) {
    await insertEvent(deps.db, runId, runEvent('dispatch_failed', actor, { executor: deps.executor.name, message: (error as Error).message }))
      .catch(() => {});
  }
  const replacedIds = outcome.replaced.map((old) => old.run_id);
  return {
    run: outcome.run,
    created: true,
    ...(replacedIds.length > 0 ? { replaced_run_id: replacedIds[0], replaced_run_ids: replacedIds } : {}),
  };
}

/** Forbid and Replace, inside one transaction holding the job's row lock. */
async function applyPolicy(
  tx: Queryable,
  policy: 'Forbid' | 'Replace',
  newRun: NewRun,
  request: TriggerRequest,
  createdEvent: (replaces: string[]) => EventInput,
): Promise<Outcome> {
  await lockJobRow(tx, newRun.job);
  const key = newRun.idempotency_key ?? null;
  if (key) {
    // Re-read under the lock: an identical request may have committed while we waited for it.
    const existing = await findRunByIdempotencyKey(tx, key);
    if (existing) return { kind: 'existing', run: existing };
  }
  const live = await listLiveRuns(tx, newRun.job);
  const actor = request.triggered_by;
  if (live.length > 0 && policy === 'Forbid') {
    const blocking = live.find((run) => run.status === 'running') ?? live[0]!;
    // There is no new run to hold the record of the skip, so the run that caused it does.
    await insertEvent(tx, blocking.run_id, runEvent('trigger_skipped', actor, {
      concurrency_policy: policy,
      trigger: request.trigger,
      reason: request.reason ?? null,
      ...(key ? { idempotency_key: key } : {}),
    }));
    return { kind: 'forbidden', live: blocking };
  }
  for (const old of live) {
    await insertEvent(tx, old.run_id, runEvent('replaced_by', actor, { run_id: newRun.run_id, reason: request.reason ?? null }));
    if (old.status === 'queued') {
      // Never started: it ends here. A starting or running one is stopped by its executor after commit.
      await transitionRun(tx, old.run_id, ['queued'], 'cancelled', {
        finished_at: new Date(),
        error_type: 'Cancelled',
        error_message: `replaced by run ${newRun.run_id} (concurrency_policy Replace) before it started`,
      }, runEvent('cancelled', actor, { replaced_by: newRun.run_id }));
    }
  }
  const run = await insertRunReturning(tx, newRun, createdEvent(live.map((old) => old.run_id)));
  if (!run) throw new KeyTaken();
  return { kind: 'created', run, replaced: live };
}

/** Refuses params over MAX_PARAMS_BYTES as JSON, naming their size and the limit. */
function checkParamsSize(job: string, params: Record<string, unknown>): void {
  const bytes = Buffer.byteLength(JSON.stringify(params));
  if (bytes <= MAX_PARAMS_BYTES) return;
  throw new InvalidParamsError(job, [{ param: '(params)', message: `are ${bytes} bytes as JSON; the limit is ${MAX_PARAMS_BYTES} (64 KiB)` }]);
}

/** The revision the RunLog holds for this exact definition, or null; read-only, as a dry run must be. */
async function recordedRevision(db: Queryable, definition: JobDefinition): Promise<number | null> {
  const hash = jobDefinitionHash(definition);
  return (await listJobRevisions(db, definition.name)).find((revision) => revision.content_hash === hash)?.revision ?? null;
}

async function readBack(db: Queryable, key: string | null): Promise<RunRecord> {
  const run = key ? await findRunByIdempotencyKey(db, key) : null;
  // Only the idempotency key can collide: run_ids are fresh UUIDv7s.
  if (!run) throw new Error('the new run conflicted with an existing row that cannot be found');
  return run;
}

function sameRequest(run: RunRecord, job: string, params: Record<string, unknown>, key: string): RunRecord {
  // Answering a different request with an old run would hide that the new one never ran.
  if (run.job !== job || !isDeepStrictEqual(run.params, params)) throw new IdempotencyConflictError(key, run.run_id);
  return run;
}
