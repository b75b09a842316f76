import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseOutputFile } from '../../../src/runner/output-file.ts';

describe('parseOutputFile', () => {
  it('reads metrics and outputs, the last value of a name winning', () => {
    const text = [
      '{"metric": "rows_read", "value": 1200}',
      '{"metric": "ratio", "value": 0.25}',
      '{"output": "report", "value": {"path": "out/report.csv", "parts": [1, [2]]}}',
      '{"output": "empty", "value": null}',
      '{"metric": "rows_read", "value": 1300}',
      '{"metric": "negative", "value": -3}',
      '{"output": "list", "value": [1, "two"]}',
      '',
    ].join('\n');
    assert.deepEqual(parseOutputFile(text), {
      metrics: { rows_read: 1300, ratio: 0.25, negative: -3 },
      outputs: { report: { path: 'out/report.csv', parts: [1, [2]] }, empty: null, list: [1, 'two'] },
      warnings: [],
    });
  });

  it('returns nothing for an empty file and skips blank lines and CRLF endings', () => {
    assert.deepEqual(parseOutputFile(''), { metrics: {}, outputs: {}, warnings: [] });
    assert.deepEqual(parseOutputFile('\n  \n\t\n{"metric": "m", "value": 1}\r\n\r\n'), { metrics: { m: 1 }, outputs: {}, warnings: [] });
  });

  it('turns every line it cannot use into a warning with its line number, and keeps the rest', () => {
    const text = [
      '{"metric": "ok", "value": 1}', // 1
      'not json at all', // 2
      '[1, 2]', // 3
      '"just a string"', // 4
      '{"metric": "", "value": 1}', // 5
      '{"metric": 5, "value": 1}', // 6
      '{"metric": "rows", "value": "12"}', // 7
      '{"metric": "rows"}', // 8
      '{"output": "", "value": 1}', // 9
      '{"output": "report"}', // 10
      '{"something": "else"}', // 11
      'null', // 12
      '{"metric": "nan", "value": NaN}', // 13
      '{"output": "kept", "value": false}', // 14
    ].join('\n');
    const report = parseOutputFile(text);
    assert.deepEqual(report.metrics, { ok: 1 });
    assert.deepEqual(report.outputs, { kept: false });
    assert.deepEqual(report.warnings, [
      { line: 2, message: 'not JSON: not json at all' },
      { line: 3, message: 'expected an object like {"metric": "rows", "value": 1}, got [1, 2]' },
      { line: 4, message: 'expected an object like {"metric": "rows", "value": 1}, got "just a string"' },
      { line: 5, message: 'metric: expected a non-empty string name' },
      { line: 6, message: 'metric: expected a non-empty string name' },
      { line: 7, message: 'metric rows: value must be a finite number, got "12"' },
      { line: 8, message: 'metric rows: value must be a finite number, got undefined' },
      { line: 9, message: 'output: expected a non-empty string key' },
      { line: 10, message: 'output report: missing "value"' },
      { line: 11, message: 'expected a "metric" or "output" key, got {"something": "else"}' },
      { line: 12, message: 'expected an object like {"metric": "rows", "value": 1}, got null' },
      { line: 13, message: 'not JSON: {"metric": "nan", "value": NaN}' },
    ]);
  });

  it('truncates long lines in warnings and stops at 50 warnings', () => {
    const long = 'x'.repeat(500);
    const report = parseOutputFile(Array.from({ length: 80 }, () => long).join('\n') + '\n{"metric": "last", "value": 9}');
    assert.equal(report.warnings.length, 50);
    assert.equal(report.warnings[0]!.message, `not JSON: ${'x'.repeat(120)}…`);
    assert.equal(report.warnings[49]!.line, 50);
    assert.deepEqual(report.metrics, { last: 9 });
  });

  it('reads what the Python helper writes, followed by a line cut short by a crash', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-output-'));
    try {
      const file = join(dir, 'output.jsonl');
      const script = [
        'import kubescribe',
        'kubescribe.metric("rows_read", 1200)',
        'kubescribe.metric("ratio", 0.5)',
        'kubescribe.output("report", {"path": "out/r.json", "sizes": [1, 2], "name": "Grüße 🚀"})',
      ].join('\n');
      execFileSync('python3', ['-c', script], {
        env: { ...process.env, PYTHONPATH: fileURLToPath(new URL('../../../helpers/python', import.meta.url)), KUBESCRIBE_OUTPUT: file },
      });
      appendFileSync(file, '{"metric":"ro');
      const report = parseOutputFile(readFileSync(file, 'utf8'));
      assert.deepEqual(report.metrics, { rows_read: 1200, ratio: 0.5 });
      assert.deepEqual(report.outputs, { report: { path: 'out/r.json', sizes: [1, 2], name: 'Grüße 🚀' } });
      assert.deepEqual(report.warnings, [{ line: 4, message: 'not JSON: {"metric":"ro' }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
