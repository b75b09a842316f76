// Automatic retries, for every executor: decided once from a run's terminal transition, never by the
// executor that ran it. The transition writes a `run_retries` row (migration 0009) in its own
// statement; each pass, under an advisory lock so that one replica decides, the retrier applies the
// job's `retries` policy to the new rows — scheduled with a due time (`retry_scheduled` event) or
// skipped with the reason — and creates the retries that are due through triggerRun, the dispatch
// path of every executor. The due time is in the RunLog: a server that dies during the backoff leaves
// the decision behind, and the next pass of any replica creates the retry when it is due. The
// idempotency key `retry:<run id>` keeps that to one run even when two replicas create it at once.
import type { KubescribeConfig } from '../config/job-definition.ts';
import type { Executor } from '../executors/executor.ts';
import type { Db } from '../runlog/db.ts';
import { runEvent } from '../runlog/run-event.ts';
import { withAdvisoryXactLock } from '../runlog/sql/advisory-lock.ts';
import {
  insertMissingRetryRows, lockOpenRetries, markRetryCreated, nextRetryDue, scheduleRetry, skipRetry, type OpenRetry,
} from '../runlog/sql/run-retries.ts';
import { FAILING_STATUSES } from '../runlog/types.ts';
import { guardListener, PeriodicLoop } from '../util/periodic-loop.ts';
import { ConcurrencyConflictError, IdempotencyConflictError, JobNotFoundError } from './errors.ts';
import { InvalidParamsError, triggerRun } from './trigger-run.ts';

/** The actor of automatic retries: their runs' triggered_by, and the retry events. */
export const RETRY_ACTOR = 'retry-policy';
const LOCK_NAME = 'retrier';
// Rows decided per pass; a full batch is followed by the next pass at once.
const BATCH = 100;
// How often new failures are looked for. A retry waits its backoff anyway (10 s by default), so a
// second more is noise; `trigger --wait` waits for the decision, so it should come within a few seconds.
const DEFAULT_POLL_MS = 1000;
// setTimeout fires at once for delays that do not fit in 32 bits.
const MAX_DELAY_MS = 2 ** 31 - 1;
// The sweep for rows the trigger could not write looks this far back, once a minute.
const SWEEP_LOOKBACK_MS = 24 * 3600_000;
const SWEEP_EVERY_MS = 60_000;
// Failures that would fail again: the params were refused before the job ran.
const NOT_RETRIED_ERRORS = new Set(['InvalidParams']);

/** What the retrier reports; `onEvent` receives each one. */
export type RetrierEvent =
  | { type: 'retry_scheduled'; runId: string; job: string; attempt: number; limit: number; dueAt: Date }
  | { type: 'retry_created'; runId: string; job: string; retryRunId: string; attempt: number }
  | { type: 'retry_skipped'; runId: string; job: string; reason: string }
  | { type: 'pass_failed'; error: Error };

type ScheduledEvent = Extract<RetrierEvent, { type: 'retry_scheduled' }>;
type SkippedEvent = Extract<RetrierEvent, { type: 'retry_skipped' }>;

/** What a pass did: `busy` when another replica held the lock. */
export interface RetrierPass {
  busy: boolean;
  scheduled: string[];
  skipped: string[];
  created: string[];
}

export interface RetrierOptions {
  db: Db;
  config: KubescribeConfig;
  /** The server's executor: only its runs are retried, through its dispatch. */
  executor: Executor;
  /** Time between passes when no retry is due sooner (default 1 s). */
  pollMs?: number;
  now?: () => Date;
  onEvent?: (event: RetrierEvent) => void;
}

/** The delay before attempt `attempt + 1` of a run that ended as attempt `attempt`: backoff × 2^(attempt−1). */
export function retryDelayMs(backoffMs: number, attempt: number): number {
  return Math.min(backoffMs * 2 ** Math.max(0, attempt - 1), MAX_DELAY_MS);
}

/** Decides and creates automatic retries; safe to run on several replicas. */
export class Retrier {
  private readonly now: () => Date;
  private readonly loop: PeriodicLoop<RetrierPass>;
  private readonly emit: (event: RetrierEvent) => void;
  private readonly pollMs: number;
  private lastSweep = 0;
  // The wait before the next pass: the poll interval, or less when a retry is due sooner.
  private untilNext = 0;

  constructor(private readonly options: RetrierOptions) {
    this.now = options.now ?? (() => new Date());
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.emit = guardListener(options.onEvent);
    this.loop = new PeriodicLoop({
      pass: () => this.pass(),
      // After a failed pass (the RunLog away), the poll interval: never a busy loop.
      intervalMs: (pass) => (pass === undefined ? this.pollMs : this.untilNext),
      onError: (error) => this.emit({ type: 'pass_failed', error }),
    });
  }

  /** Uses a reloaded config for the decisions from now on. */
  setConfig(config: KubescribeConfig): void {
    this.options.config = config;
  }

  /** Runs one pass, then one per interval until stop(). Never rejects. */
  start(): Promise<void> {
    return this.loop.start();
  }

  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One pass now (tests); passes never overlap. Rejects when the RunLog does. */
  tick(): Promise<RetrierPass> {
    return this.loop.runPass();
  }

  private async pass(): Promise<RetrierPass> {
    const { db, executor } = this.options;
    const now = this.now();
    const sweep = now.getTime() - this.lastSweep >= SWEEP_EVERY_MS;
    const locked = await withAdvisoryXactLock(db, LOCK_NAME, async (tx) => {
      if (sweep) await insertMissingRetryRows(tx, SWEEP_LOOKBACK_MS);
      const decided: { scheduled: ScheduledEvent[]; skipped: SkippedEvent[] } = { scheduled: [], skipped: [] };
      const due: OpenRetry[] = [];
      const rows = await lockOpenRetries(tx, executor.name, now, BATCH);
      for (const row of rows) {
        if (row.state === 'scheduled') {
          due.push(row);
          continue;
        }
        const decision = this.decide(row);
        if ('skip' in decision) {
          await skipRetry(tx, row.run_id, decision.skip, decision.quiet ? null : runEvent('retry_skipped', RETRY_ACTOR, { reason: decision.skip }, now), decision.limit ?? null);
          // A job without retries is the common case: its failures are not worth a log line each.
          if (!decision.quiet) decided.skipped.push({ type: 'retry_skipped', runId: row.run_id, job: row.job, reason: decision.skip });
          continue;
        }
        const { attempt, limit, dueAt, delayMs } = decision;
        await scheduleRetry(tx, row.run_id, { attempt, limit, dueAt }, runEvent('retry_scheduled', RETRY_ACTOR, {
          attempt, limit, due_at: dueAt.toISOString(), backoff_ms: delayMs,
        }, now));
        decided.scheduled.push({ type: 'retry_scheduled', runId: row.run_id, job: row.job, attempt, limit, dueAt });
        if (dueAt <= now) due.push({ ...row, state: 'scheduled', attempt, retry_limit: limit, due_at: dueAt });
      }
      return { ...decided, due, full: rows.length >= BATCH };
    });
    if (sweep && locked.acquired) this.lastSweep = now.getTime();
    if (!locked.acquired) {
      this.untilNext = this.pollMs;
      return { busy: true, scheduled: [], skipped: [], created: [] };
    }
    // Reported only now that the decisions are committed.
    for (const event of [...locked.value.scheduled, ...locked.value.skipped]) this.emit(event);
    // The runs are created after the lock is released, as the scheduler creates its runs: triggerRun
    // takes its own transaction, and the idempotency key makes a second replica's attempt find the first's run.
    const created: string[] = [];
    const skipped = locked.value.skipped.map((event) => event.runId);
    for (const row of locked.value.due) {
      const outcome = await this.create(row);
      if (outcome === 'created') created.push(row.run_id);
      else if (outcome === 'skipped') skipped.push(row.run_id);
    }
    const next = await nextRetryDue(db, executor.name);
    const untilDue = next ? next.getTime() - this.now().getTime() : Infinity;
    this.untilNext = locked.value.full ? 0 : Math.max(0, Math.min(this.pollMs, untilDue));
    return { busy: false, scheduled: locked.value.scheduled.map((event) => event.runId), skipped, created };
  }

  private decide(row: OpenRetry):
    | { skip: string; quiet?: boolean; limit?: number }
    | { attempt: number; limit: number; dueAt: Date; delayMs: number } {
    if (!FAILING_STATUSES.includes(row.status)) return { skip: `the run ended ${row.status}`, quiet: true };
    const definition = this.options.config.jobs.get(row.job);
    if (!definition) return { skip: `job ${row.job} is not declared`, quiet: true };
    const limit = definition.retries.limit;
    if (limit === 0) return { skip: 'the job has no retries', quiet: true };
    if (row.error_type !== null && NOT_RETRIED_ERRORS.has(row.error_type)) {
      return { skip: `a run that failed with ${row.error_type} would fail again`, limit };
    }
    if (row.run_attempt > limit) return { skip: `retries exhausted: attempt ${row.run_attempt} was the last (retries.limit ${limit})`, limit };
    const delayMs = retryDelayMs(definition.retries.backoff_ms, row.run_attempt);
    // From the run's end, not from this decision: a decision made late (no server was up) keeps the job's backoff.
    const endedAt = row.finished_at ?? row.created_at;
    return { attempt: row.run_attempt + 1, limit, dueAt: new Date(new Date(endedAt).getTime() + delayMs), delayMs };
  }

  /** Creates the due retry through triggerRun; 'failed' leaves it scheduled for the next pass. */
  private async create(row: OpenRetry): Promise<'created' | 'skipped' | 'failed'> {
    const { db, executor } = this.options;
    const config = this.options.config;
    const definition = config.jobs.get(row.job);
    const attempt = row.attempt ?? row.run_attempt + 1;
    const limit = row.retry_limit ?? definition?.retries.limit ?? 0;
    try {
      const result = await triggerRun({ db, config, executor }, {
        job: row.job,
        params: row.params,
        trigger: 'retry',
        triggered_by: RETRY_ACTOR,
        retry_of: row.run_id,
        attempt,
        // One retry per failed run, whichever replica creates it, however often.
        idempotency_key: `retry:${row.run_id}`,
        reason: `automatic retry ${attempt - 1} of ${limit} after run ${row.run_id} ${row.status}` +
          (row.due_at ? `; due at ${new Date(row.due_at).toISOString()}` : ''),
        // A retry continues the old run: it never replaces a newer run, and waits for none.
        concurrency_policy: definition?.concurrency_policy === 'Allow' ? 'Allow' : 'Forbid',
      });
      const retryRunId = result.run!.run_id;
      const linked = await markRetryCreated(db, row.run_id, retryRunId, runEvent('retry_created', RETRY_ACTOR, { run_id: retryRunId, attempt }));
      if (linked) this.emit({ type: 'retry_created', runId: row.run_id, job: row.job, retryRunId, attempt });
      return 'created';
    } catch (error) {
      const expected = error instanceof ConcurrencyConflictError || error instanceof InvalidParamsError ||
        error instanceof JobNotFoundError || error instanceof IdempotencyConflictError;
      if (!expected) {
        this.emit({ type: 'pass_failed', error: error instanceof Error ? error : new Error(String(error)) });
        return 'failed';
      }
      const reason = (error as Error).message;
      if (await skipRetry(db, row.run_id, reason, runEvent('retry_skipped', RETRY_ACTOR, { reason }), limit)) {
        this.emit({ type: 'retry_skipped', runId: row.run_id, job: row.job, reason });
      }
      return 'skipped';
    }
  }
}
