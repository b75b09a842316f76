// The embedded RunLog's write-behind sink: `kubescribe run` on PGlite with no server records into its
// spool file only and leaves the import to a detached flusher (src/cli/spool-flusher.ts). Opening
// PGlite costs ~0.9 s of CPU (WebAssembly compile, unpacking its share/ files, a cold backend, the
// checkpoint at close) that no option of PGlite 0.5 skips: a run that waited for it could not start
// within issue 11's 300 ms (docs/benchmarks.md, "Write-behind runs on the embedded RunLog").
// The file is the one the Recorder spools to when a sink is unreachable, in the same format, so every
// flush (flushSpoolsTo: the flusher, any command that opens the RunLog, a running dev) imports it.
import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, write, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { EventInput, RunPatch, TransitionResult } from '../runlog/sql/runs.ts';
import type { RecordOp } from './record-ops.ts';
import type { RecordSink, SinkRun } from './record-sink.ts';
import { writerFileOf } from './recorder.ts';

/**
 * Appends every batch to the run's spool file. The writer pid file says "still being written": a
 * flush leaves the spool alone until this process closes the sink (or dies: a SIGKILLed runner's
 * spool is imported by the next flush, its last line cut short at most).
 */
export class SpoolSink implements RecordSink {
  readonly description = 'the spool';
  readonly replaysSpools = false;
  private fd: number | null = null;
  private wrote = false;
  // A batch holds at most ~1 MiB of log text (record-sink.ts): 3 bytes of UTF-8 per UTF-16 unit at most.
  private readonly encoded = Buffer.allocUnsafeSlow(4 * 1024 * 1024);

  constructor(private readonly spoolFile: string) {}

  /** True once a record was written: the file exists and a flusher has something to import. */
  get hasRecords(): boolean {
    return this.wrote;
  }

  async apply(ops: RecordOp[]): Promise<void> {
    const fd = this.open();
    const text = ops.map((op) => JSON.stringify(op) + '\n').join('');
    // On disk before the job runs on, and before the runner says how it ended: the run's creation and
    // its transitions (running, then the outcome). Log chunks and heartbeats ride on the next of these
    // or on close; fsync each (up to four a second) would cost a job writing fast for nothing it needs.
    if (ops.some((op) => op.op === 'insert_run' || op.op === 'transition')) {
      writeSync(fd, text);
      this.wrote = true;
      fsyncSync(fd);
      return;
    }
    // Log chunks are written on libuv's thread pool: a synchronous write of the head's 5 MB took
    // ~0.1-0.2 s of the main thread while the command was still writing (50 MB burst, PGlite), time
    // in which nobody read its output. The Recorder awaits each batch before the next, so the file
    // keeps their order, and its backlog stays above zero meanwhile: the tail's flush waits, as it
    // does for a RunLog still writing (supervisor.ts).
    // Encoded into memory reused from batch to batch (free again once the write is done: the next
    // batch waits for it); a new buffer for each cost page faults and ~40 ms of CPU per 50 MB stored.
    const bytes = text.length * 3 <= this.encoded.length ? this.encoded.subarray(0, this.encoded.write(text)) : Buffer.from(text, 'utf8');
    await writeAll(fd, bytes);
    this.wrote = true;
  }

  // Write-behind is used only for a new run: adopting a queued run (--run-id) needs the RunLog's answer.
  async getRun(): Promise<SinkRun | null> {
    throw new Error('the spool cannot answer for a run: adopting a run needs the RunLog');
  }

  async adopt(_runId: string, _patch: RunPatch, _event: EventInput): Promise<TransitionResult> {
    throw new Error('the spool cannot adopt a run: adopting a run needs the RunLog');
  }

  isUnreachable(): boolean {
    return false;
  }

  async close(): Promise<void> {
    if (this.fd !== null) {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = null;
    }
    // Last: from now on any flush may import the file.
    rmSync(writerFileOf(this.spoolFile), { force: true });
  }

  private open(): number {
    if (this.fd !== null) return this.fd;
    mkdirSync(dirname(this.spoolFile), { recursive: true });
    // The pid file before the spool, so that no flush ever sees the spool without its writer.
    const writerFile = writerFileOf(this.spoolFile);
    mkdirSync(dirname(writerFile), { recursive: true });
    writeFileSync(writerFile, `${process.pid}\n`, { mode: 0o600 });
    this.fd = openSync(this.spoolFile, 'a', 0o600);
    // The new file's directory entry too: the run must survive a power cut once it started.
    const dirFd = openSync(dirname(this.spoolFile), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return this.fd;
  }
}

/** Writes all of `bytes` at the file's end (opened for appending) on the thread pool. */
async function writeAll(fd: number, bytes: Buffer): Promise<void> {
  for (let offset = 0; offset < bytes.length; ) {
    offset += await new Promise<number>((resolve, reject) => {
      write(fd, bytes, offset, bytes.length - offset, null, (error, written) => (error ? reject(error) : resolve(written)));
    });
  }
}
