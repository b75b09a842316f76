// The `run` command's options, shared by the full CLI (main.ts) and the single-file runner
// (runner-main.ts), so both parse `kubescribe run ... -- <command>` the same way.
import { Option, type Command } from 'commander';
import { parseByteSize, parseDuration } from '../config/durations.ts';
import { TRIGGERS } from '../runlog/types.ts';
import type { CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import type { RunOptions } from './run-command.ts';

const collect = (value: string, previous: string[]) => [...previous, value];
const duration = (flag: string) => (value: string) => {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
};

/** Adds `run` to `program`; its action loads the runner only when it runs. */
export function registerRunCommand(program: Command, ctx: CliContext, setExit: (code: number) => void): Command {
  return program
    .command('run')
    .description('run a command as a recorded run of a job: kubescribe run --job report -- python3 script.py')
    .argument('[command...]', "the command to run (after --); default: the job's command from kubescribe.yaml")
    .option('-j, --job <name>', 'job name (default: $KUBESCRIBE_JOB, else the one ad-hoc job "adhoc")')
    .option('--run-id <uuid>', 'adopt this queued run instead of creating one (default: $KUBESCRIBE_RUN_ID)')
    .option('-p, --param <key=value>', 'a run param, repeatable; validated against the job\'s params schema', collect, [])
    .option('-f, --config <file>', 'config file (default: ./kubescribe.yaml if present)')
    .option('--timeout <duration>', 'override the job\'s timeout, e.g. 15m', duration('--timeout'))
    .option('--grace <duration>', 'time between SIGTERM and SIGKILL (default: the job\'s grace_period, 10s)', duration('--grace'))
    .option('--heartbeat <duration>', 'heartbeat interval (default 10s)', duration('--heartbeat'))
    .option('--log-cap <size>', 'stored log cap per run, e.g. 10MB (output beyond it is passed through, not stored)', (value) => {
      try {
        return parseByteSize(value);
      } catch (error) {
        throw new UsageError(`--log-cap: ${(error as Error).message}`);
      }
    })
    .option('--flush-timeout <duration>', 'at exit, how long to wait for an unreachable RunLog (default 60s)', duration('--flush-timeout'))
    .addOption(new Option('--trigger <trigger>', 'what started this run').choices([...TRIGGERS]))
    .option('--triggered-by <who>', 'who started this run (default: $USER@host)')
    .option('-q, --quiet', 'print nothing of our own on stderr except errors')
    .passThroughOptions()
    .action(async (command: string[], options: RunOptions) => {
      const { runJobCommand } = await import('./run-command.ts');
      setExit(await runJobCommand(ctx, command, options));
    });
}
