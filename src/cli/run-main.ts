// `kubescribe run`'s own entry: the command tree with the `run` command alone. bin/kubescribe.js loads
// it, bundled (scripts/build-run-bundle.mjs → dist/run-bundle/), when the first argument is `run`: every
// job's runner starts here, and a runner that loaded the other commands' option parsers, then ~80
// modules one file at a time, spent a fifth of its CPU at start-up in Node's module loader
// (docs/benchmarks.md, "Runner start-up"). What it parses and says is the full CLI's (run-options.ts,
// cli-root.ts): `kubescribe run --help` and every error read the same whichever entry ran.
import { processContext, type CliContext } from './context.ts';
import { rootCommand, runProgram } from './cli-root.ts';
import { registerRunCommand } from './run-options.ts';

/** Runs `kubescribe run …` (argv as process.argv) and returns the exit code. */
export async function runMain(argv: string[], ctx: CliContext = processContext()): Promise<number> {
  return runProgram(argv, ctx, (setCode) => {
    const program = rootCommand(ctx);
    registerRunCommand(program, ctx, setCode);
    return program;
  });
}
