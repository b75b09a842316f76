// Fuzz: the runner's output-file protocol (KUBESCRIBE_OUTPUT, issue 9). Malformed lines — invalid
// JSON, huge numbers, NaN, deep nesting, NUL, lone surrogates, binary, a partial last line — become
// warnings, never a crash, and every valid line around them is still recorded; what is recorded (and
// every warning) is storable by the RunLog. Then once end to end: a real `kubescribe run` whose
// Python child writes all of that garbage still records its status, metrics and outputs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findUnstorable } from '../../src/runlog/storable-text.ts';
import { readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { MAX_OUTPUT_FILE_BYTES, parseOutputFile, readOutputFile } from '../../src/runner/output-file.ts';
import { runCli } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

// PostgreSQL when the suite has one (CI): a runner on it starts in a fraction of PGlite's time.
const ENGINE = ENGINES.at(-1)!;

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));
// One line of garbage (no "\n": a newline would make it two lines).
const garbage: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.uint8Array({ maxLength: 80 }).map((bytes) => Buffer.from(bytes).toString('utf8')),
  fc.tuple(fc.string({ maxLength: 10 }), loneSurrogate, fc.string({ maxLength: 10 })).map(([a, s, b]) => `{"output": "o", "value": "${a}${s}${b}"}`),
  fc.constantFrom(
    '{"metric": "huge", "value": 1e999}', '{"metric": "neg", "value": -1e400}', '{"metric": "nan", "value": NaN}',
    '{"output": "inf", "value": [1, 2e400]}', '{"metric": "big", "value": 123456789012345678901234567890}',
    '{"metric": "nul\\u0000name", "value": 1}', '{"output": "nul", "value": {"k\\u0000": 1}}', '{"output": "s", "value": "\\ud800"}',
    '{"output": "s2", "value": "\\udc00\\ud800"}', '{"metric": "\\udfff", "value": 2}', '\u0000\u0000\u0000', '\ufeff{"metric": "bom", "value": 1}',
    '{"metric": "rows", "value": 1', '{"metric": "rows", "val', '{"output": "x"}', '{"metric": 1, "value": 1}', '[]', 'null', '1e999',
    '{"output": "__proto__", "value": {"polluted": true}}', '{"__proto__": {"metric": "p", "value": 1}}',
    `{"output": "deep", "value": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    `{"output": "deep2", "value": ${'{"a":'.repeat(70)}1${'}'.repeat(70)}}`,
    `{"output": "longname${'n'.repeat(5000)}", "value": ${'['.repeat(65)}${']'.repeat(65)}}`,
    `{"metric": "m", "value": 1}${'x'.repeat(2000)}`,
  ),
).map((line) => line.replace(/\n/g, ' '));

type Line = { kind: 'metric'; name: string; value: number } | { kind: 'output'; name: string; value: unknown } | { kind: 'garbage'; text: string };

const storableJson = fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.parse(JSON.stringify(value)) as unknown).filter((value) => findUnstorable(value) === null);
const lines = fc.array(
  fc.oneof(
    { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((value): Line => ({ kind: 'metric', name: '', value: value === 0 ? 0 : value })) },
    { weight: 2, arbitrary: storableJson.map((value): Line => ({ kind: 'output', name: '', value })) },
    { weight: 3, arbitrary: garbage.map((text): Line => ({ kind: 'garbage', text })) },
  ),
  { maxLength: 40 },
).map((list) => list.map((line, index) => (line.kind === 'garbage' ? line : { ...line, name: `valid-${line.kind}-${index}` })));

const render = (line: Line) => (line.kind === 'garbage' ? line.text
  : JSON.stringify(line.kind === 'metric' ? { metric: line.name, value: line.value } : { output: line.name, value: line.value }));

describe('output-file protocol fuzz', () => {
  test('garbage lines become warnings, valid lines around them are recorded, and all of it can be stored', () => {
    fc.assert(
      fc.property(lines, fc.boolean(), (list, partialLast) => {
        // A child killed mid-write leaves its last line cut short.
        const text = list.map(render).join('\n') + (partialLast ? '\n{"metric": "cut-sh' : '\n');
        const report = parseOutputFile(text);
        for (const line of list) {
          if (line.kind === 'metric') assert.equal(report.metrics[line.name], line.value, line.name);
          if (line.kind === 'output') assert.deepEqual(report.outputs[line.name], line.value, line.name);
        }
        assert.ok(report.warnings.length <= 50);
        for (const warning of report.warnings) {
          const source = list[warning.line - 1];
          assert.ok(source === undefined || source.kind === 'garbage', `a warning for valid line ${warning.line}: ${warning.message}`);
          assert.ok(warning.message.length < 400, 'warnings are short');
        }
        // What the runner then writes to the RunLog's jsonb columns: storable, and serialisable.
        assert.equal(findUnstorable(report), null, JSON.stringify(findUnstorable(report)));
        JSON.stringify(report);
        assert.ok(Object.values(report.metrics).every(Number.isFinite));
      }),
      { seed: 0x6f757470, numRuns: 400, endOnFailure: true },
    );
  });

  test('a file over the cap is read up to it, with a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-output-fuzz-'));
    try {
      const file = join(dir, 'output.jsonl');
      const line = `${JSON.stringify({ output: 'filler', value: 'f'.repeat(1000) })}\n`;
      writeFileSync(file, `{"metric": "first", "value": 1}\n${line.repeat(Math.ceil(MAX_OUTPUT_FILE_BYTES / line.length) + 10)}`);
      const report = readOutputFile(file);
      assert.equal(report.metrics.first, 1);
      assert.match(report.warnings.at(-1)!.message, /over 8 MiB: only the lines in its first 8 MiB were read/);
      assert.deepEqual(readOutputFile(join(dir, 'missing.jsonl')), { metrics: {}, outputs: {}, warnings: [] });
      // A FIFO in the file's place would block a plain open() for ever.
      execFileSync('mkfifo', [join(dir, 'fifo')]);
      assert.match(readOutputFile(join(dir, 'fifo')).warnings[0]!.message, /not a regular file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(`output-file garbage through a real kubescribe run (${ENGINE})`, () => {
  let t: TestRunLog;
  before(async () => {
    t = await createTestRunLog(ENGINE);
  });
  after(async () => {
    await t.cleanup();
  });

  test('a Python child writing garbage to KUBESCRIBE_OUTPUT still ends with its right status, metrics and outputs', async () => {
    const script = [
      'import os, sys',
      'path = os.environ["KUBESCRIBE_OUTPUT"]',
      'with open(path, "ab") as f:',
      '    f.write(b\'{"metric": "before", "value": 1}\\n\')',
      '    f.write(b\'{"output": "nul", "value": "a\\\\u0000b"}\\n\')',
      '    f.write(b\'{"output": "lone", "value": "\\\\ud800"}\\n\')',
      '    f.write(b\'{"metric": "huge", "value": 1e999}\\n{"metric": "nan", "value": NaN}\\n\')',
      '    f.write(b\'{"output": "deep", "value": \' + b"[" * 200000 + b"]" * 200000 + b"}\\n")',
      // Byte 10 is a newline: these 256 bytes are lines 7 and 8.
      '    f.write(bytes(range(256)) + b"\\n")',
      '    f.write(b\'{"output": "report", "value": {"rows": 3, "name": "Gr\\xc3\\xbc\\xc3\\x9fe"}}\\n\')',
      '    f.write(b\'{"metric": "after", "val\')',
      'print("done")',
      'sys.exit(int(sys.argv[1]))',
    ].join('\n');
    // One run (each costs seconds): exit 3, so "the right status" is failed, not whatever garbage suggests.
    for (const [code, status] of [[3, 'failed']] as const) {
      const result = await runCli(['run', '-q', '--job', 'garbage', '--', 'python3', '-c', script, String(code)], { env: t.env, timeoutMs: 150_000 });
      assert.equal(result.code, code, result.err);
      assert.equal(result.out, 'done\n');
      const runId = /KUBESCRIBE_OUTPUT line/.test(result.err) ? null : 'missing';
      assert.equal(runId, null, `the warnings are said on stderr: ${result.err}`);
      await t.withDb(async (db) => {
        const rows = await db.query<{ run_id: string }>("SELECT run_id FROM runs WHERE job = 'garbage' ORDER BY run_id DESC LIMIT 1");
        const run = (await getRun(db, rows[0]!.run_id))!;
        assert.equal(run.status, status, `${run.error_type}: ${run.error_message}`);
        assert.equal(run.exit_code, code);
        assert.deepEqual(run.metrics, { before: 1 });
        assert.deepEqual(run.outputs, { report: { rows: 3, name: 'Grüße' } });
        const warnings = (await readRunEvents(db, run.run_id)).filter((event) => event.type === 'warning');
        assert.deepEqual(warnings.map((event) => event.detail.line), [2, 3, 4, 5, 6, 7, 8, 10]);
      });
    }
  });
});
