// The root of the `kubescribe` command tree — its name, version, output — and how an error that reaches
// it becomes one clear line and an exit code (cli-errors.ts, plus commander's own). Shared by the whole
// tree (main.ts) and `kubescribe run`'s own entry (run-main.ts), so that `kubescribe run` answers the
// same whichever loaded it.
import { Command, CommanderError } from 'commander';
import type { CliContext } from './context.ts';
import { reportCliError as reportError } from './cli-errors.ts';
import { timing } from '../util/timing.ts';

/** Says what went wrong on stderr and returns the exit code: 0 after help or version, 2 for usage and config errors, else 1. */
export async function reportCliError(ctx: CliContext, error: unknown): Promise<number> {
  if (error instanceof CommanderError) {
    // Help and version are not failures; commander has already printed what it had to say.
    return error.exitCode === 0 || error.code === 'commander.helpDisplayed' ? 0 : 2;
  }
  return reportError(ctx, error);
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
