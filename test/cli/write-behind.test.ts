// `kubescribe run` on the embedded RunLog with no server writes behind: it records into its spool only,
// exits with the command's code, and a detached `kubescribe flush --behind` imports the spool
// (src/runner/spool-sink.ts, src/cli/spool-flusher.ts). What users do next — `kubescribe runs`, `logs`,
// `dev` — sees the run without any step of theirs, and no crash loses or doubles a record.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { liveFlusherPid } from '../../src/runlog/flusher-lock.ts';
import { readLogChunks, readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import type { Db } from '../../src/runlog/db.ts';
import { BIN, REPO_ROOT, runCli, waitFor } from '../support/cli.ts';
import { createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { settleFlusher } from '../support/spool-flusher.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');
const emit = (...actions: string[]) => ['python3', EMIT, ...actions];

interface ListedRun { run_id: string; status: string; exit_code: number | null }

describe('kubescribe run writes behind on the embedded RunLog', () => {
  let t: TestRunLog;
  let dir: string;
  before(async () => {
    t = await createTestRunLog('pglite');
    dir = mkdtempSync(join(tmpdir(), 'ks-behind-'));
  });
  after(async () => {
    await t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { cwd: dir, env: { ...t.env, ...env }, timeoutMs: 120_000 });
  const runIdOf = (err: string) => /kubescribe: run (\S+) \(/.exec(err)?.[1] ?? assert.fail(`no run id in: ${err}`);
  const spools = (home = t.home) => (existsSync(join(home, 'spool')) ? readdirSync(join(home, 'spool')) : []);
  const listed = async (env: Record<string, string> = {}) => {
    const result = await cli(['runs', '--json', '--limit', '100'], env);
    assert.equal(result.code, 0, result.err);
    return JSON.parse(result.out) as ListedRun[];
  };
  /** Each run's events by type: every record imported once shows as one event of each kind. */
  const eventCounts = (db: Db, runId: string) => readRunEvents(db, runId).then((events) => {
    const counts: Record<string, number> = {};
    for (const event of events) counts[event.type] = (counts[event.type] ?? 0) + 1;
    return counts;
  });
  /** Holds the embedded RunLog in this process, as a long command would: flushers wait for it. */
  const hold = () => openRunLogDb(t.location);

  test('run, then runs right after: the run is there, with its log, and the runner loaded no database', { timeout: 180_000 }, async () => {
    const result = await cli(['run', '--', ...emit('out:written behind', 'exit:3')], { KUBESCRIBE_TIMING: '1' });
    assert.equal(result.code, 3, result.err);
    assert.equal(result.out, 'written behind\n');
    assert.match(result.err, /timing [\d.]+ sink chosen: spool/);
    assert.doesNotMatch(result.err, /postgres open|pglite open|unreachable/);
    const runId = runIdOf(result.err);
    // No wait, no flush: the command itself imports the spool or waits for the flusher that does.
    const runs = await listed();
    assert.deepEqual(runs.filter((run) => run.run_id === runId).map((run) => [run.status, run.exit_code]), [['failed', 3]]);
    const logs = await cli(['logs', runId]);
    assert.equal(logs.code, 0, logs.err);
    assert.equal(logs.out, 'written behind\n');
    assert.deepEqual(spools(), []);
  });

  test('ten runs in a loop are all recorded, each once', { timeout: 300_000 }, async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const result = await cli(['run', '--', ...emit(`out:loop ${i}`)]);
      assert.equal(result.code, 0, result.err);
      ids.push(runIdOf(result.err));
    }
    const runs = await listed();
    for (const id of ids) assert.deepEqual(runs.filter((run) => run.run_id === id).map((run) => run.status), ['succeeded'], id);
    await t.withDb(async (db) => {
      for (const [i, id] of ids.entries()) {
        assert.deepEqual(await eventCounts(db, id), { created: 1, started: 1, succeeded: 1 }, id);
        assert.equal((await readLogChunks(db, id)).map((chunk) => chunk.text).join(''), `loop ${i}\n`);
      }
    });
  });

  test('runs at once are all recorded, each once', { timeout: 300_000 }, async () => {
    const results = await Promise.all([0, 1, 2, 3].map((i) => cli(['run', '--', ...emit(`out:at once ${i}`)])));
    const ids = results.map((result) => {
      assert.equal(result.code, 0, result.err);
      return runIdOf(result.err);
    });
    await t.withDb(async (db) => {
      for (const [i, id] of ids.entries()) {
        assert.deepEqual(await eventCounts(db, id), { created: 1, started: 1, succeeded: 1 }, id);
        assert.equal((await readLogChunks(db, id)).map((chunk) => chunk.text).join(''), `at once ${i}\n`);
      }
    });
    assert.deepEqual(spools(), []);
  });

  test('while a run runs, other commands use the RunLog; the run shows once it ends', { timeout: 180_000 }, async () => {
    const release = join(dir, 'release-long');
    const started = join(dir, 'started-long');
    const pending = cli(['run', '--', ...emit('out:long', `touch:${started}`, `wait-file:${release}`, 'out:end')]);
    await waitFor(() => existsSync(started), 60_000, 'the command to start');
    // Before write-behind the runner held the embedded RunLog for the whole run: this failed (busy).
    const during = await cli(['runs', '--json']);
    assert.equal(during.code, 0, during.err);
    writeFileSync(release, '');
    const result = await pending;
    assert.equal(result.code, 0, result.err);
    const runId = runIdOf(result.err);
    assert.equal((await listed()).find((run) => run.run_id === runId)?.status, 'succeeded');
  });

  test('a run whose directory is removed: the flusher, started in the home, still imports it', { timeout: 180_000 }, async () => {
    const gone = mkdtempSync(join(tmpdir(), 'ks-behind-gone-'));
    // The command removes its own directory (a job cleaning up its scratch space), so the runner's is
    // gone before it starts the flusher: one started in the run's directory died in uv_cwd, and the
    // spool waited for the next command. As likely from a script: `kubescribe run … ; rm -rf "$PWD"`.
    const result = await runCli(['run', '--', 'sh', '-c', 'rm -rf "$PWD" && echo from a removed directory'], { cwd: gone, env: t.env, timeoutMs: 120_000 });
    assert.equal(existsSync(gone), false);
    assert.equal(result.code, 0, result.err);
    assert.equal(result.out, 'from a removed directory\n');
    const runId = runIdOf(result.err);
    assert.ok(await settleFlusher(t.home, 60_000), 'the flusher imported the spool and let go');
    assert.deepEqual(spools(), [], 'no spool is left for a later command');
    assert.equal(readFileSync(join(t.home, 'flush.log'), 'utf8').includes('uv_cwd'), false);
    const db = await hold();
    try {
      assert.equal((await db.query<{ status: string }>('SELECT status FROM runs WHERE run_id = $1', [runId]))[0]?.status, 'succeeded');
    } finally {
      await db.close();
    }
  });

  test('a runner SIGKILLed after its start: the next command finds its run', { timeout: 180_000 }, async () => {
    const started = join(dir, 'started-killed');
    let runner: import('node:child_process').ChildProcess | undefined;
    const pending = runCli(['run', '--', ...emit('out:before the kill', `touch:${started}`, 'sleep:60')], {
      cwd: dir, env: t.env, timeoutMs: 120_000, onSpawn: (child) => (runner = child),
    });
    await waitFor(() => existsSync(started), 60_000, 'the command to start');
    const spool = await waitFor(() => spools().find((name) => readFileSync(join(t.home, 'spool', name), 'utf8').includes('"text":"before the kill\\n"')), 30_000, 'the log in the spool');
    runner!.kill('SIGKILL');
    await pending;
    const runId = spool.replace(/\.jsonl$/, '');
    // Nobody started a flusher; `runs` imports the spool its dead writer left.
    const run = (await listed()).find((each) => each.run_id === runId);
    assert.equal(run?.status, 'running', 'recorded as far as it got (a server\'s reaper marks it lost)');
    await t.withDb(async (db) => {
      assert.equal((await readLogChunks(db, runId)).map((chunk) => chunk.text).join(''), 'before the kill\n');
    });
  });

  test('a flusher SIGKILLed mid-import: the next flush completes it, nothing twice', { timeout: 300_000 }, async () => {
    const bytes = 6_000_000;
    const held = await hold();
    let small: string;
    let big: string;
    let flusher: number;
    try {
      const first = await cli(['run', '--', ...emit('out:small')]);
      assert.equal(first.code, 0, first.err);
      const second = await cli(['run', '--', ...emit(`bytes:${bytes}`)]);
      assert.equal(second.code, 0, second.err.slice(-500));
      small = runIdOf(first.err);
      big = runIdOf(second.err);
      assert.deepEqual(spools().sort(), [`${small}.jsonl`, `${big}.jsonl`]);
      // The first run's flusher waits for the RunLog; the second's found it running and left.
      flusher = await waitFor(() => liveFlusherPid(t.home), 30_000, 'the flusher');
    } finally {
      await held.close();
    }
    // Spools go in order: once the small one is gone, the big one is being imported.
    await waitFor(() => !spools().includes(`${small}.jsonl`), 120_000, 'the first spool to be imported');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(spools().includes(`${big}.jsonl`), 'the big spool still being imported when the flusher is killed');
    process.kill(flusher, 'SIGKILL');
    await waitFor(() => liveFlusherPid(t.home) === null, 10_000, 'the flusher to die');

    const flush = await cli(['flush']);
    assert.equal(flush.code, 0, flush.err);
    assert.deepEqual(spools(), []);
    const expected = await new Promise<Buffer>((resolve, reject) => {
      const child = spawn('python3', [EMIT, `bytes:${bytes}`], { stdio: ['ignore', 'pipe', 'inherit'] });
      const out: Buffer[] = [];
      child.stdout.on('data', (data: Buffer) => out.push(data));
      child.once('error', reject);
      child.once('close', () => resolve(Buffer.concat(out)));
    });
    await t.withDb(async (db) => {
      for (const id of [small, big]) assert.deepEqual(await eventCounts(db, id), { created: 1, started: 1, succeeded: 1 }, id);
      const chunks: string[] = [];
      for (let after = 0; ;) {
        const page = await readLogChunks(db, big, after);
        if (page.length === 0) break;
        chunks.push(...page.map((chunk) => chunk.text));
        after = page[page.length - 1]!.seq;
      }
      assert.ok(chunks.join('') === expected.toString('utf8'), 'the log byte-exact, no chunk twice');
    });
  });

  test('a malformed spool line: named by file and line, the rest imported', { timeout: 180_000 }, async () => {
    const held = await hold();
    let runId: string;
    let spool: string;
    try {
      const result = await cli(['run', '--', ...emit('out:one', 'out:two')]);
      assert.equal(result.code, 0, result.err);
      runId = runIdOf(result.err);
      // Its flusher waits for the RunLog this test holds: stopped, so that `runs` is what imports.
      process.kill(await waitFor(() => liveFlusherPid(t.home), 30_000, 'the flusher'), 'SIGKILL');
      spool = join(t.home, 'spool', `${runId}.jsonl`);
      const lines = readFileSync(spool, 'utf8').split('\n');
      // Line 2 is the run's creation; a log line after it is mangled.
      const at = lines.findIndex((line) => line.includes('"op":"logs"'));
      assert.ok(at > 1, 'a log line in the spool');
      lines[at] = lines[at]!.slice(0, 25);
      writeFileSync(spool, lines.join('\n'));
      await waitFor(() => liveFlusherPid(t.home) === null, 10_000, 'the flusher to die');
      await held.close();
      const runs = await cli(['runs', '--json', '--limit', '100']);
      assert.equal(runs.code, 0, runs.err);
      assert.ok(runs.err.includes(`${spool}:${at + 1}: unreadable buffered record skipped`), runs.err);
      const run = (JSON.parse(runs.out) as ListedRun[]).find((each) => each.run_id === runId);
      assert.equal(run?.status, 'succeeded');
    } finally {
      await held.close().catch(() => {});
    }
    assert.deepEqual(spools(), []);
  });

  test('kubescribe dev started while a flusher imports: it waits for it, then has the run', { timeout: 300_000 }, async () => {
    const held = await hold();
    let runId: string;
    try {
      const result = await cli(['run', '--', ...emit('bytes:3000000', 'out:for dev')]);
      assert.equal(result.code, 0, result.err.slice(-500));
      runId = runIdOf(result.err);
      await waitFor(() => liveFlusherPid(t.home), 30_000, 'the flusher');
    } finally {
      await held.close();
    }
    // The flusher takes the RunLog as soon as it is free.
    const lock = join(t.home, 'runlog.lock');
    await waitFor(() => existsSync(lock) && JSON.parse(readFileSync(lock, 'utf8')).pid === liveFlusherPid(t.home), 30_000, 'the flusher to open the RunLog');
    const server = spawn(process.execPath, [BIN, 'dev', '--port', '0'], { cwd: dir, env: { ...process.env, ...t.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    server.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
    try {
      const url = await waitFor(() => (/press it twice to stop now/.test(stderr) ? /dev server on (http:\/\/\S+)/.exec(stderr)?.[1] : undefined), 120_000, `dev to start; it said: ${stderr}`);
      assert.doesNotMatch(stderr, /open in another process/);
      const token = readFileSync(join(t.home, 'token'), 'utf8').trim();
      const answer = await fetch(`${url}/runs/${runId}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(answer.status, 200);
      const body = await answer.json() as { run?: { status: string }; status?: string };
      assert.equal((body.run ?? body).status, 'succeeded');
    } finally {
      server.kill('SIGTERM');
      await new Promise((resolve) => (server.exitCode === null ? server.once('exit', resolve) : resolve(null)));
    }
  });
});

describe('kubescribe run writes behind on a fresh home', () => {
  let home: string;
  before(() => {
    home = mkdtempSync(join(tmpdir(), 'ks-behind-fresh-'));
  });
  after(async () => {
    await settleFlusher(home);
    rmSync(home, { recursive: true, force: true });
  });

  test('the first run ever: the flusher creates the RunLog, and runs shows the run', { timeout: 300_000 }, async () => {
    const env = { KUBESCRIBE_HOME: home, DATABASE_URL: '' };
    const result = await runCli(['run', '--', 'echo', 'first'], { cwd: home, env, timeoutMs: 120_000 });
    assert.equal(result.code, 0, result.err);
    assert.equal(result.out, 'first\n');
    const runId = /kubescribe: run (\S+) \(/.exec(result.err)![1]!;
    const runs = await runCli(['runs', '--json'], { cwd: home, env, timeoutMs: 180_000 });
    assert.equal(runs.code, 0, runs.err);
    assert.deepEqual((JSON.parse(runs.out) as ListedRun[]).map((run) => [run.run_id, run.status]), [[runId, 'succeeded']]);
  });
});
