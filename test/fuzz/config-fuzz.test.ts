// Fuzz: mutations of a valid kubescribe.yaml (issue 9). Whatever the edit — lines deleted or moved in
// and out, values of the wrong type, unknown keys, bad cron, NUL and control bytes, lone surrogates,
// deep nesting — the loader either accepts the file or throws a ConfigError whose every issue names
// a line or a field; never a TypeError, a RangeError, a stack overflow or an issue with no place.
// Seeded and bounded: the same cases run every time, in a few seconds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError, parseConfig } from '../../src/config/job-config.ts';

const FILE = '/project/kubescribe.yaml';
const VALID = `version: 1

runlog:
  log_cap: 10MB
  heartbeat: 10s
  lost_after: 1m

local:
  max_concurrent_runs: 4

executor: local

jobs:
  report:
    description: Aggregate the sales CSV into a report
    command: ["python3", "examples/report/script.py"]
    image: python:3.12-slim
    env:
      REPORT_DIR: out
      WORKERS: 4
    params:
      type: object
      properties:
        input: {type: string, default: examples/report/data.csv}
        output_dir: {type: string, default: out/}
        limit: {type: integer, minimum: 1}
      additionalProperties: false
    schedule: "0 6 * * *"
    time_zone: Europe/Berlin
    timeout: 15m
    grace_period: 10s
    retries: {limit: 2, backoff: 30s}
    concurrency_policy: Forbid
    expected_duration: 5m
    starting_deadline: 5m
    catch_up: latest
    labels: {team: data}
    tenant: default

  cleanup:
    command: sh -c 'rm -rf /tmp/scratch/*'
    schedule: "@daily"
    retries:
      limit: 1
      backoff: 1m
`;
const LINES = VALID.split('\n');

// Values a field may wrongly get: every YAML type, odd scalars, and text no one expects.
const WRONG_VALUES = [
  '[1, 2]', '{a: 1}', '~', 'null', 'true', '-1', '0', '1e400', '99999999999999999999999', '0x10', '.nan', '-.inf',
  '"   "', '""', '"15 minutes"', '"* * * * * * *"', '"61 25 32 13 8"', '"@sometimes"', '"0 6 * * *\\u0000"',
  '*undefined_alias', '&anchor', '!!binary aGVsbG8=', '!custom tag', '|', '>-', '[', '{', '"unterminated', "'",
  '"\\ud800"', '"\\udfff lone"', `"${'x'.repeat(5000)}"`, '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
  '{a: {b: {c: {d: {e: {f: {g: {h: {i: {j: 1}}}}}}}}}}',
];
const KEYS = ['version', 'runlog', 'jobs', 'local', 'executor', 'log_cap', 'heartbeat', 'lost_after', 'command', 'schedule',
  'time_zone', 'timeout', 'retries', 'limit', 'backoff', 'env', 'params', 'type', 'labels', 'notify', 'unknown_key', 'Report',
  '../../etc/passwd', 'a'.repeat(300), 'jobs\u0000', '\u202e', '<<'];
const JUNK = ['\u0000', '\u0001', '\u001b[31m', '\t', '\r', '\ufeff', '\ud800', '\udc00', '\u2028', '\uffff', '#', ':', '- ', '? ', '%YAML 1.2', '---', '...'];

type Mutation = (lines: string[]) => string[];

const lineIndex = (lines: string[], at: number) => at % Math.max(lines.length, 1);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // Delete a line, or a run of lines.
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 4 })).map(([at, n]) => (lines: string[]) => {
    const copy = [...lines];
    copy.splice(lineIndex(copy, at), n);
    return copy;
  }),
  // Indent a line more or less.
  fc.tuple(fc.nat(), fc.integer({ min: -6, max: 6 })).map(([at, delta]) => (lines: string[]) => lines.map((line, i) =>
    i !== lineIndex(lines, at) ? line : delta >= 0 ? `${' '.repeat(delta)}${line}` : line.slice(Math.min(-delta, line.length - line.trimStart().length)))),
  // Replace the value of a `key: value` line with a wrong one.
  fc.tuple(fc.nat(), fc.constantFrom(...WRONG_VALUES)).map(([at, value]) => (lines: string[]) => lines.map((line, i) => {
    if (i !== lineIndex(lines, at)) return line;
    const colon = line.indexOf(':');
    return colon === -1 ? `${line} ${value}` : `${line.slice(0, colon + 1)} ${value}`;
  })),
  // Rename a key (unknown, misspelt or hostile).
  fc.tuple(fc.nat(), fc.constantFrom(...KEYS)).map(([at, key]) => (lines: string[]) => lines.map((line, i) => {
    if (i !== lineIndex(lines, at)) return line;
    const indent = line.length - line.trimStart().length;
    const colon = line.indexOf(':');
    return colon === -1 ? line : `${' '.repeat(indent)}${key}${line.slice(colon)}`;
  })),
  // Insert a new `key: value` line somewhere, at some indentation.
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 8 }), fc.constantFrom(...KEYS), fc.constantFrom(...WRONG_VALUES)).map(
    ([at, indent, key, value]) => (lines: string[]) => {
      const copy = [...lines];
      copy.splice(lineIndex(copy, at), 0, `${' '.repeat(indent)}${key}: ${value}`);
      return copy;
    }),
  // Put junk characters (NUL, escape, lone surrogates, BOM, YAML markers) into a line.
  fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...JUNK)).map(([at, col, junk]) => (lines: string[]) => lines.map((line, i) =>
    i !== lineIndex(lines, at) ? line : `${line.slice(0, col % (line.length + 1))}${junk}${line.slice(col % (line.length + 1))}`)),
  // Swap two lines.
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => (lines: string[]) => {
    const copy = [...lines];
    const i = lineIndex(copy, a);
    const j = lineIndex(copy, b);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    return copy;
  }),
  // Random bytes, decoded the way readFileSync(file, 'utf8') would.
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 40 })).map(([at, bytes]) => (lines: string[]) => {
    const copy = [...lines];
    copy.splice(lineIndex(copy, at), 0, Buffer.from(bytes).toString('utf8'));
    return copy;
  }),
);

/** Parses, and fails the property on anything but success or a ConfigError whose issues all have a place. */
function check(text: string): void {
  let error: unknown;
  try {
    parseConfig(text, FILE);
    return;
  } catch (caught) {
    error = caught;
  }
  if (!(error instanceof ConfigError)) {
    throw new Error(`the loader threw ${(error as Error)?.name}: ${(error as Error)?.message}\n--- file ---\n${text}`);
  }
  assert.ok(error.issues.length > 0, 'a ConfigError lists at least one issue');
  for (const issue of error.issues) {
    assert.ok(issue.line !== null || issue.path !== '', `an issue with neither line nor field: ${issue.message}`);
    assert.ok(issue.line === null || (Number.isInteger(issue.line) && issue.line >= 1), `line ${issue.line} is not a line number`);
    assert.ok(issue.message.trim() !== '', 'an empty message');
  }
  // Each issue is one `file:line: field: message` line, starting with the file's name.
  for (const line of error.message.split('\n').filter((l) => l.startsWith(FILE))) assert.match(line, /^\/project\/kubescribe\.yaml(:\d+)?: \S/);
  assert.doesNotMatch(error.message, /\n\s+at .+\(.+:\d+:\d+\)/, 'no stack trace in the message');
}

describe('kubescribe.yaml fuzz', () => {
  test('the valid file loads', () => {
    const config = parseConfig(VALID, FILE);
    assert.deepEqual([...config.jobs.keys()], ['report', 'cleanup']);
  });

  test('1 to 4 random mutations give a config or file:line errors, never a crash', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        check(mutations.reduce((lines, mutate) => mutate(lines), LINES).join('\n'));
      }),
      { seed: 0x6b756265, numRuns: 800, endOnFailure: true },
    );
  });

  test('hostile whole files: deep nesting, huge, binary, only NULs', () => {
    for (const text of [
      `jobs: ${'['.repeat(5000)}${']'.repeat(5000)}`,
      `jobs:\n  a:\n    params: ${'{a: '.repeat(3000)}1${'}'.repeat(3000)}`,
      `jobs:\n${Array.from({ length: 3000 }, (_, i) => `  job-${i}:\n    command: [echo, ${i}]`).join('\n')}`,
      '\u0000'.repeat(1000),
      Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('utf8'),
      `jobs:\n  a: &a\n    command: [echo]\n  b: *a\n  c: [*a, *a, *a]\n`,
      `x: &x [*x]`,
      `jobs:\n  report:\n    command: [echo]\n  report:\n    command: [echo]\n`,
    ]) check(text);
  });
});
