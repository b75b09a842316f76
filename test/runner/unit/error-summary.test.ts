import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { extractPythonTraceback, lastLines, TailBuffer } from '../../../src/runner/error-summary.ts';

/** Runs a Python snippet that is expected to fail and returns its stderr, exactly as the runner would see it. */
function pythonStderr(code: string): string {
  const result = spawnSync('python3', ['-c', code], { encoding: 'utf8' });
  assert.notEqual(result.status, 0, `python3 should have failed: ${result.stderr}`);
  return result.stderr;
}

describe('extractPythonTraceback (real python3 tracebacks)', () => {
  it('reads a dotted exception type and a message that holds colons', () => {
    const stderr = pythonStderr('import json\nprint("loading")\njson.loads("")');
    const summary = extractPythonTraceback(stderr);
    assert.ok(summary);
    assert.equal(summary.type, 'json.decoder.JSONDecodeError');
    assert.equal(summary.message, 'Expecting value: line 1 column 1 (char 0)');
    assert.ok(summary.tail!.startsWith('Traceback (most recent call last):\n'));
    assert.ok(summary.tail!.endsWith('json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)'));
    assert.match(summary.tail!, /File "<string>", line 3, in <module>/);
  });

  it('reports the last exception of a chain ("during handling of the above exception")', () => {
    const stderr = pythonStderr(
      ['try:', '    {}["missing"]', 'except KeyError:', '    raise RuntimeError("wrapped: failed to load config")'].join('\n'),
    );
    assert.match(stderr, /During handling of the above exception, another exception occurred/);
    const summary = extractPythonTraceback(stderr);
    assert.deepEqual({ type: summary?.type, message: summary?.message }, { type: 'RuntimeError', message: 'wrapped: failed to load config' });
    // The tail is the last traceback only, not the KeyError before it.
    assert.doesNotMatch(summary!.tail!, /KeyError/);
  });

  it('reports the last exception of an explicit "raise ... from" chain', () => {
    const stderr = pythonStderr(
      [
        'class ConfigMissing(Exception): pass',
        'def load():',
        '    try:',
        '        open("/nonexistent/kubescribe/config.yaml")',
        '    except OSError as e:',
        '        raise ConfigMissing("no config at /nonexistent") from e',
        'load()',
      ].join('\n'),
    );
    assert.match(stderr, /The above exception was the direct cause of the following exception/);
    const summary = extractPythonTraceback(stderr);
    assert.equal(summary?.type, 'ConfigMissing');
    assert.equal(summary?.message, 'no config at /nonexistent');
    assert.match(summary!.tail!, /in load/);
  });

  it('handles an exception without a message, and a multi-line message (first line kept)', () => {
    assert.deepEqual(
      (({ type, message }) => ({ type, message }))(extractPythonTraceback(pythonStderr('raise ValueError'))!),
      { type: 'ValueError', message: '' },
    );
    const multi = extractPythonTraceback(pythonStderr('raise ValueError("bad row 7\\ncolumn x is empty")'));
    assert.equal(multi?.type, 'ValueError');
    assert.equal(multi?.message, 'bad row 7');
    const custom = extractPythonTraceback(pythonStderr('import sys\nsys.stderr.write("progress 50%\\n")\nraise KeyboardInterrupt'));
    assert.equal(custom?.type, 'KeyboardInterrupt');
  });

  it('returns null when stderr holds no traceback', () => {
    assert.equal(extractPythonTraceback(''), null);
    assert.equal(extractPythonTraceback(pythonStderr('import sys\nprint("fatal: disk full", file=sys.stderr)\nsys.exit(3)')), null);
    assert.equal(extractPythonTraceback('Error: something failed\n  at main (index.js:1:1)\n'), null);
    // A header with nothing after it (output cut off) is not a traceback either.
    assert.equal(extractPythonTraceback('Traceback (most recent call last):\n  File "x.py", line 1\n'), null);
  });

  it('clips a very long traceback to its last 8000 characters', () => {
    const stderr = pythonStderr('raise ValueError("row " + "x" * 10000)');
    const summary = extractPythonTraceback(stderr);
    assert.equal(summary?.type, 'ValueError');
    assert.equal(summary?.message, `row ${'x'.repeat(10_000)}`);
    assert.equal(summary!.tail!.length, 8001);
    assert.ok(summary!.tail!.startsWith('…'));
    assert.ok(summary!.tail!.endsWith('x'.repeat(7999)));
  });
});

describe('lastLines', () => {
  it('keeps the last lines, without trailing newlines', () => {
    const text = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n') + '\n\n\n';
    assert.equal(lastLines(text), Array.from({ length: 20 }, (_, i) => `line ${i + 11}`).join('\n'));
    assert.equal(lastLines(text, 2), 'line 29\nline 30');
    assert.equal(lastLines('only one'), 'only one');
  });

  it('returns null for empty or blank output', () => {
    assert.equal(lastLines(''), null);
    assert.equal(lastLines('\n\n'), null);
    assert.equal(lastLines('   \n \t \n'), null);
  });

  it('clips very long lines to the last 8000 characters', () => {
    const tail = lastLines('y'.repeat(20_000));
    assert.equal(tail!.length, 8001);
    assert.equal(tail, `…${'y'.repeat(8000)}`);
  });
});

describe('TailBuffer', () => {
  it('keeps the last `limit` characters of what was pushed', () => {
    const buffer = new TailBuffer(10);
    assert.equal(buffer.toString(), '');
    buffer.push('hello ');
    buffer.push('world');
    assert.equal(buffer.toString(), 'ello world');
    for (let i = 0; i < 100; i++) buffer.push(String(i % 10));
    assert.equal(buffer.toString(), '0123456789');
  });
});

describe('a syntax error in the script itself (no Traceback header)', () => {
  it('names SyntaxError and keeps the offending line', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const script = join(mkdtempSync(join(tmpdir(), 'ks-syntax-')), 'broken.py');
    writeFileSync(script, 'print("ok")\ndef (:\n    pass\n');
    let stderr = '';
    try {
      execFileSync('python3', [script], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      stderr = String((error as { stderr: Buffer }).stderr);
    }
    assert.doesNotMatch(stderr, /Traceback/);
    const summary = extractPythonTraceback(stderr);
    assert.ok(summary, stderr);
    assert.equal(summary.type, 'SyntaxError');
    assert.match(summary.message, /invalid syntax/);
    assert.match(summary.tail!, /broken\.py", line 2/);
  });
});
