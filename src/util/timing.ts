// KUBESCRIBE_TIMING=1: a command says on stderr when each step of its start-up and exit ended, in ms
// since the process started (performance.now()'s origin includes Node's own bootstrap). How start-up
// time is found (docs/benchmarks.md); silent and nearly free otherwise. A diagnostic switch read where
// it is used, not in config/environment.ts: the first marks are set before the environment is read.
import { performance } from 'node:perf_hooks';

const enabled = process.env.KUBESCRIBE_TIMING === '1';

/** Says `kubescribe: timing <ms> <step>` on stderr when KUBESCRIBE_TIMING=1. */
export function timing(step: string): void {
  if (enabled) process.stderr.write(`kubescribe: timing ${performance.now().toFixed(1)} ${step}\n`);
}

if (enabled) process.once('exit', () => timing('exit'));
