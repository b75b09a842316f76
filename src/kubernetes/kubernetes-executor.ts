// Runs on Kubernetes: a queued run becomes a batch/v1 Job whose runner adopts the run. The Job name
// is a function of the run id, so a dispatch repeated after a timeout, a crash or by another replica
// finds `409 AlreadyExists` and is done: one run, at most one Job.
import type { V1Job } from '@kubernetes/client-node';
import type { KubescribeConfig } from '../config/job-definition.ts';
import { defaultKubernetesSettings, type KubernetesSettings } from '../config/kubernetes-config.ts';
import { executorActor } from '../executors/actor.ts';
import type { Executor, ExecutorPlan, PlanRequest } from '../executors/executor.ts';
import type { Db } from '../runlog/db.ts';
import { getRun, insertEvent, transitionRun, type EventInput } from '../runlog/sql/runs.ts';
import { isTerminal, LIVE_STATUSES } from '../runlog/types.ts';
import { uuidv7 } from '../runlog/uuidv7.ts';
import { KubeApiError, KubeClient } from './client.ts';
import { setCronJobSuspended, syncCronJobs } from './cronjob-sync.ts';
import { JOB_LABEL, ManifestError, MANAGED_BY, MANAGED_BY_LABEL, runJobManifest, runJobName } from './manifests.ts';
import { Reconciler } from './reconciler.ts';
import { mergeExecutorRef } from '../runlog/sql/executor-runs.ts';
import { Watcher } from './watcher.ts';

// Its steps (dispatching a Job, a failed dispatch) are credited to it, on the server that runs it.
export const EXECUTOR_ACTOR = executorActor('kubernetes');
/** The run id of the Job a dry run shows: there is no run yet. */
export const DRY_RUN_RUN_ID = '00000000-0000-0000-0000-000000000000';
const MASKED = '***';

/** A line for the server's log: what the executor did or could not do. */
export interface KubeLogEntry { level: 'info' | 'warn' | 'error'; message: string; run_id?: string; detail?: Record<string, unknown> }

export interface RetryPolicy {
  /** Tries per dispatch before the run is left queued for the reconciler (default 6). */
  attempts: number;
  /** First delay; doubles each try up to maxMs (default 250 ms, 8 s). */
  baseMs: number;
  maxMs: number;
}

export interface KubernetesExecutorOptions {
  db: Db;
  config: KubescribeConfig;
  settings: KubernetesSettings;
  client: KubeClient;
  log?: (entry: KubeLogEntry) => void;
  retry?: Partial<RetryPolicy>;
  /** Watch Jobs and Pods and reconcile runs with them (default true). */
  watch?: boolean;
  /** Reconciler period (default 60 s); 0 runs it only at start. */
  reconcileIntervalMs?: number;
  /** How long the watcher waits after a pod ended for its runner's own record (default 2 s). */
  settleMs?: number;
  /** A pod still Pending this long fails its run (default: the settings' start_timeout). */
  startTimeoutMs?: number;
  /** The watcher's pause before reconnecting a failed watch (default 100 ms doubled per failure, at most 10 s). */
  watchReconnect?: { minMs?: number; maxMs?: number };
  /** At start, create/update/delete the CronJobs as `kubescribe apply` does (default: the settings' apply_on_start). */
  applyCronJobs?: boolean;
}

/**
 * The executor of `kubescribe serve` with `executor: kubernetes`: cluster credentials from the pod's
 * service account (or KUBECONFIG), the namespace and defaults of the config's `kubernetes:` section.
 */
export function createKubernetesExecutor(db: Db, config: KubescribeConfig, log?: (entry: KubeLogEntry) => void): KubernetesExecutor {
  const settings = config.kubernetes ?? defaultKubernetesSettings();
  return new KubernetesExecutor({ db, config, settings, client: new KubeClient({ namespace: settings.namespace }), log });
}

/** The Kubernetes executor: one Job per run, cancelled by deleting the Job, watched for fates the runner cannot record. */
export class KubernetesExecutor implements Executor {
  readonly name = 'kubernetes' as const;
  readonly watcher: Watcher | null;
  readonly reconciler: Reconciler;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly retry: RetryPolicy;
  private started = false;

  constructor(private readonly options: KubernetesExecutorOptions) {
    this.retry = { attempts: 6, baseMs: 250, maxMs: 8000, ...options.retry };
    const log = (entry: KubeLogEntry) => options.log?.(entry);
    this.watcher = options.watch === false ? null : new Watcher({
      db: options.db,
      client: options.client,
      settleMs: options.settleMs ?? 2000,
      startTimeoutMs: options.startTimeoutMs ?? options.settings.start_timeout_seconds * 1000,
      reconnect: options.watchReconnect,
      log,
    });
    this.reconciler = new Reconciler({
      db: options.db,
      client: options.client,
      dispatch: (runId) => this.dispatch(runId),
      intervalMs: options.reconcileIntervalMs ?? 60_000,
      log,
    });
  }

  /** The Job a run of this job gets, exactly as dispatch() creates it (`?dry_run=true` shows it). */
  manifestFor(job: string, runId: string, params: Record<string, unknown>, revision: number | null = null): V1Job {
    const definition = this.options.config.jobs.get(job);
    if (!definition) throw new Error(`job ${job} is not declared`);
    return runJobManifest({ definition, settings: this.options.settings, runId, params, revision });
  }

  /**
   * The Job a dry run shows: as dispatch() would create it, but for a placeholder run id (the nil
   * UUID: a dry run has no run), and with every value of the job's own `env` shown as "***" — they may
   * be secrets. What KubeScribe adds is shown as is: the API URL and token path (or, with
   * `runner_runlog: direct`, DATABASE_URL as a Secret reference, never a value).
   */
  async plan(request: PlanRequest): Promise<ExecutorPlan> {
    const definition = this.options.config.jobs.get(request.job);
    const manifest = this.manifestFor(request.job, DRY_RUN_RUN_ID, request.params, request.revision);
    for (const container of manifest.spec?.template.spec?.containers ?? []) {
      for (const env of container.env ?? []) {
        if (env.value !== undefined && definition?.env[env.name] === env.value) env.value = MASKED;
      }
    }
    // Through JSON, as it goes over the wire: client-node objects may hold undefined fields.
    return { manifest: JSON.parse(JSON.stringify(manifest)) as Record<string, unknown> };
  }

  /** `/readyz`: see problem(). */
  readiness(): Promise<string | null> {
    return this.problem();
  }

  /** Creates the run's Job; repeated calls (here or on another replica) never create a second one. */
  dispatch(runId: string): Promise<void> {
    const running = this.inFlight.get(runId);
    if (running) return running;
    const work = this.createJob(runId).finally(() => this.inFlight.delete(runId));
    this.inFlight.set(runId, work);
    return work;
  }

  /** Deletes the run's Job (propagation Background): the pod gets SIGTERM and its runner records `cancelled`. */
  async cancel(runId: string, actor: string): Promise<boolean> {
    const { db, client } = this.options;
    const run = await getRun(db, runId);
    if (!run || run.executor !== this.name) return false;
    // A run its CronJob's Job started was named by Kubernetes; its runner recorded the name.
    const jobName = typeof run.executor_ref.job === 'string' ? run.executor_ref.job : runJobName(run.job, runId);
    if (!isTerminal(run.status)) {
      await insertEvent(db, runId, event('cancel_requested', actor, { signal: 'SIGTERM', k8s_job: jobName, propagation_policy: 'Background' }));
    }
    const deleted = await client.deleteJob(jobName, 'Background');
    this.say('info', `deleted Job ${jobName} to cancel run ${runId} (requested by ${actor})`, runId);
    if (deleted || isTerminal(run.status)) return deleted || run.status === 'cancelled';
    // No Job and no runner left to record the outcome: the cancel ends the run here.
    const moved = await transitionRun(db, runId, LIVE_STATUSES, 'cancelled', {
      finished_at: new Date(),
      error_type: 'Cancelled',
      error_message: `cancelled by ${actor}: its Job ${jobName} was already gone; exit code unknown`,
    }, event('cancelled', actor, { k8s_job: jobName }));
    return moved.changed;
  }

  /** Starts the watcher and the reconciler (which dispatches the runs a previous server left queued). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.options.applyCronJobs ?? this.options.settings.apply_on_start) await this.applyCronJobs();
    await this.watcher?.start();
    await this.reconciler.start();
  }

  /**
   * Whether the cluster answers and lets KubeScribe do its work (for /readyz): null when it does, else
   * what is wrong — unreachable, or the RBAC verb and resource that are missing.
   */
  async problem(): Promise<string | null> {
    try {
      await this.options.client.version();
      await this.options.client.listJobs(`${MANAGED_BY_LABEL}=${MANAGED_BY}`);
      await this.options.client.listPods(`${MANAGED_BY_LABEL}=${MANAGED_BY}`);
      return null;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }

  /** Patches the job's CronJob `spec.suspend` (the API's suspend/resume); false when it has none. */
  async setSuspended(job: string, suspended: boolean): Promise<boolean> {
    if (!this.options.config.jobs.get(job)?.schedule) return false;
    // Only a CronJob KubeScribe owns: one of the same name that someone else made is never touched.
    const owned = await this.options.client.listCronJobs(`${MANAGED_BY_LABEL}=${MANAGED_BY},${JOB_LABEL}=${job}`);
    const name = owned[0]?.metadata?.name;
    return name ? setCronJobSuspended(this.options.client, name, suspended) : false;
  }

  async stop(): Promise<void> {
    this.started = false;
    await this.reconciler.stop();
    await this.watcher?.stop();
    await Promise.allSettled([...this.inFlight.values()]);
  }

  // A cluster that cannot be reached or refuses the CronJobs must not keep the API from starting:
  // triggers still queue (the reconciler dispatches them), and the log says what is wrong.
  private async applyCronJobs(): Promise<void> {
    const { db, client, config, settings } = this.options;
    try {
      const result = await syncCronJobs({ db, client, config, settings });
      this.say('info', `CronJobs in ${settings.namespace}: ${result.created.length} created, ${result.updated.length} updated, ` +
        `${result.unchanged.length} unchanged, ${result.deleted.length} deleted`);
      for (const error of result.errors) this.say('error', `CronJob of job ${error.job}: ${error.message}`);
    } catch (error) {
      this.say('error', `could not apply the CronJobs: ${(error as Error).message}`);
    }
  }

  private async createJob(runId: string): Promise<void> {
    const { db, config, settings, client } = this.options;
    const run = await getRun(db, runId);
    if (!run || run.status !== 'queued') return;
    const definition = config.jobs.get(run.job);
    if (!definition) {
      await this.failRun(runId, 'JobNotDeclared', `job ${run.job} is no longer declared in ${config.file ?? 'kubescribe.yaml'}; no Job was created`);
      return;
    }
    let manifest: V1Job;
    try {
      manifest = runJobManifest({ definition, settings, runId, params: run.params, revision: run.job_revision });
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
      await this.failRun(runId, 'InvalidManifest', error.message);
      return;
    }
    const jobName = manifest.metadata!.name!;
    const ref = { namespace: settings.namespace, job: jobName };
    for (let attempt = 1; ; attempt++) {
      try {
        await client.createJob(manifest);
        await mergeExecutorRef(db, runId, ref);
        await insertEvent(db, runId, event('dispatched', EXECUTOR_ACTOR, { ...ref, attempt }));
        this.say('info', `created Job ${jobName} for run ${runId}`, runId);
        return;
      } catch (error) {
        if (!(error instanceof KubeApiError)) throw error;
        if (error.code === 409 && error.reason === 'AlreadyExists') {
          // An earlier try (whose answer was lost) or another replica created it: done.
          await mergeExecutorRef(db, runId, ref);
          await insertEvent(db, runId, event('dispatched', EXECUTOR_ACTOR, { ...ref, attempt, already_existed: true }));
          return;
        }
        if (!error.retryable) {
          const type = error.code === 403 ? 'KubernetesForbidden' : error.code === 422 ? 'KubernetesInvalid' : 'KubernetesError';
          this.say('error', error.message, runId, { k8s_job: jobName, code: error.code, reason: error.reason });
          await this.failRun(runId, type, error.message, { k8s_job: jobName, code: error.code, reason: error.reason, causes: error.causes });
          return;
        }
        if (attempt >= this.retry.attempts || !this.started) {
          // Still queued: the reconciler tries again on its next pass; the name keeps it to one Job.
          this.say('warn', `could not create Job ${jobName} after ${attempt} tries; run ${runId} stays queued: ${error.message}`, runId);
          await insertEvent(db, runId, event('dispatch_failed', EXECUTOR_ACTOR, { ...ref, attempts: attempt, code: error.code, message: error.message }));
          return;
        }
        const delay = Math.min(this.retry.baseMs * 2 ** (attempt - 1), this.retry.maxMs);
        this.say('warn', `create Job ${jobName} failed (${error.message}); retry ${attempt} in ${delay} ms`, runId);
        await new Promise((resolve) => setTimeout(resolve, delay));
        // Cancelled (or adopted by an earlier try's pod) while we waited: nothing left to create.
        const now = await getRun(db, runId);
        if (!now || now.status !== 'queued') return;
      }
    }
  }

  private async failRun(runId: string, type: string, message: string, detail: Record<string, unknown> = {}): Promise<void> {
    await transitionRun(this.options.db, runId, ['queued'], 'failed', {
      finished_at: new Date(),
      error_type: type,
      error_message: message,
    }, event('failed', EXECUTOR_ACTOR, { reason: type, ...detail }));
  }

  private say(level: KubeLogEntry['level'], message: string, runId?: string, detail?: Record<string, unknown>): void {
    this.options.log?.({ level, message, ...(runId ? { run_id: runId } : {}), ...(detail ? { detail } : {}) });
  }
}

function event(type: string, actor: string, detail: Record<string, unknown> = {}): EventInput {
  return { event_id: uuidv7(), at: new Date(), type, actor, detail };
}
