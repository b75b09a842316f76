// KUBESCRIBE_TIMING=1: a command says on stderr when each step of its start-up and exit ended, in ms
// since the process started (performance.now()'s origin includes Node's own bootstrap). How start-up
// time is found (docs/benchmarks.md); silent and nearly free otherwise. A diagnostic switch read where
// it is used, not in config/environment.ts: the first marks are set before the environment is read.
import { performance } from 'node:perf_hooks';
import { isMainThread, workerData } from 'node:worker_threads';

const enabled = process.env.KUBESCRIBE_TIMING === '1';
// A worker's clock starts with the worker: its marks are put on the main thread's clock (the
// PGlite thread gets the main thread's origin in its workerData, see timingOrigin()).
const offset = isMainThread ? 0 : performance.timeOrigin - ((workerData as { timingOrigin?: number } | null)?.timingOrigin ?? performance.timeOrigin);

/** Says `kubescribe: timing <ms> <step>` on stderr when KUBESCRIBE_TIMING=1. */
export function timing(step: string): void {
  if (enabled) process.stderr.write(`kubescribe: timing ${(performance.now() + offset).toFixed(1)} ${step}${isMainThread ? '' : ' (thread)'}\n`);
}

/** What a worker thread needs in its workerData to mark on this thread's clock. */
export function timingOrigin(): number {
  return performance.timeOrigin;
}

if (enabled && isMainThread) process.once('exit', () => timing('exit'));
