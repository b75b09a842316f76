// What a finished command's run is recorded as: its status, error and the runner's exit code.
// Pure, so that every outcome in docs/runner.md ("Outcomes and exit codes") is tested without a process.
import { constants as osConstants } from 'node:os';
import { formatDuration } from '../config/durations.ts';
import type { RunStatus } from '../runlog/types.ts';
import { extractPythonTraceback, lastLines, type ErrorSummary } from './error-summary.ts';

/** How the child ended, as the supervisor saw it. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the command never started (ENOENT, EACCES, E2BIG, …). */
  spawnError: NodeJS.ErrnoException | null;
}

/** Everything the classification depends on. */
export interface OutcomeInput {
  exit: ChildExit;
  /** The program that was started (the command's first word), for the spawn error message. */
  program: string;
  /** The timeout that fired, if one did. */
  timedOutAfterMs: number | null;
  /** The first stop request (a signal to the runner, or a cancel), if any. */
  cancel: { signal: NodeJS.Signals; by: string } | null;
  /** True when the grace period ran out and the group got SIGKILL. */
  killedAfterGrace: boolean;
  graceMs: number;
  /** The end of the child's stderr: the error's tail, or a Python traceback. */
  stderrText: string;
}

/** A run's recorded outcome and the exit code the runner leaves with. */
export interface Outcome {
  status: RunStatus;
  error: ErrorSummary | null;
  exitCode: number;
}

/** Classifies a finished command: a failed start, a timeout, a cancel, success, or a failure. */
export function classifyOutcome(input: OutcomeInput): Outcome {
  const { exit: { code, signal, spawnError }, stderrText } = input;
  const afterGrace = (verb: string) => (input.killedAfterGrace ? `, then ${verb}SIGKILL after the ${formatDuration(input.graceMs)} grace period` : '');
  if (spawnError) {
    return {
      status: 'failed',
      error: { type: 'SpawnError', message: `${spawnErrorText(spawnError)}: ${input.program}`, tail: null },
      exitCode: spawnError.code === 'ENOENT' ? 127 : 126,
    };
  }
  const exitCode = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
  if (input.timedOutAfterMs !== null) {
    return {
      status: 'timed_out',
      error: {
        type: 'Timeout',
        message: `exceeded the timeout of ${formatDuration(input.timedOutAfterMs)}: sent SIGTERM${afterGrace('')}`,
        tail: lastLines(stderrText),
      },
      exitCode,
    };
  }
  if (input.cancel) {
    return {
      status: 'cancelled',
      error: {
        type: 'Cancelled',
        message: `cancelled by ${input.cancel.by}: ${input.cancel.signal} sent to the process${afterGrace('sent ')}`,
        tail: lastLines(stderrText),
      },
      exitCode,
    };
  }
  if (code === 0) return { status: 'succeeded', error: null, exitCode };
  const error =
    extractPythonTraceback(stderrText) ??
    (signal
      ? {
          type: 'Signal',
          message: `killed by ${signal}` + (signal === 'SIGKILL' ? ' (out of memory, or killed by hand?)' : ''),
          tail: lastLines(stderrText),
        }
      : { type: 'ExitCode', message: `exited with code ${code}`, tail: lastLines(stderrText) });
  return { status: 'failed', error, exitCode };
}

/** Why the command could not start, in words, with the system's code. */
export function spawnErrorText(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT': return 'command not found';
    case 'EACCES': return 'permission denied';
    case 'E2BIG': return 'the command line and environment are too large to start the command (E2BIG; one variable or argument over 128 KiB, or all of them over the system\'s ARG_MAX)';
    default: return `the command could not be started: ${error.message}`;
  }
}
