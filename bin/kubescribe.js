#!/usr/bin/env node
// V8's compile cache (Node >= 22.1; absent on Node 20, where this is a no-op): the second start of a
// command reuses the bytecode of every module it loads instead of compiling them again
// (docs/benchmarks.md, "CLI start-up"). Enabled before the CLI is imported, so it covers all of it.
import module from 'node:module';

module.enableCompileCache?.();
// `kubescribe run`, every job's entrypoint, loads its command alone, bundled (scripts/build-run-bundle.mjs);
// every other command loads the command tree.
const { main } = process.argv[2] === 'run'
  ? { main: (await import('../dist/run-bundle/run-main.js')).runMain }
  : await import('../dist/cli/main.js');

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`kubescribe: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
