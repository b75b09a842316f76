// Node 20's test runner takes no globs and passes when it finds nothing, so list the files here
// and refuse to report success on an empty suite.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

const only = process.argv.slice(2);
const files = (only.length > 0 ? only : find('test')).sort();
if (files.length === 0) {
  console.error('run-tests: no test files found under test/');
  process.exit(1);
}
// The usual reporter (spec on a terminal, TAP elsewhere) plus the slowest files at the end.
const reporters = [
  `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
  '--test-reporter-destination=stdout',
  `--test-reporter=${new URL('./slowest-files-reporter.mjs', import.meta.url).href}`,
  '--test-reporter-destination=stdout',
];
// Two files at a time suits the 2-core CI machine; KUBESCRIBE_TEST_CONCURRENCY overrides it to measure others.
const concurrency = process.env.KUBESCRIBE_TEST_CONCURRENCY ?? '2';
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
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...reporters, ...files], {
  stdio: 'inherit',
  env,
});
if (python) rmSync(python, { recursive: true, force: true });
process.exit(result.status ?? 1);
