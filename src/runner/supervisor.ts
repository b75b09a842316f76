// The child supervisor: spawns the command in its own process group, passes its output through
// while storing it, keeps the heartbeat, and stops it on a timeout, a signal or a cancel (SIGTERM,
// then SIGKILL after the grace period). What the run is recorded as is decided afterwards (outcome.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { signalProcessGroup } from '../util/process-group.ts';
import { timing } from '../util/timing.ts';
import { TailBuffer } from './error-summary.ts';
import { LogCapture } from './log-capture.ts';
import type { ChildExit } from './outcome.ts';
import { watchProcessGroup, type OrphanWatchdog } from './orphan-watchdog.ts';
import { closeOutputChannels, prepareOutputChannels, type OutputChannel } from './output-channel.ts';
import { PassThrough } from './pass-through.ts';
import type { Recorder } from './recorder.ts';

const LOG_FLUSH_MS = 250;
// Rows per `logs` record: 16 chunks of at most 64 KB keep one record within a batch's 1 MiB.
const LOG_RECORD_ROWS = 16;
const MAX_BACKLOG_BYTES = 8 * 1024 * 1024;
// Below the cap, the head is handed to the RunLog on the 250 ms timer alone when all of it fits in
// the RunLog's backlog bound (the default cap's head is 5 MB). It went every 16 chunks (1 MB): a 50 MB
// burst then paid for the RunLog's writes of the head (pg's encoding, an HTTP request and the
// server's work, a spool write) while the command was still writing, on the same two CPUs. A larger
// head still goes every 1 MB: most of it is stored anyway, and 8 MB waiting at once made the
// write-behind spool hold the command's pipes (50 MB stored: 210-230 -> 145 MB/s, RSS +75 MB).
const EARLY_FLUSH_BYTES = 1024 * 1024;
// Output queued for our own stdout or stderr (a slow terminal or log collector) before reading stops.
const MAX_PASSTHROUGH_BACKLOG_BYTES = 4 * 1024 * 1024;
// How long a command runs before its orphan watchdog starts (docs/runner.md, "When the runner is killed").
const WATCHDOG_DELAY_MS = 50;
const RUNNER_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** The run's steps the supervisor sees happen; the caller records them. */
export interface SupervisorSteps {
  /** The command runs (its pid, when the system gave one), since `at`. */
  spawned(pid: number | undefined, at: Date): void;
  /** A first stop request: a signal to the runner (`requestedBy` null) or a cancel by `requestedBy`. */
  cancelRequested(signal: NodeJS.Signals, requestedBy: string | null): void;
  timeoutReached(timeoutMs: number): void;
}

export interface SupervisorOptions {
  runId: string;
  command: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  recorder: Recorder;
  timeoutMs?: number;
  graceMs: number;
  heartbeatMs: number;
  logCapBytes: number;
  /** Listen to SIGTERM/SIGINT/SIGHUP of this process and hand the command its stdin (false in a server). */
  processSignals: boolean;
  /** Cancels like a SIGTERM to the runner would; a string `reason` names who asked. */
  signal?: AbortSignal;
  /** Start a watchdog that kills the command's group if the runner dies first. */
  orphanWatchdog: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  warn: (line: string) => void;
  steps: SupervisorSteps;
  /** The channels to read the command's output from (prepareOutputChannels(), started early); made here if absent. */
  outputChannels?: Promise<OutputChannel[] | null>;
}

/** How the supervision ended: the child's exit and what the supervisor did to it. */
export interface Supervision {
  exit: ChildExit;
  /** When the command started; null if it never did. */
  startedAt: Date | null;
  finishedAt: Date;
  /** The timeout, when it fired. */
  timedOutAfterMs: number | null;
  /** The first stop request and who made it (`SIGTERM to the runner`, `token:alice`). */
  cancel: { signal: NodeJS.Signals; by: string } | null;
  killedAfterGrace: boolean;
  /** The end of the command's stderr. */
  stderrText: string;
  logBytes: number;
  droppedLogBytes: number;
}

/**
 * Runs the command to its end under supervision. Its output is stored in the RunLog (through the
 * recorder) as it comes; returns once the child has exited and its output is flushed.
 */
export async function superviseChild(options: SupervisorOptions): Promise<Supervision> {
  const { runId, recorder, steps } = options;
  const capture = new LogCapture(options.logCapBytes);
  const earlyFlushBytes = capture.headLimit <= MAX_BACKLOG_BYTES ? Number.POSITIVE_INFINITY : EARLY_FLUSH_BYTES;
  const stderrTail = new TailBuffer();
  const flushLogs = (options: { headOnly?: boolean } = {}) => {
    const flush = capture.flush(options);
    for (let start = 0; start < flush.rows.length; start += LOG_RECORD_ROWS) {
      recorder.record({ op: 'logs', run_id: runId, rows: flush.rows.slice(start, start + LOG_RECORD_ROWS) });
    }
    if (flush.deleteRange) {
      recorder.record({ op: 'delete_logs', run_id: runId, from: flush.deleteRange[0], to: flush.deleteRange[1] });
    }
    if (flush.marker) recorder.record({ op: 'log_marker', run_id: runId, row: flush.marker });
  };

  let child: ChildProcess | null = null;
  let startedAt: Date | null = null;
  let exited = false;
  let cancel: Supervision['cancel'] = null;
  let timedOutAfterMs: number | null = null;
  let killedAfterGrace = false;
  let graceTimer: NodeJS.Timeout | null = null;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (!child?.pid || exited) return;
    try {
      // The child leads its own process group, so `sh -c` wrappers and worker processes get it too.
      if (!signalProcessGroup(child.pid, signal)) child.kill(signal);
    } catch {
      child.kill(signal);
    }
  };
  const terminate = (signal: NodeJS.Signals) => {
    signalGroup(signal);
    graceTimer ??= setTimeout(() => {
      killedAfterGrace = !exited;
      signalGroup('SIGKILL');
    }, options.graceMs);
  };
  const stop = (signal: NodeJS.Signals, requestedBy: string | null) => {
    if (cancel || timedOutAfterMs !== null) {
      // A second signal means "now": skip the grace period.
      signalGroup('SIGKILL');
      return;
    }
    cancel = { signal, by: requestedBy ?? `${signal} to the runner` };
    steps.cancelRequested(signal, requestedBy);
    terminate(signal);
  };
  const onSignal = (signal: NodeJS.Signals) => stop(signal, null);
  const handled = options.processSignals ? RUNNER_SIGNALS : [];
  for (const signal of handled) process.on(signal, onSignal);
  const onAbort = () => stop('SIGTERM', typeof options.signal?.reason === 'string' ? options.signal.reason : null);
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const heartbeat = setInterval(() => {
    recorder.record({ op: 'heartbeat', run_id: runId, at: new Date().toISOString() });
  }, options.heartbeatMs);
  // Past the head, a flush hands the RunLog the tail window's newest chunks, which later output deletes
  // again. While the RunLog is still writing earlier log chunks, the timer's flush waits and the
  // window slides in memory instead, where dropping a chunk costs nothing: the command is never held
  // up for output the cap will not keep, and memory stays bounded by the cap (the head, plus at most
  // one tail window queued and one in the capture). 50 MB into a 10 MB cap: the RunLog's 8 MB backlog
  // held the command for 0.4 s on PostgreSQL and 1.5 s on PGlite of its 0.5 s and 1.7 s of writing.
  // The head is always handed out at the next tick; the tail only when the RunLog has caught up, and
  // not at the tick that hands out the head (the head's write is then still to come).
  const flushOnTimer = () => {
    if (capture.capped && !recorder.isOffline && (recorder.backlogBytes > 0 || capture.pendingHeadBytes > 0)) {
      if (capture.pendingHeadBytes > 0) flushLogs({ headOnly: true });
      return;
    }
    flushLogs();
  };
  const logTimer = setInterval(flushOnTimer, LOG_FLUSH_MS);
  const { timeoutMs } = options;
  const timeoutTimer = timeoutMs
    ? setTimeout(() => {
        timedOutAfterMs = timeoutMs;
        steps.timeoutReached(timeoutMs);
        terminate('SIGTERM');
      }, timeoutMs)
    : null;

  // Reading stops for both of the command's pipes at once, never for one. Their relative order is the
  // order in which we read them: a pipe left unread while the other is read gets its lines stored
  // after the other's later ones (a stderr line written before the last stdout line was stored after
  // it whenever a slow reader of our stderr made us pause that pipe alone). Each reason to hold
  // (a pass-through target that fell behind, the RunLog's backlog) is released on its own.
  const pipes: NodeJS.ReadableStream[] = [];
  const holds = new Set<string>();
  const hold = (reason: string) => {
    if (holds.size === 0) for (const pipe of pipes) pipe.pause();
    holds.add(reason);
  };
  const release = (reason: string) => {
    if (!holds.delete(reason) || holds.size > 0) return;
    for (const pipe of pipes) pipe.resume();
  };

  // When the RunLog falls behind a fast writer, read the child more slowly rather than queue without
  // bound. Only while the RunLog answers: while it is unreachable the job must not be held back. And
  // only below the cap: past it, what is queued is bounded by the cap (the timer's flush waits).
  let throttleTimer: NodeJS.Timeout | null = null;
  const throttle = () => {
    if (throttleTimer || capture.capped || recorder.isOffline || recorder.backlogBytes < MAX_BACKLOG_BYTES) return;
    hold('runlog');
    throttleTimer = setInterval(() => {
      if (!capture.capped && !recorder.isOffline && recorder.backlogBytes > MAX_BACKLOG_BYTES / 4) return;
      clearInterval(throttleTimer!);
      throttleTimer = null;
      release('runlog');
    }, 20);
  };

  let watchdog: OrphanWatchdog | null = null;
  let watchdogTimer: NodeJS.Timeout | null = null;
  const stopSupervising = () => {
    exited = true;
    if (watchdogTimer) clearTimeout(watchdogTimer);
    (watchdog as OrphanWatchdog | null)?.release();
    for (const signal of handled) process.off(signal, onSignal);
    options.signal?.removeEventListener('abort', onAbort);
    clearInterval(heartbeat);
    if (throttleTimer) clearInterval(throttleTimer);
    clearInterval(logTimer);
    if (timeoutTimer) clearTimeout(timeoutTimer);
    if (graceTimer) clearTimeout(graceTimer);
  };
  // The command's output, one read at a time, from either reading path: `bytes` is only valid during
  // the call (the socket pairs read into one reused buffer per stream), so whatever keeps them copies.
  const passThrough = {
    // The process's own stdout and stderr are done with a chunk when they call back; other targets may keep it.
    stdout: new PassThrough(options.stdout, options.stdout === process.stdout),
    stderr: new PassThrough(options.stderr, options.stderr === process.stderr),
  };
  const consume = (stream: 'stdout' | 'stderr', bytes: Buffer) => {
    capture.push(stream, bytes);
    if (stream === 'stderr') stderrTail.push(bytes.toString('utf8'));
    // Past the head, only the timer flushes: a tail chunk that will be pushed out of the window
    // within 250 ms is never written at all (this is what makes a capped 50 MB log cheap).
    if (!capture.capped && capture.pendingHeadBytes >= earlyFlushBytes) flushLogs();
    // Respect the terminal's pace so a fast writer cannot balloon our memory, but only past a
    // backlog worth holding both streams for: a reader that lags a little costs no order.
    const to = passThrough[stream].to;
    if (!passThrough[stream].write(bytes) && !holds.has(stream) && queuedBytes(to) > MAX_PASSTHROUGH_BACKLOG_BYTES) {
      hold(stream);
      to.once('drain', () => release(stream));
    }
    throttle();
  };
  const channels = await (options.outputChannels ?? prepareOutputChannels());
  timing(channels ? 'output channels open' : 'output channels: pipes');
  if (channels) {
    channels[0]!.onBytes = (bytes) => consume('stdout', bytes);
    channels[1]!.onBytes = (bytes) => consume('stderr', bytes);
  }

  // A runner that breaks here must not leave its timers and signal handlers behind: they would keep
  // a server's event loop alive after SIGTERM (issue 9, defect 4).
  const exit = await new Promise<ChildExit>((resolve) => {
    const { command } = options;
    let proc: ChildProcess;
    try {
      proc = spawn(command[0]!, command.slice(1), {
        env: options.env,
        cwd: options.cwd,
        // An in-process runner (local executor) has no terminal to hand on.
        stdio: [options.processSignals ? 'inherit' : 'ignore', channels?.[0]!.childEnd ?? 'pipe', channels?.[1]!.childEnd ?? 'pipe'],
        detached: true,
      });
    } catch (error) {
      // Node throws (rather than emitting 'error') for E2BIG and a few more: the same failed start.
      if (channels) closeOutputChannels(channels);
      resolve({ code: null, signal: null, spawnError: error as NodeJS.ErrnoException });
      return;
    }
    // The child has its own copies: ours would keep the streams open after the command's end.
    for (const channel of channels ?? []) channel.childEnd.destroy();
    child = proc;
    const pid = proc.pid;
    // libuv reports a failed exec before spawn() returns, so a pid means the command runs now; the
    // 'spawn' event comes a turn of a busy event loop later (50 ms and more under load).
    if (pid) startedAt = new Date();
    if (pid && options.orphanWatchdog) {
      // Starting it forks the runner (5-15 ms for a Node process of ~100 MB): a command that is
      // over within WATCHDOG_DELAY_MS never pays for it (`kubescribe run -- true` stays as fast).
      watchdogTimer = setTimeout(() => {
        watchdogTimer = null;
        watchdog = watchProcessGroup(pid, options.graceMs, (message) =>
          options.warn(`kubescribe: warning: no orphan watchdog for the command (${message}); if the runner is killed with SIGKILL, the command keeps running`));
      }, WATCHDOG_DELAY_MS);
    }
    proc.once('error', (error: NodeJS.ErrnoException) => {
      if (proc.pid) return;
      if (channels) closeOutputChannels(channels);
      resolve({ code: null, signal: null, spawnError: error });
    });
    proc.once('spawn', () => {
      startedAt ??= new Date();
      steps.spawned(proc.pid, startedAt);
      if (cancel) terminate(cancel.signal);
    });
    // The run ends when the command has exited and both streams have reached their end: a
    // grandchild that still holds one keeps the run open, as a pipe did ('close' of a ChildProcess).
    let exitStatus: ChildExit | null = null;
    let open = 2;
    const settle = () => {
      if (exitStatus && open === 0) resolve(exitStatus);
    };
    proc.once('exit', (code, signal) => {
      if (watchdogTimer) clearTimeout(watchdogTimer);
      watchdogTimer = null;
      (watchdog as OrphanWatchdog | null)?.release();
      exitStatus = { code, signal, spawnError: null };
      settle();
    });
    const readers: NodeJS.ReadableStream[] = channels ? channels.map((channel) => channel.reader) : [proc.stdout!, proc.stderr!];
    readers.forEach((reader, i) => {
      const stream = i === 0 ? 'stdout' : 'stderr';
      pipes.push(reader);
      if (!channels) reader.on('data', (data: Buffer) => consume(stream, data));
      // A read error ends the stream as its end would: what was read is kept, the run goes on to its end.
      reader.on('error', (error: Error) => options.warn(`kubescribe: warning: reading the command's ${stream} failed: ${error.message}`));
      reader.once('close', () => {
        open--;
        settle();
      });
    });
  }).finally(stopSupervising);
  const finishedAt = new Date();

  capture.end(finishedAt);
  flushLogs();
  recorder.record({ op: 'log_totals', run_id: runId, bytes: capture.totalBytes, dropped: capture.droppedBytes });
  return {
    exit,
    startedAt,
    finishedAt,
    timedOutAfterMs,
    cancel,
    killedAfterGrace,
    stderrText: stderrTail.toString(),
    logBytes: capture.totalBytes,
    droppedLogBytes: capture.droppedBytes,
  };
}

/** Bytes queued in a pass-through target; a stream that does not say counts as full once write() says so. */
function queuedBytes(to: NodeJS.WritableStream): number {
  const length = (to as Partial<Writable>).writableLength;
  return typeof length === 'number' ? length : Number.POSITIVE_INFINITY;
}
