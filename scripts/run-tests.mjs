// Node 20's test runner takes no globs and passes when it finds nothing, so list the files here
// and refuse to report success on an empty suite.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, sep } from 'node:path';
import { buildTests } from './build-tests.mjs';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

// The longest files start first: in name order the UI and runner files (a third of the suite's time)
// came last and ran side by side at the end while the short files had all finished. Measured by wall
// time, three files at a time (2026-12-05, afternoon); a file not listed runs after these, in name order.
const LONGEST_FIRST = [
  'test/ui/run-live.test.ts',
  'test/runner/runner.test.ts',
  'test/ui/pages.test.ts',
  'test/ui/run-pages.test.ts',
  'test/cli/write-behind.test.ts',
  'test/ui/job-pages.test.ts',
  'test/runs/reaper.test.ts',
  'test/ui/foundation.test.ts',
  'test/kubernetes/api-wiring.test.ts',
  'test/runner/runner-postgres.test.ts',
  'test/faults/serve-kill.test.ts',
  'test/kubernetes/e2e-api.test.ts',
  'test/faults/serve-outages.test.ts',
  'test/server/log-followers.test.ts',
  'test/kubernetes/watcher.test.ts',
  'test/executors/local-executor.test.ts',
  'test/cli/run-beside-dev.test.ts',
  'test/runlog/migrate.test.ts',
  'test/server/retry-restart.test.ts',
  'test/server/shutdown.test.ts',
  'test/scheduler/scheduler.test.ts',
  'test/fuzz/api-fuzz.test.ts',
  'test/kubernetes/cronjob-sync.test.ts',
  'test/server/admin-token-file.test.ts',
  'test/cli/read-commands.test.ts',
  'test/cli/tokens.test.ts',
];
const rank = (file) => {
  const at = LONGEST_FIRST.indexOf(file.split(sep).join('/'));
  return at === -1 ? LONGEST_FIRST.length : at;
};
const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const only = process.argv.slice(2);
const files = (only.length > 0 ? only : find('test')).sort((a, b) => rank(a) - rank(b) || byName(a, b));
if (files.length === 0) {
  console.error('run-tests: no test files found under test/');
  process.exit(1);
}
// Three files at a time on the 2-core CI machine: at two, a third of the CPU time was idle (the files
// wait on processes, browsers and timers). Four was 11 % faster on a quiet machine (277 s against 312 s,
// 2026-12-05) but runs it at load 5 and more, where timing-bound tests fail more often; the suite's time
// is under its 6-minute target at three. KUBESCRIBE_TEST_CONCURRENCY overrides it to measure others.
const concurrency = process.env.KUBESCRIBE_TEST_CONCURRENCY ?? '3';
if (!/^[1-9]\d?$/.test(concurrency)) {
  console.error(`run-tests: KUBESCRIBE_TEST_CONCURRENCY must be a number of test files from 1 to 99, got ${JSON.stringify(concurrency)}`);
  process.exit(2);
}
// The suite starts Python a few hundred times (the example job, the runner's fixtures, the helpers).
// Where `python3` is a version manager's shim (pyenv's is a bash script that runs `pyenv exec`), each
// start costs ~0.3 s of CPU before Python itself starts, several times Python's own start-up. The
// tests get the interpreter the shim would pick, by a directory of links to it ahead on their PATH.
function pythonDirectory() {
  const probe = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  if (probe.status !== 0 || !probe.stdout.trim()) return null;
  const interpreter = realpathSync(probe.stdout.trim());
  const dir = mkdtempSync(join(tmpdir(), 'kubescribe-test-python-'));
  for (const name of ['python3', 'python']) symlinkSync(interpreter, join(dir, name));
  return dir;
}
const python = pythonDirectory();
const env = { ...process.env };
if (python) env.PATH = `${python}${delimiter}${env.PATH ?? ''}`;
// Node reads and parses every certificate of NODE_EXTRA_CA_CERTS at each start (~40 ms of CPU here
// for Debian's bundle, where `node -e 0` is ~50 ms), and the suite starts Node several hundred times
// to talk to loopback only: no test needs another certificate authority.
delete env.NODE_EXTRA_CA_CERTS;
env.KUBESCRIBE_TEST_CONCURRENCY = concurrency;
// The test files run as JavaScript compiled once here (why: scripts/build-tests.mjs), from a mirror of
// the checkout that is removed afterwards; stacks point at the .ts lines through the source maps.
let build;
try {
  build = await buildTests();
} catch (error) {
  console.error(`run-tests: compiling the tests failed: ${error instanceof Error ? error.message : String(error)}`);
  if (python) rmSync(python, { recursive: true, force: true });
  process.exit(1);
}
env.KUBESCRIBE_TEST_BUILD = build.dir;
const runner = new URL('./run-test-files.mjs', import.meta.url).pathname;
// Ctrl-C reaches the test processes too: this process waits for them, then removes the mirror.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
const result = spawnSync(process.execPath, ['--enable-source-maps', runner, ...files.map(build.compiled)], { stdio: 'inherit', env });
build.remove();
if (python) rmSync(python, { recursive: true, force: true });
process.exit(result.status ?? 1);
