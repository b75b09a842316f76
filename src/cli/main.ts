// The `kubescribe` command tree. Only commander and the option parsers load with it: every action
// imports its command's module when it runs, because loading the whole program (Fastify, the
// Kubernetes client, the database drivers) took ~1 s before even `--help` could answer
// (docs/benchmarks.md, test/cli/startup.test.ts).
import { Option, type Command } from 'commander';
import { parseDuration } from '../config/durations.ts';
import { processContext, type CliContext } from './context.ts';
import { rootCommand, runProgram } from './cli-root.ts';
import { UsageError } from './errors.ts';
import { registerRunCommand } from './run-options.ts';
import { registerClientCommands } from './client-commands.ts';
import { registerTokensCommand } from './tokens-command.ts';
import { registerNotifyCommand } from './notify-command.ts';
import { registerRenderCommand } from './render-command.ts';
import { registerApplyCommand } from './apply-command.ts';
import { registerUiCommand } from './ui-command.ts';

const durationOrZero = (flag: string) => (value: string) => {
  try {
    return parseDuration(value, { allowZero: true });
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
};

/** Builds the `kubescribe` command tree; `ctx` carries the environment and output streams. */
export function buildProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  const program = rootCommand(ctx);

  registerRunCommand(program, ctx, setExit);

  // runs, logs, trigger, cancel, retry, jobs, suspend, resume; tokens (over the API when a server runs, else in the RunLog).
  registerClientCommands(program, ctx, setExit);
  registerTokensCommand(program, ctx, setExit);
  registerNotifyCommand(program, ctx, setExit);
  registerRenderCommand(program, ctx, setExit);
  registerApplyCommand(program, ctx, setExit);
  registerUiCommand(program, ctx, setExit);

  program
    .command('migrate')
    .description('create or upgrade the RunLog schema (also automatic), and record the job definitions of kubescribe.yaml')
    .option('-f, --config <file>', 'config file (default: ./kubescribe.yaml if present)')
    .action(async (options: { config?: string }) => {
      const { migrateCommand } = await import('./migrate-command.ts');
      setExit(await migrateCommand(ctx, options));
    });

  program
    .command('flush')
    .description('write records that runners buffered on disk (while the RunLog was unreachable, or behind on the embedded RunLog)')
    // What `kubescribe run` on the embedded RunLog starts detached at exit (spool-flusher.ts): one at a
    // time, until no spool is left. Not for people: plain `flush` does the same in the foreground.
    .addOption(new Option('--behind').hideHelp())
    .action(async (options: { behind?: boolean }) => {
      if (options.behind) {
        const { flushBehind } = await import('./spool-flusher.ts');
        setExit(await flushBehind(ctx));
        return;
      }
      const { flushCommand } = await import('./migrate-command.ts');
      setExit(await flushCommand(ctx));
    });

  const integer = (flag: string, min: number, max: number) => (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} ${value}: expected a whole number from ${min} to ${max}`);
    return n;
  };
  // dev and serve take the same options, and both listen on loopback unless --host says otherwise; serve may run no executor.
  const server = (name: 'dev' | 'serve', description: string, host: string) =>
    program
      .command(name)
      .description(description)
      .option('-f, --config <file>', 'config file (default: ./kubescribe.yaml if present)')
      .option('--host <host>', 'address to listen on (0.0.0.0: every interface)', host)
      .option('--port <port>', 'port to listen on', integer('--port', 0, 65535), 8080)
      .option('--max-concurrent-runs <n>', 'runs beyond this many wait as queued (local executor; default: local.max_concurrent_runs of the config, else 4)', integer('--max-concurrent-runs', 1, 1000))
      .option('--no-scheduler', 'do not fire schedules (in serve: another replica does)')
      .option('--shutdown-grace <duration>', 'after SIGTERM, how long runs and requests may take to finish (default: api.shutdown_grace of the config, else 25s)', durationOrZero('--shutdown-grace'));
  server('dev', 'the whole system on this machine: API, local executor, scheduler, embedded RunLog (or DATABASE_URL)', '127.0.0.1')
    .action(async (options) => {
      const { serverCommand } = await import('./server-command.ts');
      setExit(await serverCommand(ctx, 'dev', { ...options, executor: 'local' }));
    });
  server('serve', 'the production API server (DATABASE_URL; several replicas may share one database)', '127.0.0.1')
    .addOption(new Option('--executor <executor>', 'where runs execute').choices(['local', 'none']).default('local'))
    .action(async (options) => {
      const { serverCommand } = await import('./server-command.ts');
      setExit(await serverCommand(ctx, 'serve', options));
    });

  return program;
}

/** Entry point: runs the CLI and returns the process exit code; errors become one clear line. */
export async function main(argv: string[], ctx: CliContext = processContext()): Promise<number> {
  return runProgram(argv, ctx, (setCode) => buildProgram(ctx, setCode));
}
