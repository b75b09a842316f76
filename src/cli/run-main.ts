// `kubescribe run`'s own entry: the command tree with the `run` command alone. bin/kubescribe.js loads
// it, bundled (scripts/build-run-bundle.mjs → dist/run-bundle/), when the first argument is `run`: every
// job's runner starts here, and a runner that loaded the other commands' option parsers, then ~80
// modules one file at a time, spent a fifth of its CPU at start-up in Node's module loader
// (docs/benchmarks.md, "Runner start-up"). A plain command line is parsed without commander
// (run-argv.ts); help and anything commander must judge go to the same command tree as the full CLI
// (run-commander.ts: run-options.ts, cli-root.ts), so `kubescribe run --help` and every error read
// the same whichever entry ran.
import { reportCliError } from './cli-errors.ts';
import { processContext, type CliContext } from './context.ts';
import { parseRunArgs } from './run-argv.ts';
import { timing } from '../util/timing.ts';

/** Runs `kubescribe run …` (argv as process.argv) and returns the exit code. */
export async function runMain(argv: string[], ctx: CliContext = processContext()): Promise<number> {
  const parsed = argv[2] === 'run' ? parseRunArgs(argv.slice(3)) : null;
  if (parsed === null) {
    const { runWithCommander } = await import('./run-commander.ts');
    return runWithCommander(argv, ctx);
  }
  timing('cli loaded');
  try {
    const { runJobCommand } = await import('./run-command.ts');
    return await runJobCommand(ctx, parsed.command, parsed.options);
  } catch (error) {
    return reportCliError(ctx, error);
  }
}
