// Runs the real Python helper and the real example pipeline with python3, the way the runner
// will: env vars in, JSON lines out.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HELPER_DIR = join(ROOT, 'helpers', 'python');
const SCRIPT = join('examples', 'report', 'script.py');
const DATA_CSV = join('examples', 'report', 'data.csv');
const BAD_CSV = join('examples', 'report', 'bad.csv');

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

// The suite itself may run under KubeScribe; its own context must not leak into the children.
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('KUBESCRIBE_')) env[name] = value;
  }
  // Keeps __pycache__ directories out of the source tree.
  env.PYTHONDONTWRITEBYTECODE = '1';
  return env;
}

function python(args: string[], env: Record<string, string>, cwd = ROOT): Result {
  const result = spawnSync('python3', args, {
    cwd,
    env: { ...baseEnv(), PYTHONPATH: HELPER_DIR, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function pythonAsync(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('python3', args, { cwd: ROOT, env: { ...baseEnv(), PYTHONPATH: HELPER_DIR, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolvePromise({ status, stdout, stderr }));
  });
}

function readLines(path: string): unknown[] {
  const text = readFileSync(path, 'utf8');
  assert.ok(text.endsWith('\n'), 'every line is terminated');
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as unknown);
}

function utcDate(): string {
  return new Date().toISOString().slice(0, 10);
}

// An independent reading of data.csv, so the test checks the script's arithmetic instead of
// repeating its numbers. Prices have at most two decimals, so cents keep the sums exact.
function expectedFromCsv(path: string) {
  const lines = readFileSync(join(ROOT, path), 'utf8').trimEnd().split('\n');
  assert.equal(lines[0], 'date,region,product,units,unit_price');
  const regions: Record<string, { units: number; cents: number }> = {};
  const rejectedLines: number[] = [];
  lines.slice(1).forEach((line, index) => {
    const [, region = '', , units = '', price = ''] = line.split(',');
    if (!/^-?\d+$/.test(units.trim()) || !/^-?\d+(\.\d{1,2})?$/.test(price.trim())) {
      rejectedLines.push(index + 2);
      return;
    }
    const cents = Math.round(Number(price) * 100);
    const totals = (regions[region] ??= { units: 0, cents: 0 });
    totals.units += Number(units);
    totals.cents += Number(units) * cents;
  });
  const byRegion = Object.fromEntries(
    Object.keys(regions)
      .sort()
      .map((name) => [name, { units: regions[name]!.units, revenue: regions[name]!.cents / 100 }]),
  );
  const totalCents = Object.values(regions).reduce((sum, r) => sum + r.cents, 0);
  return { rowsRead: lines.length - 1, rejectedLines, byRegion, revenueTotal: totalCents / 100 };
}

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'kubescribe-pyhelper-'));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function freshDir(name: string): string {
  return mkdtempSync(join(tmp, `${name}-`));
}

describe('examples/report/script.py under the runner protocol', () => {
  it('aggregates data.csv, writes the report and records metrics and the report output', () => {
    const dir = freshDir('ok');
    const outputFile = join(dir, 'kubescribe-output.jsonl');
    const outputDir = join(dir, 'reports');
    const expected = expectedFromCsv(DATA_CSV);
    const runId = '0190b6e2-7d1c-7cc3-a1b2-6f0e8d9c0a11';

    const before = utcDate();
    const result = python([SCRIPT], {
      KUBESCRIBE_RUN_ID: runId,
      KUBESCRIBE_JOB: 'report',
      KUBESCRIBE_PARAMS: JSON.stringify({ input: DATA_CSV, output_dir: outputDir }),
      KUBESCRIBE_OUTPUT: outputFile,
    });
    const afterRun = utcDate();
    assert.equal(result.status, 0, result.stderr);

    assert.equal(expected.rowsRead, 200);
    assert.equal(expected.rejectedLines.length, 3);
    const lines = readLines(outputFile);
    assert.equal(lines.length, 4);
    assert.deepEqual(lines.slice(0, 3), [
      { metric: 'rows_read', value: expected.rowsRead },
      { metric: 'rows_rejected', value: 3 },
      { metric: 'revenue_total', value: expected.revenueTotal },
    ]);
    const out = lines[3] as { output: string; value: { path: string; regions: number } };
    assert.equal(out.output, 'report');
    assert.equal(out.value.regions, Object.keys(expected.byRegion).length);
    assert.ok(
      [before, afterRun].some((date) => out.value.path === join(outputDir, `report-${date}.json`)),
      `unexpected report path ${out.value.path}`,
    );
    assert.ok(existsSync(out.value.path));
    assert.deepEqual(readdirSync(outputDir), [basename(out.value.path)], 'no temp files left');

    const report = JSON.parse(readFileSync(out.value.path, 'utf8')) as Record<string, unknown>;
    assert.equal(report.job, 'report');
    assert.equal(report.run_id, runId);
    assert.equal(report.input, DATA_CSV);
    assert.equal(report.rows_read, expected.rowsRead);
    assert.equal(report.rows_rejected, 3);
    assert.equal(report.rows_accepted, expected.rowsRead - 3);
    assert.deepEqual(
      (report.rejected as { line: number }[]).map((r) => r.line),
      expected.rejectedLines,
    );
    assert.deepEqual(report.regions, expected.byRegion);
    assert.equal(report.revenue_total, expected.revenueTotal);
    assert.deepEqual(report.period, { from: '2025-03-01', to: '2025-03-31' });

    assert.match(result.stdout, /^rows read: 200, rejected: 3$/m);
    for (const [name, totals] of Object.entries(expected.byRegion)) {
      const money = totals.revenue.toLocaleString('en-US', { minimumFractionDigits: 2 });
      assert.match(result.stdout, new RegExp(`^\\s+${name}\\s+${money.replace('.', '\\.')}\\s`, 'm'));
    }
    assert.match(result.stderr, new RegExp(`^reading ${DATA_CSV.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(result.stderr, /data\.csv:43: rejected: units is empty/);
    assert.doesNotMatch(result.stderr, /Traceback/);
  });

  it('accepts an absolute input path and creates a nested output_dir', () => {
    const dir = freshDir('abs');
    const outputFile = join(dir, 'out.jsonl');
    const outputDir = join(dir, 'a', 'b', 'c');
    const result = python([SCRIPT], {
      KUBESCRIBE_PARAMS: JSON.stringify({ input: join(ROOT, DATA_CSV), output_dir: outputDir }),
      KUBESCRIBE_OUTPUT: outputFile,
    });
    assert.equal(result.status, 0, result.stderr);
    const report = readLines(outputFile).find((l) => (l as { output?: string }).output === 'report') as {
      value: { path: string };
    };
    assert.equal(dirname(report.value.path), outputDir);
    assert.ok(existsSync(report.value.path));
  });

  it('fails bad.csv with a Python traceback, exit code 1, and records nothing', () => {
    const dir = freshDir('bad');
    const outputFile = join(dir, 'out.jsonl');
    const outputDir = join(dir, 'reports');
    const result = python([SCRIPT], {
      KUBESCRIBE_PARAMS: JSON.stringify({ input: BAD_CSV, output_dir: outputDir }),
      KUBESCRIBE_OUTPUT: outputFile,
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^Traceback \(most recent call last\):$/m);
    assert.match(result.stderr, /^ValueError: examples\/report\/bad\.csv:5: expected 5 columns, got 4$/m);
    assert.equal(existsSync(outputFile), false);
    assert.equal(existsSync(outputDir), false);
  });

  it('fails a file with the wrong header', () => {
    const dir = freshDir('header');
    const csv = join(dir, 'sales.csv');
    writeFileSync(csv, 'date,region,units,unit_price,product\n2025-03-01,North,1,2.00,widget\n');
    const result = python([SCRIPT], {
      KUBESCRIBE_PARAMS: JSON.stringify({ input: csv, output_dir: join(dir, 'reports') }),
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^ValueError: .*sales\.csv:1: expected header date,region,product,units,unit_price, got /m);
  });
});

describe('helpers/python/kubescribe.py', () => {
  // Runs a snippet with the helper imported as `k` and returns what it printed as JSON.
  function snippet(code: string, env: Record<string, string>, cwd = ROOT): unknown {
    const program = [
      'import json, math, sys',
      'import kubescribe as k',
      'def attempt(fn, *args):',
      '    try:',
      '        fn(*args)',
      '        return "ok"',
      '    except Exception as e:',
      '        return type(e).__name__ + ": " + str(e)',
      code,
    ].join('\n');
    const result = python(['-c', program], env, cwd);
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout);
  }

  it('params() parses KUBESCRIBE_PARAMS and is {} when unset or empty', () => {
    const code = 'print(json.dumps(k.params()))';
    assert.deepEqual(snippet(code, {}), {});
    assert.deepEqual(snippet(code, { KUBESCRIBE_PARAMS: '' }), {});
    assert.deepEqual(snippet(code, { KUBESCRIBE_PARAMS: '{"input":"x.csv","n":3,"deep":{"a":[1]}}' }), {
      input: 'x.csv',
      n: 3,
      deep: { a: [1] },
    });
  });

  it('params() names KUBESCRIBE_PARAMS in a ValueError when it is not a JSON object', () => {
    const code = 'print(json.dumps(attempt(k.params)))';
    const invalid = snippet(code, { KUBESCRIBE_PARAMS: '{"token": "s3cr3t", ' }) as string;
    assert.match(invalid, /^ValueError: KUBESCRIBE_PARAMS is not valid JSON: /);
    assert.doesNotMatch(invalid, /s3cr3t/, 'the raw value is not echoed');
    assert.equal(
      snippet(code, { KUBESCRIBE_PARAMS: '[1,2]' }),
      'ValueError: KUBESCRIBE_PARAMS must be a JSON object, got an array',
    );
    assert.equal(snippet(code, { KUBESCRIBE_PARAMS: 'null' }), 'ValueError: KUBESCRIBE_PARAMS must be a JSON object, got null');
    assert.equal(snippet(code, { KUBESCRIBE_PARAMS: '"x"' }), 'ValueError: KUBESCRIBE_PARAMS must be a JSON object, got a string');
  });

  it('params() reads KUBESCRIBE_PARAMS_FILE when set (params too big for the environment), before KUBESCRIBE_PARAMS', () => {
    const dir = freshDir('paramsfile');
    const file = join(dir, 'params.json');
    const blob = 'p'.repeat(200 * 1024);
    writeFileSync(file, JSON.stringify({ blob }));
    const code = 'print(json.dumps(len(k.params()["blob"])))';
    assert.equal(snippet(code, { KUBESCRIBE_PARAMS_FILE: file, KUBESCRIBE_PARAMS: '{"blob":"stale"}' }), blob.length);
    writeFileSync(file, '[1]');
    const shape = 'print(json.dumps(attempt(k.params)))';
    assert.equal(snippet(shape, { KUBESCRIBE_PARAMS_FILE: file }), `ValueError: KUBESCRIBE_PARAMS_FILE (${file}) must be a JSON object, got an array`);
    assert.match(snippet(shape, { KUBESCRIBE_PARAMS_FILE: join(dir, 'missing.json') }) as string,
      /^ValueError: KUBESCRIBE_PARAMS_FILE \(.*missing\.json\) cannot be read: /);
  });

  it('run_id() and job() read the env, None outside KubeScribe', () => {
    const code = 'print(json.dumps([k.run_id(), k.job()]))';
    assert.deepEqual(snippet(code, {}), [null, null]);
    assert.deepEqual(snippet(code, { KUBESCRIBE_RUN_ID: 'r-1', KUBESCRIBE_JOB: 'report' }), ['r-1', 'report']);
  });

  it('metric() writes one compact line per call and rejects NaN, infinity, bool, non-numbers and empty names', () => {
    const dir = freshDir('metric');
    const outputFile = join(dir, 'out.jsonl');
    const results = snippet(
      `print(json.dumps([
    attempt(k.metric, "rows", 1200),
    attempt(k.metric, "ratio", 0.25),
    attempt(k.metric, "neg", -3),
    attempt(k.metric, "nan", float("nan")),
    attempt(k.metric, "inf", float("inf")),
    attempt(k.metric, "ninf", -math.inf),
    attempt(k.metric, "flag", True),
    attempt(k.metric, "text", "3"),
    attempt(k.metric, "none", None),
    attempt(k.metric, "huge", 10 ** 400),
    attempt(k.metric, "", 1),
    attempt(k.metric, "   ", 1),
    attempt(k.metric, 7, 1),
]))`,
      { KUBESCRIBE_OUTPUT: outputFile },
    ) as string[];
    assert.deepEqual(results.slice(0, 3), ['ok', 'ok', 'ok']);
    assert.equal(results[3], "ValueError: metric 'nan': value must be finite, got nan");
    assert.match(results[4]!, /^ValueError: metric 'inf': value must be finite/);
    assert.match(results[5]!, /^ValueError: metric 'ninf': value must be finite/);
    assert.equal(results[6], "TypeError: metric 'flag': value must be an int or float, got bool");
    assert.equal(results[7], "TypeError: metric 'text': value must be an int or float, got str");
    assert.equal(results[8], "TypeError: metric 'none': value must be an int or float, got NoneType");
    assert.equal(results[9], "ValueError: metric 'huge': value is too large to be a finite number");
    assert.equal(results[10], 'ValueError: metric name must be a non-empty string');
    assert.equal(results[11], 'ValueError: metric name must be a non-empty string');
    assert.equal(results[12], 'TypeError: metric name must be a str, got int');
    assert.equal(
      readFileSync(outputFile, 'utf8'),
      '{"metric":"rows","value":1200}\n{"metric":"ratio","value":0.25}\n{"metric":"neg","value":-3}\n',
    );
  });

  it('output() writes any JSON value on one line and rejects what JSON cannot carry', () => {
    const dir = freshDir('output');
    const outputFile = join(dir, 'out.jsonl');
    const results = snippet(
      `cyclic = []
cyclic.append(cyclic)
print(json.dumps([
    attempt(k.output, "report", {"path": "out/r.json", "note": "line1\\nline2\\u2028 caf\\u00e9", "n": [1, 2.5, None, True]}),
    attempt(k.output, "plain", "text"),
    attempt(k.output, "nothing", None),
    attempt(k.output, "set", {1, 2}),
    attempt(k.output, "obj", object()),
    attempt(k.output, "nan", {"x": [float("nan")]}),
    attempt(k.output, "cyclic", cyclic),
    attempt(k.output, "", 1),
]))`,
      { KUBESCRIBE_OUTPUT: outputFile },
    ) as string[];
    assert.deepEqual(results.slice(0, 3), ['ok', 'ok', 'ok']);
    assert.match(results[3]!, /^TypeError: output 'set': value is not JSON-serialisable: /);
    assert.match(results[4]!, /^TypeError: output 'obj': value is not JSON-serialisable: /);
    assert.match(results[5]!, /^ValueError: output 'nan': value is not valid JSON: /);
    assert.match(results[6]!, /^ValueError: output 'cyclic': value is not valid JSON: /);
    assert.equal(results[7], 'ValueError: output key must be a non-empty string');
    const text = readFileSync(outputFile, 'utf8');
    assert.equal(text.split('\n').length, 4, 'three lines and the final newline');
    assert.ok(/^[\x20-\x7e\n]*$/.test(text), 'lines are plain ASCII');
    assert.deepEqual(readLines(outputFile), [
      { output: 'report', value: { path: 'out/r.json', note: 'line1\nline2\u2028 café', n: [1, 2.5, null, true] } },
      { output: 'plain', value: 'text' },
      { output: 'nothing', value: null },
    ]);
  });

  it('without KUBESCRIBE_OUTPUT writes no file and raises nothing, but still validates', () => {
    const dir = freshDir('nooutput');
    const results = snippet(
      `print(json.dumps([
    attempt(k.metric, "rows", 1),
    attempt(k.output, "report", {"a": 1}),
    attempt(k.metric, "nan", float("nan")),
    attempt(k.output, "set", {1}),
]))`,
      { KUBESCRIBE_OUTPUT: '' },
      dir,
    ) as string[];
    assert.deepEqual(results.slice(0, 2), ['ok', 'ok']);
    assert.match(results[2]!, /^ValueError/);
    assert.match(results[3]!, /^TypeError/);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('keeps every line intact with 20 processes appending concurrently', async () => {
    const dir = freshDir('concurrent');
    const outputFile = join(dir, 'out.jsonl');
    const writers = 20;
    const perWriter = 100;
    // Payloads of up to ~16 KiB, well past PIPE_BUF, so an implementation writing in pieces
    // would show torn lines.
    const code = [
      'import os, kubescribe as k',
      'w = int(os.environ["WRITER"])',
      `for i in range(${perWriter}):`,
      '    k.output("chunk", {"writer": w, "seq": i, "pad": chr(97 + w) * (((w * 7919 + i * 104729) % 16000) + 1)})',
      '    k.metric("w%d" % w, i)',
    ].join('\n');
    const results = await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        pythonAsync(['-c', code], { KUBESCRIBE_OUTPUT: outputFile, WRITER: String(w) }),
      ),
    );
    for (const result of results) assert.equal(result.status, 0, result.stderr);

    const raw = readFileSync(outputFile, 'utf8').split('\n');
    assert.equal(raw.pop(), '', 'file ends with a newline');
    assert.equal(raw.length, writers * perWriter * 2);
    const seen = new Map<number, number[]>();
    for (const line of raw) {
      const record = JSON.parse(line) as { output?: string; metric?: string; value: unknown };
      if (record.output === undefined) continue;
      const value = record.value as { writer: number; seq: number; pad: string };
      assert.equal(value.pad, String.fromCharCode(97 + value.writer).repeat(value.pad.length));
      seen.set(value.writer, [...(seen.get(value.writer) ?? []), value.seq]);
    }
    assert.equal(seen.size, writers);
    for (const seqs of seen.values()) {
      assert.deepEqual(seqs, Array.from({ length: perWriter }, (_, i) => i), 'each writer in order, none lost');
    }
  });
});
