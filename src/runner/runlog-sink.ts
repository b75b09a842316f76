// The runner's records straight into the RunLog (DATABASE_URL or the embedded PGlite): one
// transaction per batch. Loaded only by runners that use it, so a runner recording through the API
// never loads a database engine.
import { isUnreachable, withinBound } from '../runlog/connectivity.ts';
import type { Db } from '../runlog/db.ts';
import { borrowedDb } from '../runlog/db.ts';
import { getRun, transitionRun, type EventInput, type RunPatch, type TransitionResult } from '../runlog/sql/runs.ts';
import { applyOps, type RecordOp } from './record-ops.ts';
import type { RecordSink, SinkRun } from './record-sink.ts';
import { flushSpoolsTo } from './recorder.ts';

export { spoolDirectory } from './recorder.ts';

/** The default bound of {@link RunLogSinkOptions.stuckAfterMs}. */
export const STUCK_AFTER_MS = 10_000;

export interface RunLogSinkOptions {
  /** Opens (and migrates) the RunLog; called again after a failure. */
  open: () => Promise<Db>;
  /**
   * A write (or read) to PostgreSQL not done within this bound counts as the RunLog being unreachable:
   * a database that went silent must not stall the job. Default 10 s; 0: no bound of the sink's own.
   */
  stuckAfterMs?: number;
}

export class RunLogSink implements RecordSink {
  readonly description = 'the RunLog';
  private db: Db | null = null;

  constructor(private readonly options: RunLogSinkOptions) {}

  async apply(ops: RecordOp[]): Promise<void> {
    await this.use((db) => applyOps(db, ops));
  }

  async getRun(runId: string): Promise<SinkRun | null> {
    const run = await this.use((db) => getRun(db, runId));
    return run ? { status: run.status, params: run.params } : null;
  }

  adopt(runId: string, patch: RunPatch, event: EventInput): Promise<TransitionResult> {
    return this.use((db) => transitionRun(db, runId, ['queued'], 'starting', patch, event));
  }

  isUnreachable(error: unknown): boolean {
    return isUnreachable(error);
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = null;
    await db?.close().catch(() => {});
  }

  private async use<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const db = (this.db ??= await this.options.open());
    try {
      // Only a server across a network can go silent; embedded PGlite answers or fails, and a slow
      // machine must not make it look unreachable. Opening is bounded by the engine (connect_timeout).
      const work = fn(db);
      return await (db.engine === 'postgres' ? withinBound(work, this.options.stuckAfterMs ?? STUCK_AFTER_MS) : work);
    } catch (error) {
      if (isUnreachable(error)) {
        // A pool that lost its server may hold broken clients; start over on the next attempt.
        this.db = null;
        void db.close().catch(() => {});
      }
      throw error;
    }
  }
}

/** Replays offline buffers left by runners that exited while the RunLog was unreachable. Returns how many were flushed. */
export async function flushSpools(db: Db, spoolDir: string, say: (line: string) => void): Promise<number> {
  const borrowed = borrowedDb(db);
  return flushSpoolsTo(new RunLogSink({ open: async () => borrowed, stuckAfterMs: 0 }), spoolDir, say);
}
