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
