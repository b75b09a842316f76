// Node 20's test runner takes no globs and passes when it finds nothing, so list the files here
// and refuse to report success on an empty suite.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

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
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...reporters, ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
