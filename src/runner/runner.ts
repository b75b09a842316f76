import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, constants as osConstants } from 'node:os';
import { basename, join } from 'node:path';
import { formatDuration } from '../config/durations.ts';
import { jobDefinitionHash, type KubescribeConfig } from '../config/job-definition.ts';
import { jobNameProblem, MAX_JOB_NAME } from '../config/job-name.ts';
import type { Db } from '../runlog/db.ts';
import { getRun, transitionRun, type EventInput, type RunPatch } from '../runlog/sql/runs.ts';
import { jobSyncOf } from '../runlog/sync-jobs.ts';
import { isTerminal, type RunStatus, type Trigger } from '../runlog/types.ts';
import { isUuid, uuidv7 } from '../runlog/uuidv7.ts';
import { extractPythonTraceback, lastLines, TailBuffer, type ErrorSummary } from './error-summary.ts';
import { childEnvironment, type EnvMode } from './child-env.ts';
import { formatBytes, LogCapture } from './log-capture.ts';
import { watchProcessGroup, type OrphanWatchdog } from './orphan-watchdog.ts';
import { readOutputFile } from './output-file.ts';
import { InvalidParamsError, parseParamOptions } from './params.ts';
import { flushSpools, Recorder, spoolDirectory, spoolFileOf } from './recorder.ts';
import { signalProcessGroup } from '../util/process-group.ts';

export interface RunnerInput {
  /** The command after `--`; empty means the job's own command. */
  command: string[];
  job: string | null;
  /** Adopt this (queued) run instead of creating one. */
  runId: string | null;
  /** Raw `-p key=value` pairs. */
  params: string[];
  trigger: Trigger;
  triggeredBy: string;
  config: KubescribeConfig;
  /** KubeScribe's local directory (offline buffer). */
  home: string;
  openDb: () => Promise<Db>;
  timeoutMs?: number;
  graceMs?: number;
  heartbeatMs?: number;
  logCapBytes?: number;
  /** How long to wait at exit for an unreachable RunLog before leaving records on disk. */
  flushTimeoutMs?: number;
  /** First retry delay while the RunLog is unreachable. */
  retryMs?: number;
  quiet?: boolean;
  executor?: string;
  /**
   * Cancels the run like a SIGTERM to the runner would (an in-process runner of the local executor
   * gets its cancel requests this way); `reason` names who asked.
   */
  signal?: AbortSignal;
  /** Listen to SIGTERM/SIGINT/SIGHUP of this process (default true; false for in-process runners). */
  processSignals?: boolean;
  /** Working directory of the command (default: this process's). */
  cwd?: string;
  /** Where the runner runs beyond host and pid, kept in the run's executor_ref (a pod's namespace, Job, pod, node). */
  executorRef?: Record<string, unknown>;
  /** The schedule slot that started this run (a CronJob's Job): the new run is linked to it and keyed by it. */
  scheduledFor?: Date | null;
  /**
   * How the command's environment starts (docs/runner.md, "The job's environment"): `inherit` (default,
   * `kubescribe run`) passes this process's environment on minus the deny-list; `base` (runs started by
   * a server) passes only the base set.
   */
  envMode?: EnvMode;
  /** Variables to pass on from this process's environment whatever the mode and deny-list say (KUBESCRIBE_PASS_ENV). */
  passEnv?: readonly string[];
  /** The environment the command's is made from (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /**
   * Start a watchdog that kills the command's process group if the runner dies first (default true).
   * False for the local executor, whose children outlive a server restart on purpose and are re-adopted.
   */
  orphanWatchdog?: boolean;
  /** Called with the child's pid once it runs (the local executor tracks live runs by it). */
  onStarted?: (pid: number) => void;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** Exit code for usage, config and params errors, as most CLIs do. */
export const USAGE_EXIT_CODE = 2;

const LOG_FLUSH_MS = 250;
const LOG_FLUSH_CHUNKS = 16;
const MAX_BACKLOG_BYTES = 8 * 1024 * 1024;
const INTERPRETERS = new Set(['python', 'python3', 'node', 'bash', 'sh', 'ruby', 'perl', 'Rscript', 'deno', 'bun', 'uv']);
// Linux refuses to exec with one environment string over 128 KiB (MAX_ARG_STRLEN, E2BIG), and all of
// them together count against ARG_MAX (2 MiB by default): params above 64 KiB go in a file instead
// (KUBESCRIBE_PARAMS_FILE), leaving room for the job's own variables.
export const MAX_PARAMS_ENV_BYTES = 64 * 1024;
// How long a command runs before its orphan watchdog starts (docs/runner.md, "When the runner is killed").
const WATCHDOG_DELAY_MS = 50;

/**
 * Runs one command as a recorded run: creates (or adopts) the run, spawns the command with the runner
 * protocol's environment, passes its output through while storing it, enforces timeout and signals,
 * records the outcome, and returns the exit code the runner should exit with.
 */
export async function runCommand(input: RunnerInput): Promise<number> {
  const stdout = input.stdout ?? process.stdout;
  const stderr = input.stderr ?? process.stderr;
  const warn = (line: string) => stderr.write(`${line}\n`);
  const note = (line: string) => {
    if (!input.quiet) stderr.write(`${line}\n`);
  };

  const definition = input.job ? input.config.jobs.get(input.job) : undefined;
  const command = input.command.length > 0 ? input.command : (definition?.command ?? []);
  if (command.length === 0) {
    warn(
      input.job
        ? `kubescribe: job ${input.job} is not declared in ${input.config.file ?? 'kubescribe.yaml'} and no command was given after --`
        : 'kubescribe: no command: give one after --, e.g. kubescribe run --job report -- python3 script.py',
    );
    return USAGE_EXIT_CODE;
  }
  const job = input.job ?? jobNameFromCommand(command);
  // The name becomes a row, a label and part of file and Kubernetes names: the config's rule applies.
  const badName = jobNameProblem(job);
  if (badName) {
    warn(`kubescribe: --job: ${badName}`);
    return USAGE_EXIT_CODE;
  }
  if (input.runId !== null && !isUuid(input.runId)) {
    warn(`kubescribe: --run-id ${input.runId}: expected a UUID`);
    return USAGE_EXIT_CODE;
  }
  let cliParams: Record<string, string>;
  try {
    cliParams = parseParamOptions(input.params);
  } catch (error) {
    warn(`kubescribe: ${(error as Error).message}`);
    return USAGE_EXIT_CODE;
  }

  const runId = input.runId ?? uuidv7();
  const spoolDir = spoolDirectory(input.home);
  const recorder = new Recorder({
    open: input.openDb,
    spoolFile: spoolFileOf(input.home, runId),
    say: warn,
    retryMs: input.retryMs,
  });
  const actor = input.triggeredBy;
  const event = (type: string, detail: Record<string, unknown> = {}): EventInput => ({
    event_id: uuidv7(),
    at: new Date(),
    type,
    actor,
    detail,
  });
  const transition = (from: RunStatus[], to: RunStatus, patch: RunPatch, ev: EventInput) =>
    recorder.record({ op: 'transition', run_id: runId, from, to, patch, event: ev });

  // Records that earlier runners could not deliver go first, so history stays in order.
  await recorder.read((db) => flushSpools(db, spoolDir, note));

  if (definition) {
    recorder.record({ op: 'sync_job', job: jobSyncOf(definition, input.config.file) });
  } else {
    recorder.record({ op: 'ensure_job', name: job });
  }

  // Create the run, or adopt the queued one an executor created for us.
  let rawParams: Record<string, unknown> = cliParams;
  let adopted = false;
  if (input.runId) {
    const existing = await recorder.read((db) => getRun(db, runId));
    if (existing) {
      if (isTerminal(existing.status)) {
        warn(`kubescribe: run ${runId} already finished (${existing.status}); a run is never started twice`);
        await recorder.close(1000);
        return USAGE_EXIT_CODE;
      }
      if (existing.status !== 'queued') {
        warn(`kubescribe: run ${runId} is already ${existing.status} in another runner; not starting it again`);
        await recorder.close(1000);
        return USAGE_EXIT_CODE;
      }
      rawParams = { ...existing.params, ...cliParams };
      adopted = true;
    }
  }

  // Validated before the run is written so that it records the params it really ran with (defaults
  // applied); invalid params are still recorded, as a failed attempt.
  let params: Record<string, unknown> = rawParams;
  let invalid: InvalidParamsError | null = null;
  try {
    if (definition) {
      // ajv costs ~30 ms to load: only jobs with a params schema pay for it.
      const { resolveParams } = await import('./params-schema.ts');
      params = resolveParams(job, definition.params, rawParams, { coerce: true });
    }
  } catch (error) {
    if (!(error instanceof InvalidParamsError)) throw error;
    invalid = error;
  }

  if (adopted) {
    // The adoption is a compare-and-set we must win before spawning: a cancel or another runner may
    // have moved the run since we read it. Offline, the record is buffered and we go ahead.
    const patch: RunPatch = { executor_ref: executorRef(null, input.executorRef), params };
    const adoptEvent = event('adopted', { host: hostname() });
    const won = await recorder.read((db) => transitionRun(db, runId, ['queued'], 'starting', patch, adoptEvent));
    if (won === null) {
      transition(['queued'], 'starting', patch, adoptEvent);
    } else if (!won.changed) {
      warn(`kubescribe: run ${runId} is ${won.status ?? 'gone'} now, no longer queued; not starting it`);
      await recorder.close(1000);
      return USAGE_EXIT_CODE;
    }
  } else {
    recorder.record({
      op: 'insert_run',
      run: {
        run_id: runId,
        job,
        job_content_hash: definition ? jobDefinitionHash(definition) : null,
        trigger: input.trigger,
        triggered_by: input.triggeredBy,
        params,
        status: 'starting',
        executor: input.executor ?? 'local',
        executor_ref: executorRef(null, input.executorRef),
        image: definition?.image ?? null,
        command,
        tenant: definition?.tenant ?? null,
        labels: definition?.labels ?? {},
        created_at: new Date(),
      },
      event: event('created', { trigger: input.trigger, ...(input.scheduledFor ? { scheduled_for: input.scheduledFor.toISOString() } : {}) }),
    });
    if (input.scheduledFor) recorder.record({ op: 'link_slot', job, scheduled_for: input.scheduledFor.toISOString(), run_id: runId });
  }

  if (invalid) {
    warn(`kubescribe: ${invalid.message}`);
    transition(['starting'], 'failed', {
      finished_at: new Date(),
      error_type: 'InvalidParams',
      error_message: invalid.message,
    }, event('failed', { reason: 'invalid params', issues: invalid.issues }));
    await finish(recorder, input, runId, warn);
    return USAGE_EXIT_CODE;
  }

  const settings = {
    timeoutMs: input.timeoutMs ?? definition?.timeout_ms,
    graceMs: input.graceMs ?? definition?.grace_period_ms ?? 10_000,
    heartbeatMs: input.heartbeatMs ?? input.config.runlog.heartbeat_ms,
    logCapBytes: input.logCapBytes ?? input.config.runlog.log_cap_bytes,
  };
  const outputDir = mkdtempSync(join(tmpdir(), 'kubescribe-'));
  const outputFile = join(outputDir, 'output.jsonl');
  writeFileSync(outputFile, '');
  const paramsJson = JSON.stringify(params);
  const protocol: Record<string, string> = { KUBESCRIBE_RUN_ID: runId, KUBESCRIBE_JOB: job, KUBESCRIBE_OUTPUT: outputFile };
  if (Buffer.byteLength(paramsJson) <= MAX_PARAMS_ENV_BYTES) {
    protocol.KUBESCRIBE_PARAMS = paramsJson;
  } else {
    protocol.KUBESCRIBE_PARAMS_FILE = join(outputDir, 'params.json');
    writeFileSync(protocol.KUBESCRIBE_PARAMS_FILE, paramsJson, { mode: 0o600 });
  }
  const childEnv = childEnvironment({
    mode: input.envMode ?? 'inherit',
    from: input.env ?? process.env,
    pass: input.passEnv ?? [],
    jobEnv: definition?.env ?? {},
    protocol,
  });
  // One of the two, never both: a KUBESCRIBE_PARAMS from the job's env must not contradict the file.
  if (protocol.KUBESCRIBE_PARAMS_FILE) delete childEnv.KUBESCRIBE_PARAMS;

  const capture = new LogCapture(settings.logCapBytes);
  const stderrTail = new TailBuffer();
  const flushLogs = () => {
    const flush = capture.flush();
    if (flush.rows.length > 0) recorder.record({ op: 'logs', run_id: runId, rows: flush.rows });
    if (flush.deleteRange) {
      recorder.record({ op: 'delete_logs', run_id: runId, from: flush.deleteRange[0], to: flush.deleteRange[1] });
    }
    if (flush.marker) recorder.record({ op: 'log_marker', run_id: runId, row: flush.marker });
  };

  let child: ChildProcess | null = null;
  let exited = false;
  let cancelSignal: NodeJS.Signals | null = null;
  let cancelledBy = '';
  let timedOut = false;
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
    }, settings.graceMs);
  };
  const onSignal = (signal: NodeJS.Signals, requestedBy: string = actor) => {
    if (cancelSignal || timedOut) {
      // A second signal means "now": skip the grace period.
      signalGroup('SIGKILL');
      return;
    }
    cancelSignal = signal;
    cancelledBy = requestedBy === actor && handled.length > 0 ? `${signal} to the runner` : requestedBy;
    recorder.record({ op: 'event', run_id: runId, event: { ...event('cancel_requested', { signal }), actor: requestedBy } });
    terminate(signal);
  };
  const handled = input.processSignals === false ? [] : (['SIGTERM', 'SIGINT', 'SIGHUP'] as const);
  for (const signal of handled) process.on(signal, onSignal);
  const onAbort = () => onSignal('SIGTERM', typeof input.signal?.reason === 'string' ? input.signal.reason : actor);
  if (input.signal?.aborted) onAbort();
  else input.signal?.addEventListener('abort', onAbort, { once: true });

  const heartbeat = setInterval(() => {
    recorder.record({ op: 'heartbeat', run_id: runId, at: new Date().toISOString() });
  }, settings.heartbeatMs);
  const logTimer = setInterval(flushLogs, LOG_FLUSH_MS);
  const timeoutTimer = settings.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        recorder.record({ op: 'event', run_id: runId, event: event('timeout_reached', { timeout_ms: settings.timeoutMs }) });
        terminate('SIGTERM');
      }, settings.timeoutMs)
    : null;

  // When the RunLog falls behind a fast writer, read the child more slowly rather than queue without
  // bound. Only while the RunLog answers: while it is unreachable the job must not be held back.
  const paused = new Set<NodeJS.ReadableStream>();
  let throttleTimer: NodeJS.Timeout | null = null;
  const throttle = (from: NodeJS.ReadableStream) => {
    if (recorder.isOffline || recorder.backlogBytes < MAX_BACKLOG_BYTES) return;
    from.pause();
    paused.add(from);
    throttleTimer ??= setInterval(() => {
      if (!recorder.isOffline && recorder.backlogBytes > MAX_BACKLOG_BYTES / 4) return;
      for (const stream of paused) stream.resume();
      paused.clear();
      clearInterval(throttleTimer!);
      throttleTimer = null;
    }, 20);
  };

  const started = Date.now();
  let watchdog: OrphanWatchdog | null = null;
  let watchdogTimer: NodeJS.Timeout | null = null;
  const stopSupervising = () => {
    exited = true;
    if (watchdogTimer) clearTimeout(watchdogTimer);
    (watchdog as OrphanWatchdog | null)?.release();
    for (const signal of handled) process.off(signal, onSignal);
    input.signal?.removeEventListener('abort', onAbort);
    clearInterval(heartbeat);
    if (throttleTimer) clearInterval(throttleTimer);
    clearInterval(logTimer);
    if (timeoutTimer) clearTimeout(timeoutTimer);
    if (graceTimer) clearTimeout(graceTimer);
  };
  // A runner that breaks here must not leave its timers and signal handlers behind: they would keep
  // a server's event loop alive after SIGTERM (issue 9, defect 4).
  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError: NodeJS.ErrnoException | null }>(
    (resolve) => {
      let proc: ChildProcess;
      try {
        proc = spawn(command[0]!, command.slice(1), {
          env: childEnv,
          cwd: input.cwd,
          // An in-process runner (local executor) has no terminal to hand on.
          stdio: [input.processSignals === false ? 'ignore' : 'inherit', 'pipe', 'pipe'],
          detached: true,
        });
      } catch (error) {
        // Node throws (rather than emitting 'error') for E2BIG and a few more: the same failed start.
        resolve({ code: null, signal: null, spawnError: error as NodeJS.ErrnoException });
        return;
      }
      child = proc;
      const pid = proc.pid;
      if (pid && input.orphanWatchdog !== false) {
        // Starting it forks the runner (5-15 ms for a Node process of ~100 MB): a command that is
        // over within WATCHDOG_DELAY_MS never pays for it (`kubescribe run -- true` stays as fast).
        watchdogTimer = setTimeout(() => {
          watchdogTimer = null;
          watchdog = watchProcessGroup(pid, settings.graceMs, (message) =>
            warn(`kubescribe: warning: no orphan watchdog for the command (${message}); if the runner is killed with SIGKILL, the command keeps running`));
        }, WATCHDOG_DELAY_MS);
      }
      proc.once('error', (error: NodeJS.ErrnoException) => {
        if (!proc.pid) resolve({ code: null, signal: null, spawnError: error });
      });
      proc.once('exit', () => {
        if (watchdogTimer) clearTimeout(watchdogTimer);
        watchdogTimer = null;
        (watchdog as OrphanWatchdog | null)?.release();
      });
      proc.once('spawn', () => {
        if (proc.pid) input.onStarted?.(proc.pid);
        transition(['starting'], 'running', { started_at: new Date(), heartbeat_at: new Date(), executor_ref: executorRef(proc.pid ?? null, input.executorRef) },
          event('started', { pid: proc.pid }));
        if (cancelSignal) terminate(cancelSignal);
      });
      const pipe = (from: NodeJS.ReadableStream, to: NodeJS.WritableStream, stream: 'stdout' | 'stderr') => {
        from.on('data', (data: Buffer) => {
          capture.push(stream, data);
          if (stream === 'stderr') stderrTail.push(data.toString('utf8'));
          // Past the head, only the timer flushes: a tail chunk that will be pushed out of the window
          // within 250 ms is never written at all (this is what makes a capped 50 MB log cheap).
          if (!capture.capped && capture.pendingChunks >= LOG_FLUSH_CHUNKS) flushLogs();
          // Respect the terminal's pace so a fast writer cannot balloon our memory.
          if (!to.write(data)) {
            from.pause();
            to.once('drain', () => from.resume());
          }
          throttle(from);
        });
      };
      pipe(proc.stdout!, stdout, 'stdout');
      pipe(proc.stderr!, stderr, 'stderr');
      proc.once('close', (code, signal) => resolve({ code, signal, spawnError: null }));
    },
  ).catch((error: unknown) => {
    stopSupervising();
    rmSync(outputDir, { recursive: true, force: true });
    throw error;
  });
  stopSupervising();
  const finishedAt = new Date();
  const durationMs = finishedAt.getTime() - started;

  capture.end(finishedAt);
  flushLogs();
  recorder.record({ op: 'log_totals', run_id: runId, bytes: capture.totalBytes, dropped: capture.droppedBytes });

  const report = readOutputFile(outputFile);
  rmSync(outputDir, { recursive: true, force: true });
  for (const warning of report.warnings) {
    warn(`kubescribe: warning: KUBESCRIBE_OUTPUT line ${warning.line}: ${warning.message}`);
    recorder.record({ op: 'event', run_id: runId, event: event('warning', { source: 'KUBESCRIBE_OUTPUT', ...warning }) });
  }

  const { code, signal, spawnError } = outcome;
  let status: RunStatus;
  let error: ErrorSummary | null = null;
  const stderrText = stderrTail.toString();
  if (spawnError) {
    status = 'failed';
    error = { type: 'SpawnError', message: `${spawnErrorText(spawnError)}: ${command[0]}`, tail: null };
  } else if (timedOut) {
    status = 'timed_out';
    error = {
      type: 'Timeout',
      message:
        `exceeded the timeout of ${formatDuration(settings.timeoutMs!)}: sent SIGTERM` +
        (killedAfterGrace ? `, then SIGKILL after the ${formatDuration(settings.graceMs)} grace period` : ''),
      tail: lastLines(stderrText),
    };
  } else if (cancelSignal) {
    status = 'cancelled';
    error = {
      type: 'Cancelled',
      message:
        `cancelled by ${cancelledBy}: ${cancelSignal} sent to the process` +
        (killedAfterGrace ? `, then sent SIGKILL after the ${formatDuration(settings.graceMs)} grace period` : ''),
      tail: lastLines(stderrText),
    };
  } else if (code === 0) {
    status = 'succeeded';
  } else {
    status = 'failed';
    error =
      extractPythonTraceback(stderrText) ??
      (signal
        ? {
            type: 'Signal',
            message: `killed by ${signal}` + (signal === 'SIGKILL' ? ' (out of memory, or killed by hand?)' : ''),
            tail: lastLines(stderrText),
          }
        : { type: 'ExitCode', message: `exited with code ${code}`, tail: lastLines(stderrText) });
  }
  const exitCode = spawnError
    ? spawnError.code === 'ENOENT' ? 127 : 126
    : code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);

  transition(['starting', 'running'], status, {
    finished_at: finishedAt,
    exit_code: spawnError ? null : code,
    signal,
    error_type: error?.type ?? null,
    error_message: error?.message ?? null,
    error_tail: error?.tail ?? null,
    outputs: report.outputs,
    metrics: report.metrics,
    log_bytes: capture.totalBytes,
    log_dropped_bytes: capture.droppedBytes,
  }, event(status, { exit_code: code, signal, duration_ms: durationMs }));

  if (spawnError) warn(`kubescribe: ${error!.message}`);
  note(
    `kubescribe: run ${runId} (${job}) ${status} in ${formatDuration(Math.max(durationMs, 1))}` +
      (code !== null && code !== 0 ? `, exit code ${code}` : '') +
      (signal ? `, ${signal}` : '') +
      (error && !spawnError ? ` — ${error.type}${error.message ? `: ${firstLine(error.message)}` : ''}` : '') +
      (capture.droppedBytes > 0 ? ` (log capped: ${formatBytes(capture.droppedBytes)} dropped)` : ''),
  );
  await finish(recorder, input, runId, warn);
  return exitCode;
}

/** Why the command could not start, in words, with the system's code. */
function spawnErrorText(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT': return 'command not found';
    case 'EACCES': return 'permission denied';
    case 'E2BIG': return 'the command line and environment are too large to start the command (E2BIG; one variable or argument over 128 KiB, or all of them over the system\'s ARG_MAX)';
    default: return `the command could not be started: ${error.message}`;
  }
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

function executorRef(pid: number | null, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return pid === null ? { ...extra, host: hostname() } : { ...extra, host: hostname(), pid };
}

/** Names a run's job after the script it runs when no --job is given: `python3 etl/load.py` → `load`. */
export function jobNameFromCommand(command: string[]): string {
  let target = command[0]!;
  if (INTERPRETERS.has(basename(target).replace(/[\d.]+$/, '')) || INTERPRETERS.has(basename(target))) {
    const script = command.slice(1).find((arg) => !arg.startsWith('-'));
    if (script) target = script;
  }
  const name = basename(target)
    .replace(/\.[^.]+$/, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_JOB_NAME)
    // The cut may end on a "-", which a job name may not.
    .replace(/-+$/, '');
  return name || 'adhoc';
}

async function finish(recorder: Recorder, input: RunnerInput, runId: string, warn: (line: string) => void): Promise<void> {
  const left = await recorder.close(input.flushTimeoutMs ?? 60_000);
  if (left) {
    warn(
      `kubescribe: the RunLog is still unreachable; run ${runId}'s records are kept in ${left} and will be written ` +
        'by the next kubescribe command that reaches it (or run `kubescribe flush`)',
    );
  }
}
