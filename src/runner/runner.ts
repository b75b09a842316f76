import { formatDuration } from '../config/durations.ts';
import type { KubescribeConfig } from '../config/job-definition.ts';
import { executorActor } from '../executors/actor.ts';
import type { Db } from '../runlog/db.ts';
import { runDurationMs } from '../runlog/run-duration.ts';
import { runEvent } from '../runlog/run-event.ts';
import type { EventInput } from '../runlog/sql/runs.ts';
import { STARTED_STATUSES, type Trigger } from '../runlog/types.ts';
import { uuidv7 } from '../runlog/uuidv7.ts';
import { childEnvironment, type EnvMode } from './child-env.ts';
import { checkInvocation } from './invocation.ts';
import { formatBytes } from './log-capture.ts';
import { classifyOutcome } from './outcome.ts';
import { readOutputFile } from './output-file.ts';
import { createProtocolFiles } from './protocol-files.ts';
import type { RecordSink } from './record-sink.ts';
import { Recorder, spoolFileOf } from './recorder.ts';
import { closeRunRecord, executorRef, recordTransition, startRunRecord, USAGE_EXIT_CODE } from './run-record.ts';
import { discardOutputChannels, prepareOutputChannels } from './output-channel.ts';
import { superviseChild } from './supervisor.ts';
import { timing } from '../util/timing.ts';

export interface RunnerInput {
  /** The command after `--`; empty means the job's own command. */
  command: string[];
  job: string | null;
  /** Adopt this (queued) run instead of creating one. */
  runId: string | null;
  /** The id of the run to create when not adopting (default: a new UUIDv7); a write-behind spool is named by it. */
  newRunId?: string;
  /** Raw `-p key=value` pairs. */
  params: string[];
  trigger: Trigger;
  triggeredBy: string;
  config: KubescribeConfig;
  /** KubeScribe's local directory (offline buffer). */
  home: string;
  /** Where records go (runlog-sink.ts, api-sink.ts); else a RunLog sink over `openDb`. */
  sink?: RecordSink;
  /** Opens the RunLog (a RunLog sink, when no `sink` is given). */
  openDb?: () => Promise<Db>;
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

  const invocation = checkInvocation(input);
  if ('problem' in invocation) {
    warn(`kubescribe: ${invocation.problem}`);
    return USAGE_EXIT_CODE;
  }
  const { job, definition, command, cliParams } = invocation;
  // Made while the run record is started (adopting a queued run waits for the RunLog): a command
  // that does not start after all closes them.
  const outputChannels = prepareOutputChannels();

  const runId = input.runId ?? input.newRunId ?? uuidv7();
  const recorder = new Recorder({
    sink: input.sink,
    open: input.openDb,
    spoolFile: spoolFileOf(input.home, runId),
    say: warn,
    retryMs: input.retryMs,
  });
  // The run is created by whoever triggered it; every later step is the runner's, on behalf of its
  // executor, where it runs (docs/runner.md, "Who did what").
  const executor = input.executor ?? 'local';
  const where = typeof input.executorRef?.pod === 'string' ? input.executorRef.pod : undefined;
  const actor = executorActor(executor, where);
  const event = (type: string, detail: Record<string, unknown> = {}): EventInput => runEvent(type, actor, detail);

  const started = await startRunRecord({
    runId,
    adopt: input.runId !== null,
    job,
    definition,
    config: input.config,
    command,
    cliParams,
    trigger: input.trigger,
    triggeredBy: input.triggeredBy,
    executor,
    executorRef: input.executorRef,
    scheduledFor: input.scheduledFor ?? null,
    home: input.home,
    recorder,
    flushTimeoutMs: input.flushTimeoutMs,
    event,
    warn,
    note,
  }).catch((error: unknown) => {
    discardOutputChannels(outputChannels);
    throw error;
  });
  if ('exitCode' in started) {
    discardOutputChannels(outputChannels);
    return started.exitCode;
  }
  timing('run record started');

  const settings = {
    timeoutMs: input.timeoutMs ?? definition?.timeout_ms,
    graceMs: input.graceMs ?? definition?.grace_period_ms ?? 10_000,
    heartbeatMs: input.heartbeatMs ?? input.config.runlog.heartbeat_ms,
    logCapBytes: input.logCapBytes ?? input.config.runlog.log_cap_bytes,
  };
  const files = createProtocolFiles(runId, job, started.params);
  const childEnv = childEnvironment({
    mode: input.envMode ?? 'inherit',
    from: input.env ?? process.env,
    pass: input.passEnv ?? [],
    jobEnv: definition?.env ?? {},
    protocol: files.env,
  });
  // One of the two, never both: a KUBESCRIBE_PARAMS from the job's env must not contradict the file.
  if (files.env.KUBESCRIBE_PARAMS_FILE) delete childEnv.KUBESCRIBE_PARAMS;

  const supervision = await superviseChild({
    runId,
    command,
    env: childEnv,
    cwd: input.cwd,
    recorder,
    ...settings,
    processSignals: input.processSignals !== false,
    signal: input.signal,
    orphanWatchdog: input.orphanWatchdog !== false,
    stdout,
    stderr,
    warn,
    outputChannels,
    steps: {
      spawned: (pid, at) => {
        timing('command spawned');
        if (pid) input.onStarted?.(pid);
        recordTransition(recorder, runId, ['starting'], 'running', { started_at: at, heartbeat_at: at, executor_ref: executorRef(pid ?? null, input.executorRef) },
          event('started', { pid }));
      },
      cancelRequested: (signal, requestedBy) => {
        // A signal to the runner (a pod deleted, Ctrl-C) names nobody: the runner saw it.
        recorder.record({ op: 'event', run_id: runId, event: runEvent('cancel_requested', requestedBy ?? actor, { signal }) });
      },
      timeoutReached: (timeoutMs) => {
        recorder.record({ op: 'event', run_id: runId, event: event('timeout_reached', { timeout_ms: timeoutMs }) });
      },
    },
  }).catch((error: unknown) => {
    files.remove();
    throw error;
  });
  const { exit, finishedAt } = supervision;
  timing('command exited');
  // The run record's own times, so the final event says what `runs show` and the API say; null if the command never started.
  const durationMs = runDurationMs({ started_at: supervision.startedAt, finished_at: finishedAt });

  const report = readOutputFile(files.outputFile);
  files.remove();
  for (const warning of report.warnings) {
    warn(`kubescribe: warning: KUBESCRIBE_OUTPUT line ${warning.line}: ${warning.message}`);
    recorder.record({ op: 'event', run_id: runId, event: event('warning', { source: 'KUBESCRIBE_OUTPUT', ...warning }) });
  }

  const { status, error, exitCode } = classifyOutcome({
    exit,
    program: command[0]!,
    timedOutAfterMs: supervision.timedOutAfterMs,
    cancel: supervision.cancel,
    killedAfterGrace: supervision.killedAfterGrace,
    graceMs: settings.graceMs,
    stderrText: supervision.stderrText,
  });
  const { code, signal, spawnError } = exit;
  recordTransition(recorder, runId, STARTED_STATUSES, status, {
    finished_at: finishedAt,
    exit_code: spawnError ? null : code,
    signal,
    error_type: error?.type ?? null,
    error_message: error?.message ?? null,
    error_tail: error?.tail ?? null,
    outputs: report.outputs,
    metrics: report.metrics,
    log_bytes: supervision.logBytes,
    log_dropped_bytes: supervision.droppedLogBytes,
  }, event(status, { exit_code: code, signal, duration_ms: durationMs }));

  if (spawnError) warn(`kubescribe: ${error!.message}`);
  note(
    `kubescribe: run ${runId} (${job}) ${status}${durationMs === null ? '' : ` in ${formatDuration(Math.max(durationMs, 1))}`}` +
      (code !== null && code !== 0 ? `, exit code ${code}` : '') +
      (signal ? `, ${signal}` : '') +
      (error && !spawnError ? ` — ${error.type}${error.message ? `: ${firstLine(error.message)}` : ''}` : '') +
      (supervision.droppedLogBytes > 0 ? ` (log capped: ${formatBytes(supervision.droppedLogBytes)} dropped)` : ''),
  );
  await closeRunRecord(recorder, runId, input.flushTimeoutMs, warn);
  timing('sink closed');
  return exitCode;
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
