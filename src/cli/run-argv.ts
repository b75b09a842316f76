// `kubescribe run`'s arguments parsed with node:util alone, from the option table (run-spec.ts), for
// the plain forms every job's entrypoint uses (`run -q --job x -p a=1 -- cmd …`). Anything else — help,
// an unknown or grouped flag, a missing or bad value — returns null and commander parses it, so help
// and every error read exactly as they always did. Why: commander and the command built with it cost
// ~8-12 ms of CPU at each run (docs/benchmarks.md, "Run start-up: `run` parses its options without commander").
import type { ParseArgsConfig } from 'node:util';
import { builtinModule } from '../util/builtin-module.ts';
import type { RunOptions } from './run-command.ts';
import { RUN_OPTIONS, type RunOptionSpec } from './run-spec.ts';

// Not `import … from 'node:util'`: the CommonJS object (builtin-module.ts says why).
const { parseArgs } = builtinModule('node:util');

/** What `kubescribe run` was asked to do: the command and the options, as commander would give them. */
export interface ParsedRunArgs {
  command: string[];
  options: RunOptions;
}

const CONFIG: NonNullable<ParseArgsConfig['options']> = Object.fromEntries(
  RUN_OPTIONS.map((spec) => [spec.long, { type: spec.takesValue ? 'string' : 'boolean', ...(spec.short ? { short: spec.short } : {}) }]),
);
const BY_LONG = new Map<string, RunOptionSpec>(RUN_OPTIONS.map((spec) => [spec.long, spec]));

/**
 * Parses what follows `run` on the command line; null when commander must answer instead. Options end
 * at the first operand or at `--` (commander's passThroughOptions): everything after is the command.
 */
export function parseRunArgs(args: readonly string[]): ParsedRunArgs | null {
  let tokens;
  try {
    // Not strict: an unknown flag must fall to commander, whose error message is the one users know.
    ({ tokens } = parseArgs({ args: [...args], options: CONFIG, strict: false, allowPositionals: true, tokens: true }));
  } catch {
    return null;
  }
  const options: Record<string, unknown> = { param: [] };
  let commandFrom = args.length;
  for (const token of tokens) {
    if (token.kind === 'positional') {
      commandFrom = token.index;
      break;
    }
    if (token.kind === 'option-terminator') {
      commandFrom = token.index + 1;
      break;
    }
    const spec = BY_LONG.get(token.name);
    if (!spec) return null;
    const raw = args[token.index]!;
    // Only `--long`, `--long=value` and `-s` (value in the next argument): grouped short flags (-qj x)
    // and attached values (-jx) are rare, and commander reads them its own way.
    const plain = raw === `--${spec.long}` || (spec.short !== undefined && raw === `-${spec.short}`);
    const inline = spec.takesValue && raw.startsWith(`--${spec.long}=`);
    if (!plain && !inline) return null;
    if (!spec.takesValue) {
      if (token.value !== undefined) return null;
      options[spec.key] = true;
      continue;
    }
    const value = token.value;
    // A missing value, or one that looks like a flag (`--job -q`): commander decides what it means.
    if (value === undefined || (!token.inlineValue && value.startsWith('-'))) return null;
    if (spec.choices && !spec.choices.includes(value)) return null;
    if (spec.repeat) {
      (options[spec.key] as string[]).push(value);
    } else if (spec.parse) {
      try {
        options[spec.key] = spec.parse(value);
      } catch {
        return null;
      }
    } else {
      options[spec.key] = value;
    }
  }
  return { command: args.slice(commandFrom), options: options as unknown as RunOptions };
}
