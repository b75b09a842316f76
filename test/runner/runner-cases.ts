// The runner end to end, per engine: the real `kubescribe run` binary supervising real child processes,
// recording into a real RunLog. Each engine has its own test file (runner.test.ts, runner-postgres.test.ts)
// so that the two run side by side, in two processes, instead of one after the other in one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestRunLog, type Engine, type TestRunLog } from '../support/runlog-engines.ts';
import { BIN, REPO_ROOT, runCli, shellWord } from '../support/cli.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { getRun, insertRun } from '../../src/runlog/sql/runs.ts';
import { readLogChunks, readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { alternatingStretches, logStretches, mergedByStream } from '../support/log-stretches.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');
const emit = (...actions: string[]) => ['python3', EMIT, ...actions];
const references = new Map<number, Promise<Buffer>>();
/** What `emit.py bytes:<total>` writes without the runner: the reference for byte-exactness, made once per file. */
const generated = (total: number) => {
  if (!references.has(total)) {
    references.set(total, new Promise<Buffer>((resolve, reject) => {
      execFile('python3', [EMIT, `bytes:${total}`], { encoding: 'buffer', maxBuffer: total * 2 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
    }));
  }
  return references.get(total)!;
};

/**
 * The runner's end-to-end cases on `engine`'s RunLog, for a test file's `describe` (which is called in the
 * test file itself, so that the suite's slowest-files report names that file).
 */
export function runnerCases(engine: Engine): void {
  let t: TestRunLog;
  let scratch: string;
  const run = (args: string[], extra: Parameters<typeof runCli>[1] = {}) =>
    runCli(['run', '-q', ...args], { ...extra, env: { ...t.env, ...extra.env } });
  const record = async (runId: string) => (await stored(runId)).saved;
  /** The run, its log and its events, read in one opening of the RunLog (each costs PGlite ~0.2 s of CPU). */
  const stored = (runId: string, maxChunks?: number) => t.withDb(async (db) => {
    const saved = await getRun(db, runId);
    assert.ok(saved, `run ${runId} is in the RunLog`);
    return { saved, chunks: await readLogChunks(db, runId, 0, maxChunks), events: await readRunEvents(db, runId) };
  });

  before(async () => {
    t = await createTestRunLog(engine);
    scratch = mkdtempSync(join(tmpdir(), 'ks-runner-'));
  });
  after(() => t.cleanup());

  test('a successful run passes output through and records start, finish, exit code, log and metrics', async () => {
    const runId = uuidv7();
    const result = await run(['--run-id', runId, '--job', 'hello', '--', ...emit('out:hello', 'err:careful', 'metric:rows=42', 'env:KUBESCRIBE_JOB')]);
    assert.equal(result.code, 0, result.err);
    assert.equal(result.out, 'hello\nKUBESCRIBE_JOB=hello\n');
    assert.equal(result.err, 'careful\n');
    const { saved, chunks, events } = await stored(runId);
    assert.equal(saved.status, 'succeeded');
    assert.equal(saved.exit_code, 0);
    assert.equal(saved.job, 'hello');
    assert.equal(saved.trigger, 'manual');
    assert.deepEqual(saved.metrics, { rows: 42 });
    assert.deepEqual(saved.command, emit('out:hello', 'err:careful', 'metric:rows=42', 'env:KUBESCRIBE_JOB'));
    assert.ok(saved.started_at && saved.finished_at && saved.heartbeat_at);
    assert.ok(saved.finished_at >= saved.started_at);
    assert.equal(typeof saved.executor_ref.pid, 'number');
    // Written microseconds apart on two pipes, so only each stream's own order is defined here.
    const streamText = (stream: string) => chunks.filter((chunk) => chunk.stream === stream).map((chunk) => chunk.text).join('');
    assert.equal(streamText('stdout'), 'hello\nKUBESCRIBE_JOB=hello\n');
    assert.equal(streamText('stderr'), 'careful\n');
    assert.equal(saved.log_bytes, 'hello\ncareful\nKUBESCRIBE_JOB=hello\n'.length);
    assert.deepEqual(
      events.map((event) => [event.type, event.from_status, event.to_status]),
      [['created', null, 'starting'], ['started', 'starting', 'running'], ['succeeded', 'running', 'succeeded']],
    );
  });

  test('the child gets the protocol environment and never the RunLog credentials', async () => {
    const runId = uuidv7();
    const result = await run(['--run-id', runId, '--job', 'envcheck', '-p', 'day=monday', '--',
      ...emit('env:KUBESCRIBE_RUN_ID', 'env:KUBESCRIBE_PARAMS', 'env:DATABASE_URL', 'env:PYTHONUNBUFFERED')],
      { env: { DATABASE_URL: t.env.DATABASE_URL ?? '' } });
    assert.equal(result.code, 0, result.err);
    const lines = result.out.trim().split('\n');
    assert.equal(lines[0], `KUBESCRIBE_RUN_ID=${runId}`);
    assert.deepEqual(JSON.parse(lines[1]!.slice('KUBESCRIBE_PARAMS='.length)), { day: 'monday' });
    assert.equal(lines[2], 'DATABASE_URL=<unset>');
    assert.equal(lines[3], 'PYTHONUNBUFFERED=1');
  });

  test('a non-zero exit is recorded as failed with the last stderr lines, and the runner exits with that code', async () => {
    const runId = uuidv7();
    const result = await run(['--run-id', runId, '--', ...emit('err:step 1 ok', 'err:disk full', 'exit:3')]);
    assert.equal(result.code, 3);
    const saved = await record(runId);
    assert.equal(saved.status, 'failed');
    assert.equal(saved.exit_code, 3);
    assert.equal(saved.error_type, 'ExitCode');
    assert.equal(saved.error_message, 'exited with code 3');
    assert.equal(saved.error_tail, 'step 1 ok\ndisk full');
    assert.equal(saved.job, 'adhoc', 'a run given no job is recorded under the one ad-hoc job');
  });

  test('a Python traceback becomes the error: exception type, message and traceback', async () => {
    const runId = uuidv7();
    const out = join(scratch, 'tb-out');
    const result = await run(['--run-id', runId, '--job', 'report', '-p', 'input=examples/report/bad.csv', '-p', `output_dir=${out}`]);
    assert.equal(result.code, 1);
    assert.match(result.err, /Traceback \(most recent call last\)/);
    const saved = await record(runId);
    assert.equal(saved.status, 'failed');
    assert.equal(saved.error_type, 'ValueError');
    assert.equal(saved.error_message, 'examples/report/bad.csv:5: expected 5 columns, got 4');
    assert.match(saved.error_tail!, /^Traceback \(most recent call last\):\n[\s\S]*read_sales[\s\S]*ValueError: /);
    assert.equal(saved.job_revision, 1, 'the run records the job revision it ran');
    assert.deepEqual(saved.params, { input: 'examples/report/bad.csv', output_dir: out });
  });

  test('the example job succeeds with its defaults and reports metrics and outputs', async () => {
    const runId = uuidv7();
    const out = join(scratch, 'report-out');
    const result = await run(['--run-id', runId, '--job', 'report', '-p', `output_dir=${out}`]);
    assert.equal(result.code, 0, result.err);
    const saved = await record(runId);
    assert.equal(saved.status, 'succeeded');
    assert.deepEqual(saved.params, { input: 'examples/report/data.csv', output_dir: out }, 'defaults applied');
    assert.equal(saved.metrics.rows_read, 200);
    assert.equal(saved.metrics.rows_rejected, 3);
    const report = saved.outputs.report as { path: string; regions: number };
    assert.equal(report.regions, 4);
    assert.ok(existsSync(report.path));
  });

  test('a command after -- overrides the job command; the run still belongs to the job and its revision', async () => {
    const runId = uuidv7();
    const result = await run(['--run-id', runId, '--job', 'report', '--', ...emit('out:overridden', 'env:KUBESCRIBE_PARAMS')]);
    assert.equal(result.code, 0, result.err);
    assert.match(result.out, /^overridden\n/);
    assert.match(result.out, /"input":"examples\/report\/data.csv"/, 'the job params schema and its defaults still apply');
    const saved = await record(runId);
    assert.equal(saved.job, 'report');
    assert.equal(saved.job_revision, 1);
    assert.deepEqual(saved.command, emit('out:overridden', 'env:KUBESCRIBE_PARAMS'));
  });

  test('a timeout sends SIGTERM, then SIGKILL after the grace period, and records timed_out', async () => {
    const runId = uuidv7();
    // The shell ignores SIGTERM before Python starts (an ignored signal stays ignored across exec),
    // so the timeout cannot land before the script installs its own handler, however slow the machine.
    const ignoring = ['sh', '-c', `trap '' TERM; exec ${emit('ignore-term', 'out:working', 'sleep:30').join(' ')}`];
    const result = await run(['--run-id', runId, '--timeout', '1s', '--grace', '1s', '--', ...ignoring]);
    assert.equal(result.code, 137);
    const saved = await record(runId);
    // Killed after 1 s + 1 s, long before its 30 s sleep ends. Timed on the run, not from the spawn:
    // a loaded machine stretched the CLI's start-up alone past 15 s.
    const ranMs = saved.finished_at!.getTime() - saved.started_at!.getTime();
    assert.ok(ranMs < 15_000, `the run lasted ${ranMs} ms`);
    assert.equal(saved.status, 'timed_out');
    assert.equal(saved.signal, 'SIGKILL');
    assert.equal(saved.error_type, 'Timeout');
    assert.match(saved.error_message!, /exceeded the timeout of 1s: sent SIGTERM, then SIGKILL after the 1s grace period/);
  });

  test('a timeout the child obeys within the grace period', async () => {
    const runId = uuidv7();
    const result = await run(['--run-id', runId, '--timeout', '500ms', '--', ...emit('sleep:30')]);
    assert.equal(result.code, 143);
    const saved = await record(runId);
    assert.equal(saved.status, 'timed_out');
    assert.equal(saved.signal, 'SIGTERM');
    assert.equal(saved.error_message, 'exceeded the timeout of 500ms: sent SIGTERM');
  });

  test('SIGTERM to the runner reaches the child and the run is recorded as cancelled', async () => {
    const runId = uuidv7();
    const marker = join(scratch, `term-${runId}`);
    const result = await run(['--run-id', runId, '--', ...emit(`trap:${marker}`, 'out:ready', 'sleep:30')], {
      onSpawn: (child) => {
        // Signal once the child has set its trap and said so; polling PGlite would contend for its lock.
        child.stdout!.on('data', (data: Buffer) => {
          if (data.toString().includes('ready')) child.kill('SIGTERM');
        });
      },
      timeoutMs: 40_000,
    });
    assert.equal(readFileSync(marker, 'utf8'), 'SIGTERM', 'the child received SIGTERM');
    assert.equal(result.code, 143, 'the runner exits with the child exit code');
    const { saved, events } = await stored(runId);
    assert.equal(saved.status, 'cancelled');
    assert.equal(saved.exit_code, 143);
    assert.equal(saved.error_type, 'Cancelled');
    assert.ok(events.some((event) => event.type === 'cancel_requested' && event.detail.signal === 'SIGTERM'));
  });

  test('a child killed by SIGKILL is a failed run with the signal recorded', async () => {
    const runId = uuidv7();
    const result = await run(['--run-id', runId, '--', ...emit('out:about to die', 'kill-self')]);
    assert.equal(result.code, 137);
    const saved = await record(runId);
    assert.equal(saved.status, 'failed');
    assert.equal(saved.exit_code, null);
    assert.equal(saved.signal, 'SIGKILL');
    assert.equal(saved.error_type, 'Signal');
    assert.match(saved.error_message!, /killed by SIGKILL/);
  });

  test('a command that does not exist fails with exit code 127 and a clear error', async () => {
    const runId = uuidv7();
    const result = await run(['--run-id', runId, '--', 'no-such-command-xyz', '--flag']);
    assert.equal(result.code, 127);
    assert.match(result.err, /command not found: no-such-command-xyz/);
    const saved = await record(runId);
    assert.equal(saved.status, 'failed');
    assert.equal(saved.error_type, 'SpawnError');
  });

  test('50 MB of output passes through byte for byte while the stored log keeps head and tail with a marker', async () => {
    const runId = uuidv7();
    const total = 50 * 1024 * 1024;
    const result = await run(['--run-id', runId, '--', ...emit(`bytes:${total}`)], { timeoutMs: 120_000 });
    assert.equal(result.code, 0, result.err);
    assert.equal(result.stdout.length, total);
    const expected = await generated(total);
    assert.equal(createHash('sha256').update(result.stdout).digest('hex'), createHash('sha256').update(expected).digest('hex'));
    const { saved, chunks } = await stored(runId, 100_000);
    assert.equal(saved.log_bytes, total);
    const markers = chunks.filter((chunk) => chunk.stream === 'system');
    assert.equal(markers.length, 1);
    const storedBytes = chunks.filter((chunk) => chunk.stream === 'stdout').reduce((sum, chunk) => sum + Buffer.byteLength(chunk.text), 0);
    const cap = 10 * 1024 * 1024;
    assert.ok(storedBytes <= cap, `stored ${storedBytes} bytes, cap ${cap}`);
    assert.ok(storedBytes > cap - 256 * 1024, `stored ${storedBytes} bytes: nearly the whole cap is used`);
    assert.equal(saved.log_dropped_bytes, total - storedBytes);
    assert.match(markers[0]!.text, new RegExp(`\\(${total - storedBytes} bytes\\) of output dropped here`));
    const text = chunks.map((chunk) => chunk.text).join('');
    const head = expected.subarray(0, cap / 2).toString();
    assert.ok(text.startsWith(head), 'the head is the first 5 MB');
    const tailStart = text.indexOf(markers[0]!.text) + markers[0]!.text.length;
    assert.ok(expected.toString('latin1').endsWith(text.slice(tailStart)), 'the tail is the end of the output');
    assert.ok(text.length - tailStart > cap / 2 - 256 * 1024);
  });

  test('interleaved stdout and stderr are stored in the order they were written', async () => {
    const runId = uuidv7();
    // Two pipes carry no common clock, so order is arrival order at the runner (docs/runner.md): each
    // line is written once the runner has read the one before (emit.py's drained; 100 ms sleeps
    // were not always enough at load 20 on two cores).
    const actions = Array.from({ length: 12 }, (_, i) => [`${i % 2 ? 'err' : 'out'}:line ${i}`, 'drained:1']).flat();
    const result = await run(['--run-id', runId, '--', ...emit(...actions)]);
    assert.equal(result.code, 0);
    const chunks = await t.withDb((db) => readLogChunks(db, runId));
    // Chunk boundaries within one stream are the pipe's (a line and its newline may arrive in two
    // reads): the order asserted is of the streams' stretches, one line each here.
    const lines = mergedByStream(chunks).map((chunk) => `${chunk.stream}:${chunk.text.trim()}`);
    assert.deepEqual(lines, Array.from({ length: 12 }, (_, i) => `${i % 2 ? 'stderr' : 'stdout'}:line ${i}`));
  });

  test('stdout and stderr keep their order while a slow reader holds up our own stderr', async () => {
    // A pod's log pipe or a terminal that lags: the runner's stderr is a pipe nobody reads until
    // the command is done (or 3 s have passed). Passing 100 KB bursts through fills it, and a runner
    // that stopped reading the command's stderr alone stored the stdout lines written after a
    // burst before the burst's end, however far apart they were (see the local executor's test of
    // the same script, which keeps its order as well). Each write waits until the runner has read
    // the one before, for at most 1 s (emit.py's drained): a runner that stopped reading stays
    // stopped for longer (until the slow reader gives up after 3 s), and is caught.
    const runId = uuidv7();
    const done = join(scratch, `${runId}.done`);
    const rounds = 4;
    const actions = Array.from({ length: rounds }, (_, i) => ['err-bytes:100000', 'drained:1', `out:line ${i}`, 'drained:1']).flat();
    const runner = [process.execPath, BIN, 'run', '-q', '--run-id', runId, '--', ...emit(...actions, `touch:${done}`)].map(shellWord).join(' ');
    const slowReader = `{ i=0; while [ ! -e ${shellWord(done)} ] && [ $i -lt 60 ]; do sleep 0.05; i=$((i+1)); done; cat >/dev/null; }`;
    const result = await runCli([], { shell: `${runner} 2>&1 >/dev/null | ${slowReader}`, env: t.env });
    assert.equal(result.code, 0, result.err);
    const { saved, chunks } = await stored(runId);
    assert.equal(saved.status, 'succeeded');
    // Consecutive chunks of one stream are one stretch of output: the stretches must alternate as written.
    assert.deepEqual(logStretches(chunks), alternatingStretches(rounds));
  });

  test('malformed KUBESCRIBE_OUTPUT lines become warning events and never fail the run', async () => {
    const runId = uuidv7();
    const result = await run(['--run-id', runId, '--', ...emit(
      'metric:rows=10', 'raw:this is not json', 'raw:{"metric": "bad", "value": "ten"}',
      'raw:{"output": "summary", "value": {"ok": true}}', 'raw:[1,2]',
    )]);
    assert.equal(result.code, 0);
    assert.match(result.err, /warning: KUBESCRIBE_OUTPUT line 2: not JSON/);
    const { saved, events } = await stored(runId);
    assert.equal(saved.status, 'succeeded');
    assert.deepEqual(saved.metrics, { rows: 10 });
    assert.deepEqual(saved.outputs, { summary: { ok: true } });
    const warnings = events.filter((event) => event.type === 'warning');
    assert.deepEqual(warnings.map((event) => event.detail.line), [2, 3, 5]);
  });

  test('invalid params: a clear error naming the param, exit code 2, recorded as a failed run', async () => {
    const runId = uuidv7();
    const result = await run(['--run-id', runId, '--job', 'report', '-p', 'inputt=x.csv']);
    assert.equal(result.code, 2);
    assert.match(result.err, /invalid params for job report: inputt: is not a param of this job/);
    const saved = await record(runId);
    assert.equal(saved.status, 'failed');
    assert.equal(saved.error_type, 'InvalidParams');
    assert.equal(saved.started_at, null, 'the command never started');
  });

  test('a malformed -p is a usage error that records nothing', async () => {
    const runId = uuidv7();
    const result = await run(['--run-id', runId, '-p', 'novalue', '--', 'true']);
    assert.equal(result.code, 2);
    assert.match(result.err, /-p novalue: expected key=value/);
    assert.equal(await t.withDb((db) => getRun(db, runId)), null);
  });

  test('a queued run is adopted by id; a finished run is never started again', async () => {
    const runId = uuidv7();
    // The job's row first (the run references it), as the API's trigger does.
    await t.withDb(async (db) => {
      await db.query('INSERT INTO jobs (name, declared) VALUES ($1, false) ON CONFLICT DO NOTHING', ['adopt-me']);
      await insertRun(db, {
        run_id: runId, job: 'adopt-me', job_content_hash: null, trigger: 'api', triggered_by: 'token:ci',
        params: { who: 'api' }, status: 'queued', executor: 'local', created_at: new Date(),
      }, { event_id: uuidv7(), at: new Date(), type: 'created', actor: 'token:ci' });
    });
    const result = await runCli(['run', '-q', '--job', 'adopt-me', '--', ...emit('env:KUBESCRIBE_PARAMS')], {
      env: { ...t.env, KUBESCRIBE_RUN_ID: runId },
    });
    assert.equal(result.code, 0, result.err);
    assert.equal(result.out, 'KUBESCRIBE_PARAMS={"who": "api"}\n'.replace(': ', ':'));
    const { saved, events } = await stored(runId);
    assert.equal(saved.status, 'succeeded');
    assert.equal(saved.trigger, 'api', 'the trigger recorded when it was queued stays');
    assert.deepEqual(events.map((event) => event.type), ['created', 'adopted', 'started', 'succeeded']);

    const again = await run(['--run-id', runId, '--', 'true']);
    assert.equal(again.code, 2);
    assert.match(again.err, /already finished \(succeeded\)/);
    assert.equal((await t.withDb((db) => readRunEvents(db, runId))).length, 4, 'nothing recorded');
  });

  test('config errors name the file, line and field, and change nothing', async () => {
    const file = join(scratch, 'broken.yaml');
    writeFileSync(file, 'jobs:\n  nightly:\n    command: [python3, x.py]\n    timeout: fast\n');
    const result = await run(['-f', file, '--job', 'nightly']);
    assert.equal(result.code, 2);
    assert.equal(result.err.trim(), `${file}:4: jobs.nightly.timeout: expected a duration such as "15m", got "fast"`);
    const rows = await t.withDb((db) => db.query<{ n: number }>("SELECT count(*) AS n FROM runs WHERE job = 'nightly'"));
    assert.equal(rows[0]!.n, 0);
  });
}
