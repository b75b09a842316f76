// The root of the `kubescribe` command tree — its name, version, output — and how an error that reaches
// it becomes one clear line and an exit code. Shared by the whole tree (main.ts) and `kubescribe run`'s
// own entry (run-main.ts), so that `kubescribe run` answers the same whichever loaded it.
import { Command, CommanderError } from 'commander';
import type { CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import { timing } from '../util/timing.ts';

/** Says what went wrong on stderr and returns the exit code: 2 for usage and config errors, else 1. */
export async function reportCliError(ctx: CliContext, error: unknown): Promise<number> {
  const say = (message: string) => ctx.stderr.write(`kubescribe: ${message}\n`);
  if (error instanceof CommanderError) {
    // Help and version are not failures; commander has already printed what it had to say.
    return error.exitCode === 0 || error.code === 'commander.helpDisplayed' ? 0 : 2;
  }
  if (error instanceof UsageError) {
    say(error.message);
    return 2;
  }
  // The other error classes are imported on the way out, so recognising them costs nothing at start-up.
  const [{ ConfigError }, { RunLogTooNewError }, { RunLogBusyError }, { isUnreachable }, { redactUrl }] = await Promise.all([
    import('../config/job-definition.ts'),
    import('../runlog/migrate.ts'),
    import('../runlog/pglite-lock.ts'),
    import('../runlog/connectivity.ts'),
    import('../runlog/db.ts'),
  ]);
  if (error instanceof ConfigError) {
    ctx.stderr.write(`${error.message}\n`);
    return 2;
  }
  if (error instanceof RunLogBusyError || error instanceof RunLogTooNewError) {
    say(error.message);
    return 1;
  }
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    say(`${(error as Error).message}: another server uses that port; pass --port to choose another`);
    return 1;
  }
  if (isUnreachable(error)) {
    const where = ctx.env.databaseUrl ? redactUrl(ctx.env.databaseUrl) : 'the embedded RunLog';
    say(`cannot reach the RunLog at ${where}: ${(error as Error).message || (error as NodeJS.ErrnoException).code}`);
    return 1;
  }
  say(error instanceof Error ? error.message : String(error));
  return 1;
}

/** What `kubescribe --help` says the program is. */
export const DESCRIPTION = 'Run batch jobs as recorded, observable, auditable runs.';

/** The root of a `kubescribe` command tree, writing to `ctx`'s streams; errors are thrown to the caller (reportCliError). */
export function rootCommand(ctx: CliContext, description: string = DESCRIPTION): Command {
  return new Command('kubescribe')
    .description(description)
    .version('0.1.0')
    .showHelpAfterError()
    .enablePositionalOptions()
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) })
    .exitOverride();
}

/**
 * Builds a command tree (its commands report their exit code through `setCode`), parses `argv` with it
 * and returns the exit code; errors become one clear line. Both entries (main.ts, run-main.ts) run here.
 */
export async function runProgram(argv: string[], ctx: CliContext, build: (setCode: (code: number) => void) => Command): Promise<number> {
  timing('cli loaded');
  let code = 0;
  const program = build((value) => {
    code = value;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    return reportCliError(ctx, error);
  }
}
