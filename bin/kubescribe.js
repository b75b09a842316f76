#!/usr/bin/env node
// V8's compile cache (Node >= 22.1; absent on Node 20, where this is a no-op): the second start of a
// command reuses the bytecode of every module it loads instead of compiling them again
// (docs/benchmarks.md, "CLI start-up"). Enabled before the CLI is imported, so it covers all of it.
// Where: NODE_COMPILE_CACHE if set (Node enables it before this runs), else compile-cache/ beside bin/
// when an image built one (Dockerfile; docs/runner.md, "Start-up and V8's compile cache"), else
// Node's default under the system's temp directory. A job pod's temp
// directory is new each time: a cache there is written at every exit and never read, ~16 ms of CPU
// per run for nothing, where the image's, built at build time, is read as it is, read-only or not.
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

if (module.enableCompileCache) {
  const built = fileURLToPath(new URL('../compile-cache', import.meta.url));
  module.enableCompileCache(existsSync(built) ? built : undefined);
}
// `kubescribe run`, every job's entrypoint, loads its command alone, bundled (scripts/build-run-bundle.mjs);
// every other command loads the command tree, bundled too (scripts/build-cli-bundle.mjs).
const { main } = process.argv[2] === 'run'
  ? { main: (await import('../dist/run-bundle/run-main.js')).runMain }
  : await import('../dist/cli-bundle/main.js');

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`kubescribe: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
