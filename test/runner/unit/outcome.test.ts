// Every row of docs/runner.md "Outcomes and exit codes", decided without a process.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyOutcome, type OutcomeInput } from '../../../src/runner/outcome.ts';

const ended = (over: Partial<OutcomeInput> = {}): OutcomeInput => ({
  exit: { code: 0, signal: null, spawnError: null },
  program: 'python3',
  timedOutAfterMs: null,
  cancel: null,
  killedAfterGrace: false,
  graceMs: 10_000,
  stderrText: '',
  ...over,
});
const spawnError = (code: string) => Object.assign(new Error(`spawn x ${code}`), { code }) as NodeJS.ErrnoException;

describe('classifyOutcome', () => {
  test('exit 0 succeeds with no error', () => {
    assert.deepEqual(classifyOutcome(ended()), { status: 'succeeded', error: null, exitCode: 0 });
  });

  test('a non-zero exit fails with the code and the last stderr lines', () => {
    const outcome = classifyOutcome(ended({ exit: { code: 3, signal: null, spawnError: null }, stderrText: 'one\ntwo\n' }));
    assert.deepEqual(outcome, { status: 'failed', error: { type: 'ExitCode', message: 'exited with code 3', tail: 'one\ntwo' }, exitCode: 3 });
  });

  test('a Python traceback names the exception', () => {
    const stderrText = 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: bad.csv:5: expected 5 columns, got 4\n';
    const outcome = classifyOutcome(ended({ exit: { code: 1, signal: null, spawnError: null }, stderrText }));
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.error?.type, 'ValueError');
    assert.equal(outcome.error?.message, 'bad.csv:5: expected 5 columns, got 4');
    assert.equal(outcome.exitCode, 1);
  });

  test('killed by a signal: 128 + the signal, and SIGKILL hints at the OOM killer', () => {
    const outcome = classifyOutcome(ended({ exit: { code: null, signal: 'SIGKILL', spawnError: null } }));
    assert.deepEqual([outcome.status, outcome.error?.type, outcome.error?.message, outcome.exitCode],
      ['failed', 'Signal', 'killed by SIGKILL (out of memory, or killed by hand?)', 137]);
    assert.equal(classifyOutcome(ended({ exit: { code: null, signal: 'SIGSEGV', spawnError: null } })).error?.message, 'killed by SIGSEGV');
  });

  test('a command that never started: 127 when not found, 126 otherwise, no tail', () => {
    const missing = classifyOutcome(ended({ exit: { code: null, signal: null, spawnError: spawnError('ENOENT') }, program: 'nope' }));
    assert.deepEqual(missing, { status: 'failed', error: { type: 'SpawnError', message: 'command not found: nope', tail: null }, exitCode: 127 });
    const denied = classifyOutcome(ended({ exit: { code: null, signal: null, spawnError: spawnError('EACCES') }, program: './x' }));
    assert.deepEqual([denied.error?.message, denied.exitCode], ['permission denied: ./x', 126]);
    const big = classifyOutcome(ended({ exit: { code: null, signal: null, spawnError: spawnError('E2BIG') } }));
    assert.match(big.error!.message, /E2BIG/);
    assert.equal(big.exitCode, 126);
  });

  test('a timeout wins over the exit code, and says when SIGKILL followed', () => {
    const soft = classifyOutcome(ended({ exit: { code: null, signal: 'SIGTERM', spawnError: null }, timedOutAfterMs: 900_000 }));
    assert.deepEqual([soft.status, soft.error?.type, soft.error?.message, soft.exitCode],
      ['timed_out', 'Timeout', 'exceeded the timeout of 15m: sent SIGTERM', 143]);
    const hard = classifyOutcome(ended({ exit: { code: null, signal: 'SIGKILL', spawnError: null }, timedOutAfterMs: 1000, killedAfterGrace: true, graceMs: 2000 }));
    assert.equal(hard.error?.message, 'exceeded the timeout of 1s: sent SIGTERM, then SIGKILL after the 2s grace period');
    assert.equal(hard.exitCode, 137);
  });

  test('a cancel names who asked; the command\'s own exit code is kept', () => {
    const outcome = classifyOutcome(ended({ exit: { code: 0, signal: null, spawnError: null }, cancel: { signal: 'SIGTERM', by: 'token:alice' } }));
    assert.deepEqual([outcome.status, outcome.error?.message, outcome.exitCode], ['cancelled', 'cancelled by token:alice: SIGTERM sent to the process', 0]);
    const forced = classifyOutcome(ended({ exit: { code: null, signal: 'SIGKILL', spawnError: null }, cancel: { signal: 'SIGINT', by: 'SIGINT to the runner' }, killedAfterGrace: true }));
    assert.equal(forced.error?.message, 'cancelled by SIGINT to the runner: SIGINT sent to the process, then sent SIGKILL after the 10s grace period');
  });

  test('a spawn failure wins over a cancel that came first', () => {
    const outcome = classifyOutcome(ended({ exit: { code: null, signal: null, spawnError: spawnError('ENOENT') }, cancel: { signal: 'SIGTERM', by: 'x' } }));
    assert.equal(outcome.status, 'failed');
  });
});
