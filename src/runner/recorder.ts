import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Db } from '../runlog/db.ts';
import { isUnreachable, withinBound } from '../runlog/connectivity.ts';
import { applyOp, type RecordOp } from './record-ops.ts';

export interface RecorderOptions {
  /** Opens (and migrates) the RunLog; called again after a failure. */
  open: () => Promise<Db>;
  /** The offline buffer for this run: a JSON-lines file of records not yet in the RunLog. */
  spoolFile: string;
  /** Where to say what is going on (the runner's stderr). */
  say: (line: string) => void;
  /** First retry delay after a failure; doubles up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  /**
   * A write (or read) to PostgreSQL not done within this bound counts as the RunLog being unreachable:
   * a database that went silent must not stall the job. Records are idempotent, so one that did land late is
   * harmless when replayed. Default 10 s; 0: no bound of the recorder's own.
   */
  stuckAfterMs?: number;
}

/** The default of {@link RecorderOptions.stuckAfterMs}. */
export const STUCK_AFTER_MS = 10_000;

// Offline buffers of recorders still open in this process (the server runs many runners at once):
// another runner's flushSpools must leave them to their owner, which still holds every record in memory.
const OPEN_SPOOLS = new Set<string>();

/**
 * Writes the runner's records to the RunLog in order. When the RunLog cannot be reached, records go
 * to a file on local disk instead and are replayed, in order, once it answers again: the job runs on
 * and no record is lost. Records are idempotent, so replaying some twice is harmless. A RunLog that
 * stops answering (writes that do not finish within `stuckAfterMs`) is treated as unreachable.
 */
export class Recorder {
  private db: Db | null = null;
  private queue: RecordOp[] = [];
  private offline = false;
  private spooled = false;
  private working: Promise<void> | null = null;
  private retryDelay: number;
  private wake: (() => void) | null = null;
  private closed = false;
  private backlog = 0;
  lastError: unknown = null;

  constructor(private readonly options: RecorderOptions) {
    this.retryDelay = options.retryMs ?? 1000;
    OPEN_SPOOLS.add(options.spoolFile);
  }

  /** Log text waiting to be written: the runner slows its reading of the child when this grows. */
  get backlogBytes(): number {
    return this.backlog;
  }

  /** True while records are being buffered on disk. */
  get isOffline(): boolean {
    return this.offline;
  }

  /** Queues a record; it is written in order, now or after the RunLog comes back. */
  record(op: RecordOp): void {
    this.backlog += opBytes(op);
    this.queue.push(op);
    if (this.offline) this.spoolAppend([op]);
    this.kick();
  }

  /**
   * Runs a read against the RunLog once everything queued before it is written. Returns null when the
   * RunLog is unreachable, so the caller can decide how to carry on without it.
   */
  async read<T>(fn: (db: Db) => Promise<T>): Promise<T | null> {
    await this.drain(0);
    if (this.offline) return null;
    try {
      const db = await this.connect();
      return await this.bounded(db, fn(db));
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      this.goOffline(error);
      return null;
    }
  }

  /** Waits until the queue is written, or `timeoutMs` passes. Returns true when everything is in the RunLog. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.kick();
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 || this.working) {
      if (this.offline && Date.now() >= deadline) return false;
      const remaining = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.offline ? Math.min(remaining, 200) : 50);
      });
      // Cleared, or a pending timer would hold the process open up to 50 ms after the last write.
      await Promise.race([this.working ?? Promise.resolve(), tick]).finally(() => clearTimeout(timer));
      if (this.offline && remaining === 0) return false;
    }
    return true;
  }

  /** Drains for up to `timeoutMs`, then closes the connection. Returns the spool file if records stayed on disk. */
  async close(timeoutMs: number): Promise<string | null> {
    const done = await this.drain(timeoutMs);
    this.closed = true;
    OPEN_SPOOLS.delete(this.options.spoolFile);
    this.wake?.();
    await this.db?.close().catch(() => {});
    this.db = null;
    if (done) return null;
    this.spoolRewrite();
    return this.options.spoolFile;
  }

  private kick(): void {
    if (this.working || this.closed || this.queue.length === 0) return;
    this.working = this.work().finally(() => {
      this.working = null;
      if (this.queue.length > 0 && !this.closed) this.kick();
    });
  }

  private async work(): Promise<void> {
    while (this.queue.length > 0 && !this.closed) {
      const op = this.queue[0]!;
      try {
        const db = await this.connect();
        await this.bounded(db, applyOp(db, op));
        this.queue.shift();
        this.backlog -= opBytes(op);
        if (this.offline && this.queue.length === 0) this.backOnline();
      } catch (error) {
        if (isUnreachable(error)) {
          this.goOffline(error);
          await this.pause();
          continue;
        }
        // A record the RunLog rejects would be rejected forever; say so and keep the rest flowing.
        this.options.say(`kubescribe: could not record ${op.op} (${describe(error)}); skipping it`);
        this.queue.shift();
        this.backlog -= opBytes(op);
      }
    }
  }

  // Only a server across a network can go silent; embedded PGlite answers or fails, and a slow
  // machine must not make it look unreachable. Opening is bounded by the engine (connect_timeout).
  private bounded<T>(db: Db, work: Promise<T>): Promise<T> {
    return db.engine === 'postgres' ? withinBound(work, this.options.stuckAfterMs ?? STUCK_AFTER_MS) : work;
  }

  private async connect(): Promise<Db> {
    this.db ??= await this.options.open();
    return this.db;
  }

  private goOffline(error: unknown): void {
    this.lastError = error;
    if (this.offline) return;
    this.offline = true;
    this.spoolRewrite();
    this.options.say(
      `kubescribe: the RunLog is unreachable (${describe(error)}); the job keeps running and its records are ` +
        `buffered in ${this.options.spoolFile} until the RunLog answers again`,
    );
    // A pool that lost its server may hold broken clients; start over on the next attempt.
    const db = this.db;
    this.db = null;
    void db?.close().catch(() => {});
  }

  private backOnline(): void {
    this.offline = false;
    this.retryDelay = this.options.retryMs ?? 1000;
    rmSync(this.options.spoolFile, { force: true });
    this.spooled = false;
    this.options.say('kubescribe: the RunLog answers again; buffered records flushed');
  }

  private async pause(): Promise<void> {
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, this.options.maxRetryMs ?? 15_000);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = null;
  }

  private spoolRewrite(): void {
    mkdirSync(dirname(this.options.spoolFile), { recursive: true });
    writeFileSync(this.options.spoolFile, this.queue.map((op) => JSON.stringify(op) + '\n').join(''), { mode: 0o600 });
    this.spooled = true;
  }

  private spoolAppend(ops: RecordOp[]): void {
    if (!this.spooled) return this.spoolRewrite();
    appendFileSync(this.options.spoolFile, ops.map((op) => JSON.stringify(op) + '\n').join(''));
  }
}

/** Where runners under KubeScribe's home (`.kubescribe/`) leave records the RunLog did not take yet. */
export function spoolDirectory(home: string): string {
  return join(home, 'spool');
}

/** The offline buffer of one run under `home`. */
export function spoolFileOf(home: string, runId: string): string {
  return join(spoolDirectory(home), `${runId}.jsonl`);
}

/** Replays offline buffers left by runners that exited while the RunLog was unreachable. Returns how many were flushed. */
export async function flushSpools(db: Db, spoolDir: string, say: (line: string) => void): Promise<number> {
  let files: string[];
  try {
    files = readdirSync(spoolDir).filter((name) => name.endsWith('.jsonl'));
  } catch {
    return 0;
  }
  let flushed = 0;
  for (const name of files.sort()) {
    const path = join(spoolDir, name);
    if (OPEN_SPOOLS.has(path)) continue;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      // Flushed and removed by its owner or another process since the directory was listed.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const lines = text.split('\n');
    for (const [index, line] of lines.entries()) {
      if (!line.trim()) continue;
      let op: RecordOp;
      try {
        op = JSON.parse(line) as RecordOp;
      } catch {
        // A line cut short by a crash mid-write can only be the last one; everything before it is whole.
        say(`kubescribe: ${path}:${index + 1}: unreadable buffered record skipped`);
        continue;
      }
      await applyOp(db, op);
    }
    rmSync(path, { force: true });
    flushed++;
    say(`kubescribe: flushed buffered records of run ${name.replace(/\.jsonl$/, '')} into the RunLog`);
  }
  return flushed;
}

function describe(error: unknown): string {
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ? `${(error as NodeJS.ErrnoException).code}: ${error.message}` : error.message;
  return String(error);
}

function opBytes(op: RecordOp): number {
  if (op.op !== 'logs') return 0;
  let bytes = 0;
  for (const row of op.rows) bytes += row.text.length;
  return bytes;
}
