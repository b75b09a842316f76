// Retention: run logs and the notification outbox grow fastest, so `retention: {logs: 90d,
// notifications: 30d}` prunes them, and nothing else. The run rows, their events, errors, metrics
// and outputs stay: the RunLog remains the permanent record of every run.
//
// Each pass deletes one bounded batch (at most 1,000 log chunks of at most 100 runs; at most 1,000
// deliveries with their attempts, and 1,000 events) in its own short transaction, under an advisory lock so one replica
// does it. A full batch is followed by the next after a short pause rather than one long statement:
// deleting 10 GB of old logs in one DELETE would hold its row locks and its WAL for minutes.
import { formatDuration } from '../config/durations.ts';
import type { KubescribeConfig } from '../config/job-definition.ts';
import type { Db } from './db.ts';
import { withAdvisoryXactLock } from './sql/advisory-lock.ts';
import { pruneLogBatch, pruneNotificationBatch, type LogPruneBatch, type NotificationPruneBatch } from './sql/retention.ts';
import { guardListener, PeriodicLoop } from '../util/periodic-loop.ts';

const LOCK_NAME = 'retention';
const MAX_RUNS = 100;
const MAX_CHUNKS = 1000;
const MAX_OUTBOX_ROWS = 1000;
// Old rows are not urgent: once caught up, a pass every 10 minutes keeps up with any history.
const DEFAULT_INTERVAL_MS = 10 * 60_000;
// Between two full batches: lets other sessions' statements through.
const CATCH_UP_PAUSE_MS = 50;

/** What the retention loop reports. */
export type RetentionEvent =
  | { type: 'pruned'; logs: LogPruneBatch | null; notifications: NotificationPruneBatch | null }
  | { type: 'pass_failed'; error: Error };

/** What one pass did; null parts were not configured, or another replica held the lock. */
export interface RetentionPass {
  busy: boolean;
  logs: LogPruneBatch | null;
  notifications: NotificationPruneBatch | null;
  /** True when a batch was full: more rows may be waiting, so the next pass comes at once. */
  more: boolean;
}

/** What the loop needs. */
export interface RetentionOptions {
  db: Db;
  config: KubescribeConfig;
  /** Time between passes once caught up (default 10 minutes). */
  intervalMs?: number;
  /** Batch sizes (tests use small ones to show that batches are bounded). */
  batch?: { runs?: number; chunks?: number; outboxRows?: number };
  now?: () => Date;
  onEvent?: (event: RetentionEvent) => void;
}

/** Prunes run logs and the notification outbox past their `retention:`; does nothing without it. */
export class Retention {
  private config: KubescribeConfig;
  private readonly loop: PeriodicLoop<RetentionPass>;
  private readonly emit: (event: RetentionEvent) => void;
  private readonly now: () => Date;

  constructor(private readonly options: RetentionOptions) {
    this.config = options.config;
    this.now = options.now ?? (() => new Date());
    this.emit = guardListener(options.onEvent);
    const interval = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.loop = new PeriodicLoop({
      pass: () => this.pass(),
      intervalMs: (pass) => (pass?.more ? CATCH_UP_PAUSE_MS : interval),
      onError: (error) => this.emit({ type: 'pass_failed', error }),
      unref: true,
    });
  }

  /** Runs one pass, then one per interval until stop(). Never rejects. */
  start(): Promise<void> {
    return this.loop.start();
  }

  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Takes a reloaded config's `retention:` from the next pass on. */
  setConfig(config: KubescribeConfig): void {
    this.config = config;
  }

  /** One pass now, for tests; passes never overlap. Rejects when the RunLog does. */
  tick(): Promise<RetentionPass> {
    return this.loop.runPass();
  }

  private async pass(): Promise<RetentionPass> {
    const { logs_ms: logsMs, notifications_ms: notificationsMs } = this.config.retention ?? {};
    const batch = this.options.batch ?? {};
    const maxRuns = batch.runs ?? MAX_RUNS;
    const maxChunks = batch.chunks ?? MAX_CHUNKS;
    const maxRows = batch.outboxRows ?? MAX_OUTBOX_ROWS;
    const now = this.now().getTime();
    let busy = false;
    let logs: LogPruneBatch | null = null;
    let notifications: NotificationPruneBatch | null = null;
    if (logsMs !== undefined) {
      const locked = await withAdvisoryXactLock(this.options.db, LOCK_NAME, (tx) => pruneLogBatch(tx, new Date(now - logsMs), maxRuns, maxChunks));
      if (locked.acquired) logs = locked.value;
      else busy = true;
    }
    if (notificationsMs !== undefined) {
      const locked = await withAdvisoryXactLock(this.options.db, LOCK_NAME, (tx) =>
        pruneNotificationBatch(tx, new Date(now - notificationsMs), maxRows));
      if (locked.acquired) notifications = locked.value;
      else busy = true;
    }
    const more = (logs !== null && (logs.chunks >= maxChunks || logs.candidates >= maxRuns))
      || (notifications !== null && (notifications.deliveries >= maxRows || notifications.events >= maxRows));
    if ((logs && (logs.chunks > 0 || logs.runs > 0)) || (notifications && (notifications.deliveries > 0 || notifications.events > 0))) {
      this.emit({ type: 'pruned', logs, notifications });
    }
    return { busy, logs, notifications, more };
  }
}

/**
 * Why a run has no log to show, or null when it has one: retention removed it (`log_pruned_at`), or is
 * removing it (finished before the `retention.logs` cutoff, not marked yet). The API answers 410 with
 * it and the CLI prints it, rather than an empty or partial log that looks complete.
 */
export function logPrunedMessage(runId: string, run: { finished_at: Date | null; log_pruned_at: Date | null }, logsMs: number | undefined, now = new Date()): string | null {
  const policy = logsMs === undefined ? 'retention.logs' : `retention.logs: ${formatDuration(logsMs)}`;
  const kept = 'the run itself, its events, error, metrics and outputs are kept';
  if (run.log_pruned_at) {
    return `the log of run ${runId} was pruned by retention (${policy}) at ${new Date(run.log_pruned_at).toISOString()}; ${kept}`;
  }
  if (logsMs !== undefined && run.finished_at && new Date(run.finished_at).getTime() < now.getTime() - logsMs) {
    return `the log of run ${runId} (finished ${new Date(run.finished_at).toISOString()}) is past retention (${policy}) and being pruned; ${kept}`;
  }
  return null;
}
