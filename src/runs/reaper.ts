// The heartbeat reaper: a run whose runner stopped writing heartbeats (SIGKILL, node lost, OOM kill)
// would stay `running` forever, as nothing else will ever record its end. Each pass, under a
// per-schema advisory lock so that one replica does it, the reaper marks such runs `lost` through
// the same compare-and-set transition every writer uses, so a run that ended meanwhile is left alone.
import { lostAfterMs } from '../config/lost-after.ts';
import type { Db } from '../runlog/db.ts';
import { withAdvisoryXactLock } from '../runlog/sql/advisory-lock.ts';
import { transitionRun } from '../runlog/sql/runs.ts';
import { lockSilentRuns, type SilentRun } from '../runlog/sql/silent-runs.ts';
import { STARTED_STATUSES } from '../runlog/types.ts';
import { uuidv7 } from '../runlog/uuidv7.ts';
import { guardListener, PeriodicLoop } from '../util/periodic-loop.ts';

/** The actor of the reaper's `lost` events. */
export const REAPER_ACTOR = 'reaper';
const LOCK_NAME = 'reaper';
// Runs marked per pass; more are taken by the next pass at once, so one pass never holds the lock long.
const BATCH = 100;
// A silent run is noticed within a quarter of the threshold, but the RunLog is not polled more
// often than every 250 ms nor, for long thresholds, less often than every 30 s.
const MIN_INTERVAL_MS = 250;
const MAX_INTERVAL_MS = 30_000;
/** The threshold, defined once for the reaper and the executors (src/config/lost-after.ts). */
export { lostAfterMs };

/** What the reaper reports; `onEvent` receives each one. */
export type ReaperEvent =
  | { type: 'run_lost'; runId: string; job: string; lastSignAt: Date; silentMs: number; message: string }
  | { type: 'pass_failed'; error: Error };

/** What a pass did: `busy` when another session held the lock and this pass did nothing. */
export interface ReaperPass {
  busy: boolean;
  lost: string[];
}

/** What the reaper needs; see the Reaper class. */
export interface ReaperOptions {
  db: Db;
  /** Heartbeat silence that makes a run lost (see lostAfterMs). */
  lostAfterMs: number;
  /** Time between passes (default: a quarter of lostAfterMs, from 250 ms to 30 s). */
  intervalMs?: number;
  /**
   * Runs this process supervises itself (the local executor's): never reaped here, whatever their
   * heartbeat says, since their runner is alive in this very process.
   */
  isSupervised?: (runId: string) => boolean;
  now?: () => Date;
  onEvent?: (event: ReaperEvent) => void;
}

/** The message a lost run records: when it was last seen, and the usual reasons. */
export function lostMessage(lastSignAt: Date): string {
  return `no heartbeat since ${lastSignAt.toISOString()} (runner killed, node lost or OOM-killed?)`;
}

/** Marks `starting`/`running` runs with a silent heartbeat as `lost`; safe to run on several replicas. */
export class Reaper {
  private readonly now: () => Date;
  private readonly loop: PeriodicLoop<ReaperPass>;
  private readonly emit: (event: ReaperEvent) => void;

  constructor(private readonly options: ReaperOptions) {
    this.now = options.now ?? (() => new Date());
    const intervalMs = options.intervalMs ?? Math.min(Math.max(Math.round(options.lostAfterMs / 4), MIN_INTERVAL_MS), MAX_INTERVAL_MS);
    this.emit = guardListener(options.onEvent);
    this.loop = new PeriodicLoop({
      pass: () => this.pass(),
      // A full batch means more may be waiting: take them now rather than one batch per interval.
      intervalMs: (pass) => (pass && pass.lost.length >= BATCH ? 0 : intervalMs),
      onError: (error) => this.emit({ type: 'pass_failed', error }),
    });
  }

  /** Runs one pass, then one every interval until stop(). Never rejects: a failed pass is a `pass_failed` event. */
  start(): Promise<void> {
    return this.loop.start();
  }

  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One pass, for tests; passes never overlap. Rejects when the RunLog does. */
  tick(): Promise<ReaperPass> {
    return this.loop.runPass();
  }

  private async pass(): Promise<ReaperPass> {
    const now = this.now();
    const before = new Date(now.getTime() - this.options.lostAfterMs);
    const locked = await withAdvisoryXactLock(this.options.db, LOCK_NAME, async (tx) => {
      const lost: SilentRun[] = [];
      for (const run of await lockSilentRuns(tx, before, BATCH)) {
        if (this.options.isSupervised?.(run.run_id)) continue;
        const lastSignAt = new Date(run.last_sign_at);
        const moved = await transitionRun(tx, run.run_id, STARTED_STATUSES, 'lost', {
          finished_at: now,
          error_type: 'Lost',
          error_message: lostMessage(lastSignAt),
        }, {
          event_id: uuidv7(),
          at: now,
          type: 'lost',
          actor: REAPER_ACTOR,
          detail: {
            reason: 'heartbeat stopped',
            last_heartbeat_at: lastSignAt.toISOString(),
            lost_after_ms: this.options.lostAfterMs,
            executor: run.executor,
            executor_ref: run.executor_ref,
          },
        });
        if (moved.changed) lost.push({ ...run, last_sign_at: lastSignAt });
      }
      return lost;
    });
    if (!locked.acquired) return { busy: true, lost: [] };
    // Reported only now that the transitions are committed.
    for (const run of locked.value) {
      this.emit({
        type: 'run_lost', runId: run.run_id, job: run.job, lastSignAt: run.last_sign_at,
        silentMs: now.getTime() - run.last_sign_at.getTime(), message: lostMessage(run.last_sign_at),
      });
    }
    return { busy: false, lost: locked.value.map((run) => run.run_id) };
  }
}
