import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Db } from '../runlog/db.ts';
import { processExists } from '../util/process-exists.ts';
import { timing } from '../util/timing.ts';
import type { RecordOp } from './record-ops.ts';
import { BATCH_MAX_BYTES, BATCH_MAX_OPS, opBytes, type RecordSink } from './record-sink.ts';

export interface RecorderOptions {
  /** Where records go (runlog-sink.ts, api-sink.ts). */
  sink?: RecordSink;
  /** Shorthand for a RunLog sink over this opener (called again after a failure); `sink` wins. */
  open?: () => Promise<Db>;
  /** The offline buffer for this run: a JSON-lines file of records not yet delivered. */
  spoolFile: string;
  /** Where to say what is going on (the runner's stderr). */
  say: (line: string) => void;
  /** First retry delay after a failure; doubles up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  /** With `open`: the RunLog sink's bound on a stuck write (runlog-sink.ts; default 10 s, 0: none). */
  stuckAfterMs?: number;
}

// Refused records named one by one on stderr before the runner stops naming them.
const MAX_SKIP_LINES = 3;

// Offline buffers of recorders still open in this process (the server runs many runners at once):
// another runner's flushSpools must leave them to their owner, which still holds every record in memory.
const OPEN_SPOOLS = new Set<string>();

/**
 * Writes the runner's records to its sink in order, in batches of consecutive records (one transaction
 * or request each). When the sink cannot be reached, records go to a file on local disk instead and
 * are replayed, in order, once it answers again: the job runs on and no record is lost. Records are
 * idempotent, so replaying some twice is harmless. A sink that stops answering is treated as unreachable.
 */
export class Recorder {
  private sinkValue: RecordSink | null;
  private queue: RecordOp[] = [];
  private offline = false;
  private spooled = false;
  private working: Promise<void> | null = null;
  private retryDelay: number;
  private wake: (() => void) | null = null;
  private closed = false;
  private backlog = 0;
  // After a rejected batch, records go one at a time until that batch is through: only the one record
  // the sink refuses is skipped, never its neighbours.
  private singlesLeft = 0;
  private skipped = 0;
  lastError: unknown = null;

  constructor(private readonly options: RecorderOptions) {
    this.retryDelay = options.retryMs ?? 1000;
    this.sinkValue = options.sink ?? null;
    if (!options.sink && !options.open) throw new Error('Recorder: give a sink or an open()');
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

  /** Queues a record; it is written in order, now or after the sink comes back. */
  record(op: RecordOp): void {
    this.backlog += opBytes(op);
    this.queue.push(op);
    if (this.offline) this.spoolAppend([op]);
    this.kick();
  }

  /**
   * Runs a read against the sink once everything queued before it is written. Returns null when the
   * sink is unreachable, so the caller can decide how to carry on without it.
   */
  async read<T>(fn: (sink: RecordSink) => Promise<T>): Promise<T | null> {
    await this.drain(0);
    if (this.offline) return null;
    const sink = await this.sink().catch((error: unknown) => error as Error);
    try {
      if (sink instanceof Error) throw sink;
      return await fn(sink);
    } catch (error) {
      if (!this.isUnreachable(error)) throw error;
      this.goOffline(error);
      return null;
    }
  }

  /** Waits until the queue is written, or `timeoutMs` passes. Returns true when everything is delivered. */
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

  /** Drains for up to `timeoutMs`, then closes the sink. Returns the spool file if records stayed on disk. */
  async close(timeoutMs: number): Promise<string | null> {
    const done = await this.drain(timeoutMs);
    timing('records written');
    this.closed = true;
    OPEN_SPOOLS.delete(this.options.spoolFile);
    this.wake?.();
    await this.sinkValue?.close().catch(() => {});
    if (done) return null;
    this.spoolRewrite();
    return this.options.spoolFile;
  }

  private async sink(): Promise<RecordSink> {
    if (this.sinkValue) return this.sinkValue;
    // Loaded on demand: a runner that records through the API never loads a database engine.
    const { RunLogSink } = await import('./runlog-sink.ts');
    this.sinkValue ??= new RunLogSink({ open: this.options.open!, stuckAfterMs: this.options.stuckAfterMs });
    return this.sinkValue;
  }

  private isUnreachable(error: unknown): boolean {
    return this.sinkValue ? this.sinkValue.isUnreachable(error) : false;
  }

  private kick(): void {
    if (this.working || this.closed || this.queue.length === 0) return;
    this.working = this.work().finally(() => {
      this.working = null;
      if (this.queue.length > 0 && !this.closed) this.kick();
    });
  }

  /** The next batch: consecutive queued records up to the bounds (at least one). */
  private nextBatch(): RecordOp[] {
    if (this.singlesLeft > 0) return [this.queue[0]!];
    let bytes = 0;
    let end = 0;
    while (end < this.queue.length && end < BATCH_MAX_OPS) {
      const size = opBytes(this.queue[end]!);
      if (end > 0 && bytes + size > BATCH_MAX_BYTES) break;
      bytes += size;
      end++;
    }
    return this.queue.slice(0, end);
  }

  private delivered(count: number): void {
    for (const op of this.queue.splice(0, count)) this.backlog -= opBytes(op);
    if (this.singlesLeft > 0) this.singlesLeft = Math.max(0, this.singlesLeft - count);
  }

  private async work(): Promise<void> {
    while (this.queue.length > 0 && !this.closed) {
      let batch: RecordOp[] | null = null;
      let sink: RecordSink | null = null;
      try {
        sink = await this.sink();
        // Taken once the sink is open: the records queued while it opened (a short run's all) go in
        // this batch, one transaction, instead of waiting for the next.
        batch = this.nextBatch();
        await sink.apply(batch);
        this.delivered(batch.length);
        if (this.offline && this.queue.length === 0) this.backOnline();
      } catch (error) {
        batch ??= this.nextBatch();
        // The opener itself failing (ECONNREFUSED from open()) is the RunLog sink's to judge too.
        if ((sink ?? this.sinkValue)?.isUnreachable(error) ?? false) {
          this.goOffline(error);
          await this.pause();
          continue;
        }
        if (batch.length > 1) {
          this.singlesLeft = batch.length;
          continue;
        }
        // A record the sink rejects would be rejected forever; say so and keep the rest flowing. A run
        // refused as a whole (its job unknown to the server) would say it for every record: three lines, then one more.
        this.skipped++;
        if (this.skipped <= MAX_SKIP_LINES) this.options.say(`kubescribe: could not record ${batch[0]!.op} (${describe(error)}); skipping it`);
        else if (this.skipped === MAX_SKIP_LINES + 1) this.options.say('kubescribe: more records refused; skipping them without saying each');
        this.delivered(1);
      }
    }
  }

  private goOffline(error: unknown): void {
    this.lastError = error;
    if (this.offline) return;
    this.offline = true;
    this.spoolRewrite();
    const what = this.sinkValue?.description ?? 'the RunLog';
    this.options.say(
      `kubescribe: ${what} is unreachable (${describe(error)}); the job keeps running and its records are ` +
        `buffered in ${this.options.spoolFile} until ${what} answers again`,
    );
  }

  private backOnline(): void {
    this.offline = false;
    this.retryDelay = this.options.retryMs ?? 1000;
    rmSync(this.options.spoolFile, { force: true });
    this.spooled = false;
    this.options.say(`kubescribe: ${this.sinkValue?.description ?? 'the RunLog'} answers again; buffered records flushed`);
    rmSync(writerFileOf(this.options.spoolFile), { force: true });
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
    // Who writes this spool: flushSpoolsTo leaves the spool of a live writer alone (it holds every
    // record in memory and replays them itself).
    mkdirSync(dirname(writerFileOf(this.options.spoolFile)), { recursive: true });
    writeFileSync(writerFileOf(this.options.spoolFile), `${process.pid}\n`, { mode: 0o600 });
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

/**
 * The file naming the pid of the process writing a spool: beside the spool directory (`spool.writers/`),
 * so the spool directory holds nothing but spools.
 */
export function writerFileOf(spoolFile: string): string {
  return join(`${dirname(spoolFile)}.writers`, basename(spoolFile).replace(/\.jsonl$/, '.pid'));
}

/** True when the spool's writer is a live process other than this one (which closed its recorder if the spool is not open). */
function writerAlive(spoolFile: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(writerFileOf(spoolFile), 'utf8').trim());
  } catch {
    return false;
  }
  return Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && processExists(pid);
}

/** The spools in `spoolDir` a flush would import now: those whose writer is gone. */
export function importableSpools(spoolDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(spoolDir).filter((name) => name.endsWith('.jsonl'));
  } catch {
    return [];
  }
  return names.map((name) => join(spoolDir, name)).filter((path) => !OPEN_SPOOLS.has(path) && !writerAlive(path));
}

/**
 * Replays offline buffers left by runners that exited while their sink was unreachable, through
 * `sink`, in batches. A spool whose writer still runs is left to it. An unreachable sink stops the
 * flush (the error is thrown; what was sent is idempotent); a spool the sink refuses is left on disk
 * and said. Returns how many were flushed.
 */
export async function flushSpoolsTo(sink: RecordSink, spoolDir: string, say: (line: string) => void): Promise<number> {
  let files: string[];
  try {
    files = readdirSync(spoolDir).filter((name) => name.endsWith('.jsonl'));
  } catch {
    return 0;
  }
  let flushed = 0;
  for (const name of files.sort()) {
    const path = join(spoolDir, name);
    if (OPEN_SPOOLS.has(path) || writerAlive(path)) continue;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      // Flushed and removed by its owner or another process since the directory was listed.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const ops: RecordOp[] = [];
    for (const [index, line] of text.split('\n').entries()) {
      if (!line.trim()) continue;
      try {
        ops.push(JSON.parse(line) as RecordOp);
      } catch {
        // A line cut short by a crash mid-write can only be the last one; everything before it is whole.
        say(`kubescribe: ${path}:${index + 1}: unreadable buffered record skipped`);
      }
    }
    let refused = 0;
    let forbidden = false;
    for (let start = 0; start < ops.length && !forbidden; start += BATCH_MAX_OPS) {
      const batch = ops.slice(start, start + BATCH_MAX_OPS);
      try {
        await sink.apply(batch);
      } catch (error) {
        if (sink.isUnreachable(error)) throw error;
        if (sink.isForbidden?.(error)) {
          // Another run's records, which this credential may not write: kept for a flush that may.
          say(`kubescribe: ${path}: left on disk, ${sink.description} does not let this credential write it (${describe(error)})`);
          forbidden = true;
          break;
        }
        // As the Recorder does: one at a time, so only the records refused are skipped.
        for (const op of batch) {
          try {
            await sink.apply([op]);
          } catch (single) {
            if (sink.isUnreachable(single)) throw single;
            if (sink.isForbidden?.(single)) {
              say(`kubescribe: ${path}: left on disk, ${sink.description} does not let this credential write it (${describe(single)})`);
              forbidden = true;
              break;
            }
            if (refused++ === 0) say(`kubescribe: ${path}: ${sink.description} refused a buffered ${op.op} record (${describe(single)}); skipping it`);
          }
        }
      }
    }
    if (forbidden) continue;
    rmSync(path, { force: true });
    rmSync(writerFileOf(path), { force: true });
    flushed++;
    say(`kubescribe: flushed buffered records of run ${name.replace(/\.jsonl$/, '')} into ${sink.description}`);
  }
  return flushed;
}

function describe(error: unknown): string {
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ? `${(error as NodeJS.ErrnoException).code}: ${error.message}` : error.message;
  return String(error);
}
