// Runs the test files given, in the order given, through node:test's run(): `node --test` sorts the
// files it is given by name, and the order is what lets the longest files start first (run-tests.mjs).
// Started by run-tests.mjs with `--enable-source-maps`, which run() hands on to every test file's process
// (the files are JavaScript compiled by scripts/build-tests.mjs; the maps point at the .ts lines).
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';
import { PassThrough, Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import slowestFiles from './slowest-files-reporter.mjs';

const files = process.argv.slice(2);
const concurrency = Number(process.env.KUBESCRIBE_TEST_CONCURRENCY);
const events = run({ files, concurrency });

// One stream of events, two readers: the usual reporter (spec on a terminal, TAP elsewhere), and the
// slowest files, printed once the suite has ended.
const forReporter = new PassThrough({ objectMode: true });
const forSlowest = new PassThrough({ objectMode: true });
let failed = false;
forSlowest.on('data', (event) => {
  if (event.type === 'test:fail') failed = true;
});
events.pipe(forReporter);
events.pipe(forSlowest);

const reported = process.stdout.isTTY ? forReporter.pipe(new spec()) : Readable.from(tap(forReporter));
reported.pipe(process.stdout, { end: false });
const slowest = [];
for await (const line of slowestFiles(forSlowest)) slowest.push(line);
await finished(reported);
process.stdout.write(slowest.join(''));
process.exitCode = failed ? 1 : 0;
