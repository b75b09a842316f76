// At start and periodically, one replica at a time: a queued run with no Job is dispatched again (the
// deterministic Job name makes that exactly once), and a labelled Job whose run the RunLog does not
// know is recorded, so nothing KubeScribe started in the cluster is missing from its history.
import type { V1Job } from '@kubernetes/client-node';
import type { Db } from '../runlog/db.ts';
import { withAdvisoryXactLock } from '../runlog/sql/advisory-lock.ts';
import { listJobs } from '../runlog/sql/jobs.ts';
import { insertRun, transitionRun, type EventInput } from '../runlog/sql/runs.ts';
import { isUuid, uuidv7 } from '../runlog/uuidv7.ts';
import { KubeApiError, type KubeClient } from './client.ts';
import type { KubeLogEntry } from './kubernetes-executor.ts';
import { JOB_LABEL, RUN_ID_LABEL, runJobName } from './manifests.ts';
import { knownRunIds, listQueuedRuns, mergeExecutorRef } from '../runlog/sql/executor-runs.ts';
import { MANAGED_SELECTOR } from './watcher.ts';
import { asError, PeriodicLoop } from '../util/periodic-loop.ts';

export const RECONCILER_ACTOR = 'kubernetes-reconciler';
const LOCK_NAME = 'kubernetes-reconciler';

export interface ReconcilerOptions {
  db: Db;
  client: KubeClient;
  dispatch: (runId: string) => Promise<void>;
  /** Period between passes; 0: only the pass at start. */
  intervalMs: number;
  log: (entry: KubeLogEntry) => void;
}

/** What one pass did. */
export interface ReconcileResult { ran: boolean; redispatched: string[]; recorded: string[]; suspended: string[]; resumed: string[] }

/** Re-dispatches queued runs without a Job and records Jobs without a run. */
export class Reconciler {
  private readonly loop: PeriodicLoop<ReconcileResult>;

  constructor(private readonly options: ReconcilerOptions) {
    this.loop = new PeriodicLoop({
      pass: () => this.run(),
      intervalMs: options.intervalMs,
      onError: (error) => this.reportFailure(error),
    });
  }

  /** Runs the first pass (resolving when it is done), then one per interval until stop(); never rejects. */
  async start(): Promise<void> {
    if (this.options.intervalMs > 0) return this.loop.start();
    await this.loop.runPass().catch((error: unknown) => this.reportFailure(asError(error)));
  }

  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One pass, after the one in progress if any; `ran: false` when another replica's pass holds the lock. */
  pass(): Promise<ReconcileResult> {
    return this.loop.runPass();
  }

  private reportFailure(error: Error): void {
    this.options.log({ level: 'error', message: `reconcile pass failed: ${error.message}` });
  }

  private async run(): Promise<ReconcileResult> {
    const { db, client } = this.options;
    // The lock decides which replica does this pass; the Kubernetes calls happen after it is released,
    // so no transaction waits on the network.
    const locked = await withAdvisoryXactLock(db, LOCK_NAME, (tx) => listQueuedRuns(tx, 'kubernetes'));
    if (!locked.acquired) return { ran: false, redispatched: [], recorded: [], suspended: [], resumed: [] };
    const { items: jobs } = await client.listJobs(`${MANAGED_SELECTOR},${RUN_ID_LABEL}`);
    const names = new Set(jobs.map((job) => job.metadata?.name));
    const redispatched: string[] = [];
    for (const run of locked.value) {
      if (names.has(runJobName(run.job, run.run_id))) continue;
      await this.options.dispatch(run.run_id);
      redispatched.push(run.run_id);
    }
    const labelled = jobs.filter((job) => isUuid(job.metadata?.labels?.[RUN_ID_LABEL] ?? ''));
    const known = await knownRunIds(db, labelled.map((job) => job.metadata!.labels![RUN_ID_LABEL]!));
    const recorded: string[] = [];
    for (const job of labelled) {
      const runId = job.metadata!.labels![RUN_ID_LABEL]!;
      if (known.has(runId)) continue;
      if (await this.record(runId, job)) recorded.push(runId);
    }
    const { suspended, resumed } = await this.syncSuspension();
    if (redispatched.length + recorded.length > 0) {
      this.options.log({
        level: 'warn',
        message: `reconciler: dispatched ${redispatched.length} queued run(s) that had no Job, recorded ${recorded.length} Job(s) that had no run`,
        detail: { redispatched, recorded },
      });
    }
    return { ran: true, redispatched, recorded, suspended, resumed };
  }

  /**
   * The RunLog's suspended flag (POST /jobs/{name}/suspend|resume) is the truth; an owned CronJob whose
   * spec.suspend differs is patched, so a suspension reaches the cluster even if the API replica that
   * took it could not patch the CronJob at that moment.
   */
  private async syncSuspension(): Promise<{ suspended: string[]; resumed: string[] }> {
    const { db, client } = this.options;
    const out = { suspended: [] as string[], resumed: [] as string[] };
    const wanted = new Map((await listJobs(db)).map((row) => [row.name, row.suspended]));
    for (const cron of await client.listCronJobs(MANAGED_SELECTOR)) {
      const job = cron.metadata?.labels?.[JOB_LABEL];
      const suspend = job === undefined ? undefined : wanted.get(job);
      if (suspend === undefined || Boolean(cron.spec?.suspend) === suspend) continue;
      try {
        await client.patchCronJob(cron.metadata!.name!, { spec: { suspend } });
        (suspend ? out.suspended : out.resumed).push(job!);
      } catch (error) {
        if (!(error instanceof KubeApiError)) throw error;
        this.options.log({ level: 'error', message: `could not ${suspend ? 'suspend' : 'resume'} CronJob ${cron.metadata?.name}: ${error.message}` });
      }
    }
    return out;
  }

  /** A Job whose run is unknown (a RunLog restored from backup, a manifest applied by hand): recorded. */
  private async record(runId: string, job: V1Job): Promise<boolean> {
    const { db, client } = this.options;
    const name = job.metadata?.name ?? '';
    const finished = job.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    const createdAt = job.metadata?.creationTimestamp ? new Date(job.metadata.creationTimestamp) : new Date();
    // A live Job's runner adopts the queued run when it starts, exactly as for a triggered run.
    const inserted = await insertRun(db, {
      run_id: runId,
      job: job.metadata?.labels?.[JOB_LABEL] ?? name,
      job_content_hash: null,
      trigger: 'api',
      triggered_by: RECONCILER_ACTOR,
      params: {},
      status: 'queued',
      executor: 'kubernetes',
      executor_ref: { namespace: client.namespace, job: name },
      created_at: createdAt,
    }, event('created', { reason: `found Job ${name} in namespace ${client.namespace} with no run in the RunLog` }));
    if (!inserted) return false;
    await mergeExecutorRef(db, runId, { namespace: client.namespace, job: name });
    if (finished) {
      await transitionRun(db, runId, ['queued'], 'lost', {
        finished_at: new Date(),
        error_type: 'Unrecorded',
        error_message: `Job ${name} ran (${finished.type}${finished.reason ? `: ${finished.reason}` : ''}) without a record in the RunLog; its outcome is unknown`,
      }, event('lost', { k8s_job: name, condition: finished.type }));
    }
    return true;
  }
}

function event(type: string, detail: Record<string, unknown>): EventInput {
  return { event_id: uuidv7(), at: new Date(), type, actor: RECONCILER_ACTOR, detail };
}
