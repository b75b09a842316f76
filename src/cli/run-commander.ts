// `kubescribe run …` through commander: help, and every command line run-argv.ts leaves to it. Its
// own module, so that the run bundle holds it, the command tree and commander in one file, loaded in
// one step only when needed (two dynamic imports cost ~8 ms of CPU more for `run --help`).
import { rootCommand, runProgram } from './cli-root.ts';
import { processContext, type CliContext } from './context.ts';
import { registerRunCommand } from './run-options.ts';

/** Parses and runs `kubescribe run …` (argv as process.argv) with commander; returns the exit code. */
export async function runWithCommander(argv: string[], ctx: CliContext = processContext()): Promise<number> {
  return runProgram(argv, ctx, (setCode) => {
    const program = rootCommand(ctx);
    registerRunCommand(program, ctx, setCode);
    return program;
  });
}
