// One shape for every background loop of the server (scheduler, reaper, notifier, Kubernetes
// reconciler): a timer, passes that never overlap, a stop() that waits for the pass in progress,
// and failures reported rather than thrown, so a failed pass is simply followed by the next one.
// The component keeps only its pass function. Which replica does a pass is the pass's own business
// (withAdvisoryXactLock in runlog/sql/advisory-lock.ts): the scheduler and the reconciler must
// release the lock before their slow half (creating runs, calling Kubernetes), so a lock held by
// the loop around the whole pass would be held too long.

// The wait after a pass whose interval could not be computed: the usual order of magnitude of our loops.
const FALLBACK_INTERVAL_MS = 1000;

/** What a loop needs: its pass, the wait between passes, and where failures go. */
export interface PeriodicLoopOptions<T> {
  /** One pass of the work. A rejection goes to onError and the loop goes on. */
  pass: () => Promise<T>;
  /** The wait before the next pass: fixed, or decided by the last pass's result (undefined after a failure). */
  intervalMs: number | ((result: T | undefined) => number);
  /** Receives a failed pass's error; a listener that throws is ignored. */
  onError: (error: Error) => void;
  /** Let the process exit while only this loop's timer is pending (default false). */
  unref?: boolean;
}

/** Converts whatever a pass threw into an Error. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Wraps a component's event listener so that a listener's bug never stops the loop that reports to it. */
export function guardListener<E>(listener: ((event: E) => void) | undefined): (event: E) => void {
  return (event) => {
    try {
      listener?.(event);
    } catch {
      // Reporting is best effort; the work it reports on is not.
    }
  };
}

/** Runs a pass at start and then one per interval until stop(); passes never overlap. */
export class PeriodicLoop<T> {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  // Every pass, timed or asked for with runPass(), queues behind the previous one.
  private passes: Promise<unknown> = Promise.resolve();
  private readonly onError: (error: Error) => void;

  constructor(private readonly options: PeriodicLoopOptions<T>) {
    this.onError = guardListener(options.onError);
  }

  /** True between start() and stop(). */
  get started(): boolean {
    return this.running;
  }

  /** Runs the first pass and resolves when it is done; the timer takes over from there. Never rejects. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.cycle();
  }

  /** One pass now, after the one in progress if any; rejects as the pass does (not reported to onError). */
  runPass(): Promise<T> {
    const pass = this.passes.then(() => this.options.pass());
    this.passes = pass.catch(() => {});
    return pass;
  }

  /** Stops the timer and resolves once the pass in progress, if any, has finished. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // A pass queued while this one was awaited (runPass) is waited for too.
    let last: Promise<unknown>;
    do {
      last = this.passes;
      await last;
    } while (last !== this.passes);
  }

  private async cycle(): Promise<void> {
    this.timer = null;
    if (!this.running) return;
    let result: T | undefined;
    try {
      result = await this.runPass();
    } catch (error) {
      this.onError(asError(error));
    }
    if (!this.running) return;
    const { intervalMs } = this.options;
    let delay = typeof intervalMs === 'number' ? intervalMs : Number.NaN;
    if (typeof intervalMs === 'function') {
      try {
        delay = intervalMs(result);
      } catch (error) {
        this.onError(asError(error));
      }
    }
    // NaN or a throwing interval function must not turn the loop into a busy loop or stop it.
    this.timer = setTimeout(() => void this.cycle(), Number.isFinite(delay) ? Math.max(0, delay) : FALLBACK_INTERVAL_MS);
    if (this.options.unref) this.timer.unref();
  }
}
