/**
 * Where a run's process lives. The API and the scheduler write a run as `queued` first, then hand
 * it to the executor; what the executor does must be safe to repeat for the same run_id.
 */
export interface Executor {
  readonly name: 'local' | 'kubernetes' | 'none';
  /** Starts (or queues) a run that the RunLog holds as `queued`. */
  dispatch(runId: string): Promise<void>;
  /** Stops a live run; false when this executor has no live process for it. */
  cancel(runId: string, actor: string): Promise<boolean>;
  /** Reconciles runs left behind by a previous process, then starts accepting work. */
  start(): Promise<void>;
  /** Stops accepting work; with `drain`, waits for live runs to finish. */
  stop(options?: { drain?: boolean }): Promise<void>;
  /** What a run would be given (`?dry_run=true`), with no secret values; creates nothing. */
  plan?(request: PlanRequest): Promise<ExecutorPlan>;
  /** Why this executor cannot take work now (for `/readyz`), or null when it can. */
  readiness?(): Promise<string | null>;
  /** Applies a job's schedule suspension where the executor keeps schedules; false when it keeps none for the job. */
  setSuspended?(job: string, suspended: boolean): Promise<boolean>;
}

/** A run that a dry run describes: there is no run id yet. */
export interface PlanRequest {
  job: string;
  params: Record<string, unknown>;
  /** The job revision the run would record, when the RunLog already holds this definition. */
  revision: number | null;
}

/** What an executor would create for a run. */
export interface ExecutorPlan {
  /** The Kubernetes object (or other manifest) it would create, env values masked. */
  manifest?: Record<string, unknown>;
}

/** An executor that only remembers what it was asked: for `--no-executor` API replicas and tests. */
export class RecordingExecutor implements Executor {
  readonly name = 'none' as const;
  readonly dispatched: string[] = [];
  readonly cancelled: string[] = [];
  async dispatch(runId: string): Promise<void> {
    this.dispatched.push(runId);
  }
  async cancel(runId: string): Promise<boolean> {
    this.cancelled.push(runId);
    return false;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}
