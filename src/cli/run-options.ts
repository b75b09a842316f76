// The `run` command for commander, built from its option table (run-spec.ts), shared by the full CLI
// (main.ts), `kubescribe run`'s own entry (run-main.ts) and the single-file runner (runner-main.ts), so
// all of them parse `kubescribe run ... -- <command>`, and say its help and errors, the same way.
import { Option, type Command } from 'commander';
import type { CliContext } from './context.ts';
import type { RunOptions } from './run-command.ts';
import { RUN_ARGUMENT, RUN_DESCRIPTION, RUN_OPTIONS } from './run-spec.ts';

const collect = (value: string, previous: string[]) => [...previous, value];

/** Adds `run` to `program`; its action loads the runner only when it runs. */
export function registerRunCommand(program: Command, ctx: CliContext, setExit: (code: number) => void): Command {
  const run = program
    .command('run')
    .description(RUN_DESCRIPTION)
    .argument(RUN_ARGUMENT.name, RUN_ARGUMENT.description);
  for (const spec of RUN_OPTIONS) {
    if (spec.choices) run.addOption(new Option(spec.flags, spec.description).choices([...spec.choices]));
    else if (spec.repeat) run.option(spec.flags, spec.description, collect, []);
    else if (spec.parse) run.option(spec.flags, spec.description, spec.parse);
    else run.option(spec.flags, spec.description);
  }
  return run
    .passThroughOptions()
    .action(async (command: string[], options: RunOptions) => {
      const { runJobCommand } = await import('./run-command.ts');
      setExit(await runJobCommand(ctx, command, options));
    });
}
