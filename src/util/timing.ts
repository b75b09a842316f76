// KUBESCRIBE_TIMING=1: a command says on stderr when each step of its start-up and exit ended, in ms
// since the process started (performance.now()'s origin includes Node's own bootstrap). How start-up
// time is found (docs/benchmarks.md); silent and nearly free otherwise. A diagnostic switch read where
// it is used, not in config/environment.ts: the first marks are set before the environment is read.
// perf_hooks and worker_threads are loaded only when it is on: they are a dozen of Node's own modules
// that every command, `kubescribe run` first, compiled at start for marks it never printed.

import { builtinModule } from './builtin-module.ts';

const enabled = process.env.KUBESCRIBE_TIMING === '1';

interface Clock {
  now: () => number;
  origin: number;
  /** A worker's clock starts with the worker: its marks are put on the main thread's clock. */
  offset: number;
  isMainThread: boolean;
}

const clock: Clock | null = enabled ? startClock() : null;

function startClock(): Clock {
  const { performance } = builtinModule('node:perf_hooks');
  const { isMainThread, workerData } = builtinModule('node:worker_threads');
  // The PGlite thread gets the main thread's origin in its workerData (see timingOrigin()).
  const origin = performance.timeOrigin;
  const offset = isMainThread ? 0 : origin - ((workerData as { timingOrigin?: number } | null)?.timingOrigin ?? origin);
  return { now: () => performance.now(), origin, offset, isMainThread };
}

/** Says `kubescribe: timing <ms> <step>` on stderr when KUBESCRIBE_TIMING=1. */
export function timing(step: string): void {
  if (clock) process.stderr.write(`kubescribe: timing ${(clock.now() + clock.offset).toFixed(1)} ${step}${clock.isMainThread ? '' : ' (thread)'}\n`);
}

/** What a worker thread needs in its workerData to mark on this thread's clock (0 when timing is off). */
export function timingOrigin(): number {
  return clock?.origin ?? 0;
}

if (clock?.isMainThread) process.once('exit', () => timing('exit'));
