import { setFlagsFromString } from 'node:v8';

let applied = false;

/**
 * Keeps PGlite's WebAssembly on V8's baseline compiler (Liftoff). By default V8 compiles the ~9 MB
 * module with Liftoff and then recompiles its hot functions with TurboFan on background threads:
 * for a process that runs a few queries (every CLI command, every runner) that second compile cost
 * as much CPU as all the rest, and measured a net loss even over 6,000 queries in one process
 * (docs/benchmarks.md, "PGlite on Liftoff"). Process-wide, so it must run before the first compile,
 * on whichever thread then loads PGlite.
 */
export function useLiftoffForPglite(): void {
  if (applied) return;
  applied = true;
  setFlagsFromString('--liftoff-only');
}
