// `npm test`: the build (dist/, which the tests start as `kubescribe`), then the type check and the test
// files side by side. The build only strips types (~1-2 s, scripts/esbuild-modules.mjs), so the tests
// start at once; tsc's ~15-20 s of single-threaded CPU runs beside them instead of before them, where it
// left a core idle. Either failing fails the command; tsc's report is printed after the tests' (it is
// held back so as not to cut through their output).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const script = (name) => fileURLToPath(new URL(`./${name}`, import.meta.url));

/** Runs node with `args`; resolves with its exit code (1 for a signal or a failed start) and, if `capture`, its output. */
function node(args, { capture = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    let output = '';
    if (capture) {
      child.stdout.on('data', (data) => (output += data));
      child.stderr.on('data', (data) => (output += data));
    }
    child.once('error', (error) => resolve({ code: 1, output: `${output}${error.message}\n` }));
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}

// Ctrl-C reaches the children too: this process waits for them.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});

const build = await node([script('build.mjs')]);
if (build.code !== 0) {
  console.error(`test: the build failed (exit ${build.code})`);
  process.exit(1);
}
const [lint, tests] = await Promise.all([
  node([require.resolve('typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json'], { capture: true }),
  node([script('run-tests.mjs'), ...process.argv.slice(2)]),
]);
if (lint.code !== 0) {
  process.stdout.write(lint.output);
  console.error(`test: the type check (tsc --noEmit, as npm run lint) failed (exit ${lint.code})`);
} else {
  console.log('# type check (tsc --noEmit): passed');
}
process.exit(lint.code === 0 && tests.code === 0 ? 0 : 1);
