// An executor for CLI tests that runs nothing: each dispatched run waits until the test moves it
// (start, log, finish), so every state the CLI must see is there when it looks, with no sleeps.
import type { Db } from '../../src/runlog/db.ts';
import type { Executor } from '../../src/executors/executor.ts';
import { runEvent } from '../../src/runlog/run-event.ts';
import { insertLogChunks } from '../../src/runlog/sql/run-logs.ts';
import { getRun, transitionRun, type RunPatch } from '../../src/runlog/sql/runs.ts';
import type { LogStream, RunStatus } from '../../src/runlog/types.ts';

/** How a scripted run ends. */
export type Ending = { status: RunStatus } & RunPatch;

/** One dispatched run, moved along by the test. */
export class ScriptedRun {
  private seq = 0;

  constructor(
    private readonly db: Db,
    readonly runId: string,
    readonly job: string,
  ) {}

  /** queued → running. */
  async start(): Promise<this> {
    await transitionRun(this.db, this.runId, ['queued'], 'running', { started_at: new Date() }, runEvent('started', 'executor:scripted'));
    return this;
  }

  /** Stores the next chunk of the run's output. */
  async log(stream: LogStream, text: string): Promise<this> {
    await insertLogChunks(this.db, this.runId, [{ seq: ++this.seq, stream, at: new Date().toISOString(), text }]);
    return this;
  }

  /** running → the ending's status, with its exit code, signal or error. */
  async finish({ status, ...patch }: Ending): Promise<void> {
    await transitionRun(this.db, this.runId, ['running'], status, { ...patch, finished_at: new Date() }, runEvent(status, 'executor:scripted'));
  }

  /** Starts, writes `logs` in order, and finishes with `ending` (none: stays running). */
  async play(logs: [LogStream, string][], ending?: Ending): Promise<void> {
    await this.start();
    for (const [stream, text] of logs) await this.log(stream, text);
    if (ending) await this.finish(ending);
  }
}

/** Hands each dispatched run to the test that asks for the next run of its job. */
export class ScriptedExecutor implements Executor {
  readonly name = 'local' as const;
  /** Set once the API's RunLog is open. */
  db: Db | null = null;
  private readonly arrived = new Map<string, ScriptedRun[]>();
  private readonly waiting = new Map<string, ((run: ScriptedRun) => void)[]>();
  private readonly live = new Map<string, ScriptedRun>();

  async dispatch(runId: string): Promise<void> {
    const record = await getRun(this.db!, runId);
    const run = new ScriptedRun(this.db!, runId, record!.job);
    this.live.set(runId, run);
    const waiter = this.waiting.get(run.job)?.shift();
    if (waiter) waiter(run);
    else this.arrived.set(run.job, [...(this.arrived.get(run.job) ?? []), run]);
  }

  /** The next run of `job` the API dispatches (already dispatched, or the next one to be). */
  nextRun(job: string): Promise<ScriptedRun> {
    const ready = this.arrived.get(job)?.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.waiting.set(job, [...(this.waiting.get(job) ?? []), resolve]));
  }

  /** A live run's process "stops" at once: the run ends cancelled, as the local executor records it. */
  async cancel(runId: string, actor: string): Promise<boolean> {
    if (!this.live.delete(runId)) return false;
    const moved = await transitionRun(this.db!, runId, ['starting', 'running'], 'cancelled', { finished_at: new Date() }, runEvent('cancelled', actor));
    return moved.changed;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
