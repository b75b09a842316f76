// The `run` command's options as data: one table from which run-options.ts builds the commander
// command (help, errors, the full CLI) and run-argv.ts parses a plain `kubescribe run … -- cmd` with
// node:util alone. One definition, so the two can never disagree on a flag, a default or a parser.
// No commander here: requiring it costs ~8 ms of CPU per run (docs/benchmarks.md, "Run start-up:
// `run` parses its options without commander").
import { parseByteSize, parseDuration } from '../config/durations.ts';
import { TRIGGERS } from '../runlog/types.ts';
import { UsageError } from './errors.ts';
import type { RunOptions } from './run-command.ts';

/** One option of `kubescribe run`. */
export interface RunOptionSpec {
  /** Commander's flags string, as help shows it: '-j, --job <name>'. */
  flags: string;
  description: string;
  /** The long name without dashes: 'job'. */
  long: string;
  /** The short letter, if any: 'j'. */
  short?: string;
  /** Where commander stores it (camelCase of `long`). */
  key: keyof RunOptions;
  /** True if it takes a value; false for a flag. */
  takesValue: boolean;
  /** Repeatable, collected into an array (default []). */
  repeat?: boolean;
  /** Turns the value into what the runner wants; throws UsageError naming the flag. */
  parse?: (value: string) => number;
  /** The only values accepted. */
  choices?: readonly string[];
}

const duration = (flag: string) => (value: string) => {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
};

const byteSize = (flag: string) => (value: string) => {
  try {
    return parseByteSize(value);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
};

/** What `kubescribe run --help` says the command does. */
export const RUN_DESCRIPTION = 'run a command as a recorded run of a job: kubescribe run --job report -- python3 script.py';
/** The command's one argument, as commander declares it, and what help says of it. */
export const RUN_ARGUMENT = { name: '[command...]', description: "the command to run (after --); default: the job's command from kubescribe.yaml" };

/** Every option of `kubescribe run`, in the order help lists them. */
export const RUN_OPTIONS: readonly RunOptionSpec[] = [
  { flags: '-j, --job <name>', long: 'job', short: 'j', key: 'job', takesValue: true, description: 'job name (default: $KUBESCRIBE_JOB, else the one ad-hoc job "adhoc")' },
  { flags: '--run-id <uuid>', long: 'run-id', key: 'runId', takesValue: true, description: 'adopt this queued run instead of creating one (default: $KUBESCRIBE_RUN_ID)' },
  { flags: '-p, --param <key=value>', long: 'param', short: 'p', key: 'param', takesValue: true, repeat: true, description: 'a run param, repeatable; validated against the job\'s params schema' },
  { flags: '-f, --config <file>', long: 'config', short: 'f', key: 'config', takesValue: true, description: 'config file (default: ./kubescribe.yaml if present)' },
  { flags: '--timeout <duration>', long: 'timeout', key: 'timeout', takesValue: true, parse: duration('--timeout'), description: 'override the job\'s timeout, e.g. 15m' },
  { flags: '--grace <duration>', long: 'grace', key: 'grace', takesValue: true, parse: duration('--grace'), description: 'time between SIGTERM and SIGKILL (default: the job\'s grace_period, 10s)' },
  { flags: '--heartbeat <duration>', long: 'heartbeat', key: 'heartbeat', takesValue: true, parse: duration('--heartbeat'), description: 'heartbeat interval (default 10s)' },
  { flags: '--log-cap <size>', long: 'log-cap', key: 'logCap', takesValue: true, parse: byteSize('--log-cap'), description: 'stored log cap per run, e.g. 10MB (output beyond it is passed through, not stored)' },
  { flags: '--flush-timeout <duration>', long: 'flush-timeout', key: 'flushTimeout', takesValue: true, parse: duration('--flush-timeout'), description: 'at exit, how long to wait for an unreachable RunLog (default 60s)' },
  { flags: '--trigger <trigger>', long: 'trigger', key: 'trigger', takesValue: true, choices: TRIGGERS, description: 'what started this run' },
  { flags: '--triggered-by <who>', long: 'triggered-by', key: 'triggeredBy', takesValue: true, description: 'who started this run (default: $USER@host)' },
  { flags: '-q, --quiet', long: 'quiet', short: 'q', key: 'quiet', takesValue: false, description: 'print nothing of our own on stderr except errors' },
];
