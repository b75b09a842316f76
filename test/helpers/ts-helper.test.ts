// The TS helper, both in-process (validation) and in child processes the way the runner starts a
// Node script (env vars in, JSON lines out), plus parity with the Python helper. The children run
// the published JavaScript (dist/helpers/kubescribe.js, built by `npm run build`) under plain node;
// one runs a TypeScript script under tsx. A tsx child cost ~0.7 s of CPU to start against ~0.05 s
// for node, and the concurrency test starts twenty (docs/benchmarks.md, round seven).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as ks from '../../src/helpers/kubescribe.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HELPER_URL = pathToFileURL(join(ROOT, 'src', 'helpers', 'kubescribe.ts')).href;
// What the package publishes (docs/helpers.md): scripts import it as JavaScript.
const DIST_HELPER = join(ROOT, 'dist', 'helpers', 'kubescribe.js');
const DIST_HELPER_URL = pathToFileURL(DIST_HELPER).href;
// Resolved here so children can run from any working directory.
const TSX = import.meta.resolve('tsx');
const KS_VARS = ['KUBESCRIBE_RUN_ID', 'KUBESCRIBE_JOB', 'KUBESCRIBE_PARAMS', 'KUBESCRIBE_PARAMS_FILE', 'KUBESCRIBE_OUTPUT'];

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

// The suite itself may run under KubeScribe; its own context must not leak into the children.
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('KUBESCRIBE_')) base[name] = value;
  }
  return { ...base, PYTHONDONTWRITEBYTECODE: '1', ...env };
}

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'kubescribe-tshelper-'));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function freshDir(name: string): string {
  return mkdtempSync(join(tmp, `${name}-`));
}

// Writes a .ts script that imports the helper's source by absolute URL, for tsx.
function script(dir: string, body: string): string {
  const path = join(dir, 'job.ts');
  writeFileSync(path, `import * as ks from ${JSON.stringify(HELPER_URL)};\n${body}\n`);
  return path;
}

// Writes a .mjs script that imports the published helper by absolute URL, as a user's script would.
function jsScript(dir: string, body: string): string {
  assert.ok(existsSync(DIST_HELPER), `${DIST_HELPER} is missing: run \`npm run build\` first`);
  const path = join(dir, 'job.mjs');
  writeFileSync(path, `import * as ks from ${JSON.stringify(DIST_HELPER_URL)};\n${body}\n`);
  return path;
}

/** Runs `path` under node, through tsx when it is TypeScript. */
function runScript(path: string, env: Record<string, string>, cwd: string): Result {
  const loader = path.endsWith('.ts') ? ['--import', TSX] : [];
  const result = spawnSync(process.execPath, [...loader, path], {
    cwd,
    env: childEnv(env),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function runAsync(command: string, args: string[], env: Record<string, string>, cwd: string): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env: childEnv(env) });
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

describe('src/helpers/kubescribe.ts in-process', () => {
  const saved = Object.fromEntries(KS_VARS.map((name) => [name, process.env[name]]));
  function setEnv(env: Record<string, string | undefined>): void {
    for (const name of KS_VARS) delete process.env[name];
    for (const [name, value] of Object.entries(env)) if (value !== undefined) process.env[name] = value;
  }
  afterEach(() => setEnv(saved));

  it('params() parses KUBESCRIBE_PARAMS and is {} when unset or empty', () => {
    setEnv({});
    assert.deepEqual(ks.params(), {});
    setEnv({ KUBESCRIBE_PARAMS: '' });
    assert.deepEqual(ks.params(), {});
    setEnv({ KUBESCRIBE_PARAMS: '{"input":"x.csv","n":3}' });
    const p = ks.params<{ input: string; n: number }>();
    assert.equal(p.input, 'x.csv');
    assert.equal(p.n, 3);
  });

  it('params() throws an error naming KUBESCRIBE_PARAMS when it is not a JSON object', () => {
    setEnv({ KUBESCRIBE_PARAMS: '{"token": "s3cr3t", ' });
    assert.throws(
      () => ks.params(),
      (error: Error) => /^KUBESCRIBE_PARAMS is not valid JSON: /.test(error.message) && !error.message.includes('s3cr3t'),
    );
    for (const [raw, kind] of [
      ['[1]', 'an array'],
      ['null', 'null'],
      ['42', 'a number'],
      ['"x"', 'a string'],
    ] as const) {
      setEnv({ KUBESCRIBE_PARAMS: raw });
      assert.throws(() => ks.params(), { message: `KUBESCRIBE_PARAMS must be a JSON object, got ${kind}` });
    }
  });

  it('params() reads KUBESCRIBE_PARAMS_FILE when set (params too big for the environment), before KUBESCRIBE_PARAMS', () => {
    const dir = freshDir('paramsfile');
    const file = join(dir, 'params.json');
    const blob = 'p'.repeat(200 * 1024);
    writeFileSync(file, JSON.stringify({ blob }));
    setEnv({ KUBESCRIBE_PARAMS_FILE: file, KUBESCRIBE_PARAMS: '{"blob":"stale"}' });
    assert.equal(ks.params<{ blob: string }>().blob, blob);
    writeFileSync(file, '[1]');
    assert.throws(() => ks.params(), { message: `KUBESCRIBE_PARAMS_FILE (${file}) must be a JSON object, got an array` });
    setEnv({ KUBESCRIBE_PARAMS_FILE: join(dir, 'missing.json') });
    assert.throws(() => ks.params(), /^Error: KUBESCRIBE_PARAMS_FILE \(.*missing\.json\) cannot be read: ENOENT/);
  });

  it('runId() and job() read the env, undefined outside KubeScribe', () => {
    setEnv({});
    assert.equal(ks.runId(), undefined);
    assert.equal(ks.job(), undefined);
    setEnv({ KUBESCRIBE_RUN_ID: 'r-1', KUBESCRIBE_JOB: 'report' });
    assert.equal(ks.runId(), 'r-1');
    assert.equal(ks.job(), 'report');
  });

  it('metric() rejects NaN, infinity, booleans, non-numbers and empty names, writing nothing', () => {
    const outputFile = join(freshDir('metric'), 'out.jsonl');
    setEnv({ KUBESCRIBE_OUTPUT: outputFile });
    const loose = ks.metric as (name: unknown, value: unknown) => void;
    assert.throws(() => ks.metric('nan', Number.NaN), { name: 'RangeError', message: 'metric "nan": value must be finite, got NaN' });
    assert.throws(() => ks.metric('inf', Infinity), { name: 'RangeError' });
    assert.throws(() => ks.metric('ninf', -Infinity), { name: 'RangeError' });
    assert.throws(() => loose('flag', true), { name: 'TypeError', message: 'metric "flag": value must be a number, got boolean' });
    assert.throws(() => loose('text', '3'), { name: 'TypeError' });
    assert.throws(() => loose('big', 3n), { name: 'TypeError' });
    assert.throws(() => loose('none', null), { name: 'TypeError' });
    assert.throws(() => ks.metric('', 1), { name: 'RangeError', message: 'metric name must be a non-empty string' });
    assert.throws(() => ks.metric('  ', 1), { name: 'RangeError' });
    assert.throws(() => loose(7, 1), { name: 'TypeError', message: 'metric name must be a string, got number' });
    assert.equal(existsSync(outputFile), false);
  });

  it('output() rejects what JSON cannot carry, writing nothing', () => {
    const outputFile = join(freshDir('output'), 'out.jsonl');
    setEnv({ KUBESCRIBE_OUTPUT: outputFile });
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    assert.throws(() => ks.output('undef', undefined), { name: 'TypeError' });
    assert.throws(() => ks.output('fn', () => 1), { name: 'TypeError' });
    assert.throws(() => ks.output('big', { n: 1n }), { name: 'TypeError', message: /^output "big": value is not JSON-serialisable: / });
    assert.throws(() => ks.output('cyclic', cyclic), { name: 'TypeError' });
    assert.throws(() => ks.output('nan', { x: [Number.NaN] }), {
      name: 'RangeError',
      message: 'output "nan": value contains NaN, which is not valid JSON',
    });
    assert.throws(() => ks.output('', 1), { name: 'RangeError', message: 'output key must be a non-empty string' });
    assert.equal(existsSync(outputFile), false);
  });

  it('without KUBESCRIBE_OUTPUT metric() and output() write nothing and do not throw', () => {
    setEnv({ KUBESCRIBE_OUTPUT: '' });
    ks.metric('rows', 1);
    ks.output('report', { a: 1 });
    assert.throws(() => ks.metric('nan', Number.NaN), RangeError);
  });

  it('exports the env var names the runner sets', () => {
    assert.deepEqual(ks.ENV, {
      runId: 'KUBESCRIBE_RUN_ID',
      job: 'KUBESCRIBE_JOB',
      params: 'KUBESCRIBE_PARAMS',
      paramsFile: 'KUBESCRIBE_PARAMS_FILE',
      output: 'KUBESCRIBE_OUTPUT',
    });
  });
});

describe('the helper in child processes: dist/helpers/kubescribe.js under node, src/helpers/kubescribe.ts under tsx', () => {
  // The same calls from a TypeScript script (tsx, the source) and a JavaScript one (node, the published build).
  for (const kind of ['TypeScript under tsx', 'JavaScript under node'] as const) {
    it(`reads the context and appends one compact JSON line per call (${kind})`, () => {
      const dir = freshDir('child');
      const outputFile = join(dir, 'out.jsonl');
      const typeArgument = kind === 'TypeScript under tsx' ? '<{ rows: number }>' : '';
      const body = `const p = ks.params${typeArgument}();
console.log(JSON.stringify({ runId: ks.runId(), job: ks.job(), params: p }));
ks.metric('rows_read', p.rows);
ks.metric('ratio', 0.25);
ks.output('report', { path: 'out/r.json', note: 'line1\\nline2\\u2028 café', n: [1, 2.5, null, true] });
ks.output('nothing', null);`;
      const path = kind === 'TypeScript under tsx' ? script(dir, body) : jsScript(dir, body);
      const result = runScript(
        path,
        {
          KUBESCRIBE_RUN_ID: 'r-1',
          KUBESCRIBE_JOB: 'report',
          KUBESCRIBE_PARAMS: '{"rows":1200}',
          KUBESCRIBE_OUTPUT: outputFile,
        },
        dir,
      );
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { runId: 'r-1', job: 'report', params: { rows: 1200 } });
      const text = readFileSync(outputFile, 'utf8');
      assert.equal(text.split('\n').length, 5, 'four lines and the final newline');
      assert.ok(text.startsWith('{"metric":"rows_read","value":1200}\n{"metric":"ratio","value":0.25}\n'));
      assert.deepEqual(readLines(outputFile).slice(2), [
        { output: 'report', value: { path: 'out/r.json', note: 'line1\nline2\u2028 café', n: [1, 2.5, null, true] } },
        { output: 'nothing', value: null },
      ]);
    });
  }

  it('fails the script with a clear error on a bad KUBESCRIBE_PARAMS', () => {
    const dir = freshDir('badparams');
    const path = jsScript(dir, 'ks.params();');
    const result = runScript(path, { KUBESCRIBE_PARAMS: '[1,2]' }, dir);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /KUBESCRIBE_PARAMS must be a JSON object, got an array/);
  });

  it('creates no file outside KubeScribe', () => {
    const dir = freshDir('nooutput');
    const path = jsScript(dir, "ks.metric('rows', 1);\nks.output('report', { a: 1 });");
    const result = runScript(path, {}, dir);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(readdirSync(dir), ['job.mjs']);
  });

  it('keeps every line intact with 20 processes appending concurrently', async () => {
    const dir = freshDir('concurrent');
    const outputFile = join(dir, 'out.jsonl');
    const writers = 20;
    const perWriter = 100;
    // Payloads of up to ~16 KiB, well past PIPE_BUF, so an implementation writing in pieces
    // would show torn lines.
    const path = jsScript(
      dir,
      `const w = Number(process.env.WRITER);
for (let i = 0; i < ${perWriter}; i++) {
  ks.output('chunk', { writer: w, seq: i, pad: String.fromCharCode(97 + w).repeat(((w * 7919 + i * 104729) % 16000) + 1) });
  ks.metric('w' + w, i);
}`,
    );
    const results = await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        runAsync(process.execPath, [path], { KUBESCRIBE_OUTPUT: outputFile, WRITER: String(w) }, dir),
      ),
    );
    for (const result of results) assert.equal(result.status, 0, result.stderr);

    const raw = readFileSync(outputFile, 'utf8').split('\n');
    assert.equal(raw.pop(), '', 'file ends with a newline');
    assert.equal(raw.length, writers * perWriter * 2);
    const seen = new Map<number, number[]>();
    for (const line of raw) {
      const record = JSON.parse(line) as { output?: string; value: unknown };
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

  it('writes the same records as the Python helper for the same calls', async () => {
    const dir = freshDir('parity');
    const tsFile = join(dir, 'ts.jsonl');
    const pyFile = join(dir, 'py.jsonl');
    const path = jsScript(
      dir,
      "ks.metric('rows_read', 1200);\nks.metric('revenue_total', 51353.26);\nks.output('report', { path: '/tmp/r.json', regions: 4, tags: ['a', 'é'] });",
    );
    const python = [
      'import kubescribe as k',
      'k.metric("rows_read", 1200)',
      'k.metric("revenue_total", 51353.26)',
      'k.output("report", {"path": "/tmp/r.json", "regions": 4, "tags": ["a", "\\u00e9"]})',
    ].join('\n');
    const [tsResult, pyResult] = await Promise.all([
      runAsync(process.execPath, [path], { KUBESCRIBE_OUTPUT: tsFile }, dir),
      runAsync('python3', ['-c', python], { KUBESCRIBE_OUTPUT: pyFile, PYTHONPATH: join(ROOT, 'helpers', 'python') }, dir),
    ]);
    assert.equal(tsResult.status, 0, tsResult.stderr);
    assert.equal(pyResult.status, 0, pyResult.stderr);
    assert.deepEqual(readLines(tsFile), readLines(pyFile));
  });
});
