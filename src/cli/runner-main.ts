// The entry of the single-file runner (scripts/build-runner.mjs → dist/runner/kubescribe): only
// `kubescribe run`, recording through the KubeScribe API or straight into PostgreSQL. It is what the
// init container copies into a job pod (docs/kubernetes.md, "The injected runner"), so it leaves out
// what a pod never needs: the API server, the embedded RunLog (PGlite), the Kubernetes client.
// A plain command line is parsed without commander (run-argv.ts), as `kubescribe run` does; help and
// anything else go through commander, built from the same option table.
import type { Command } from 'commander';
import { ConfigError } from '../config/job-definition.ts';
import { isUnreachable } from '../runlog/connectivity.ts';
import { redactUrl } from '../runlog/db.ts';
import { processContext, type CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import { parseRunArgs } from './run-argv.ts';
import { runJobCommand } from './run-command.ts';
import { chooseRunnerSink } from './runner-sink.ts';

/** Runs the single-file runner's CLI and returns the exit code. */
export async function runnerMain(argv: string[], ctx: CliContext = processContext()): Promise<number> {
  try {
    const parsed = argv[2] === 'run' ? parseRunArgs(argv.slice(3)) : null;
    if (parsed === null) return await runnerWithCommander(argv, ctx);
    requireRunnerSink(ctx);
    return await runJobCommand(ctx, parsed.command, parsed.options);
  } catch (error) {
    return reportRunnerError(ctx, error);
  }
}

/** Without an API or DATABASE_URL the full CLI would open the embedded RunLog, which this file does not hold. */
function requireRunnerSink(ctx: CliContext): void {
  if (chooseRunnerSink(ctx.env).kind === 'direct' && !ctx.env.databaseUrl) {
    throw new UsageError(
      'this single-file runner records through the KubeScribe API (KUBESCRIBE_API_URL with KUBESCRIBE_TOKEN or KUBESCRIBE_TOKEN_FILE) ' +
      'or in PostgreSQL (DATABASE_URL); the embedded RunLog needs the full kubescribe (npm)',
    );
  }
}

/** Help, and every command line the fast path leaves to commander; commander's own errors become exit codes here. */
async function runnerWithCommander(argv: string[], ctx: CliContext): Promise<number> {
  const [{ Command, CommanderError }, { registerRunCommand }] = await Promise.all([import('commander'), import('./run-options.ts')]);
  let code = 0;
  const program: Command = new Command('kubescribe')
    .description('The KubeScribe runner (single file): run a command as a recorded run.')
    .version('0.1.0')
    .showHelpAfterError()
    .enablePositionalOptions()
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) })
    .exitOverride();
  registerRunCommand(program, ctx, (value) => {
    code = value;
  }).hook('preAction', () => requireRunnerSink(ctx));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 || error.code === 'commander.helpDisplayed' ? 0 : 2;
    throw error;
  }
}

/** One clear line and an exit code: 2 for usage and config errors, else 1. */
function reportRunnerError(ctx: CliContext, error: unknown): number {
  const say = (message: string) => ctx.stderr.write(`kubescribe: ${message}\n`);
  if (error instanceof UsageError) {
    say(error.message);
    return 2;
  }
  if (error instanceof ConfigError) {
    ctx.stderr.write(`${error.message}\n`);
    return 2;
  }
  if (isUnreachable(error) && ctx.env.databaseUrl) {
    say(`cannot reach the RunLog at ${redactUrl(ctx.env.databaseUrl)}: ${(error as Error).message || (error as NodeJS.ErrnoException).code}`);
    return 1;
  }
  say(error instanceof Error ? error.message : String(error));
  return 1;
}
