// `kubescribe run` beside a running `kubescribe serve`: serve writes the server file as dev does (a
// loopback URL when it listens on every interface, the RunLog it serves), but no token of its own,
// so a run given a token (KUBESCRIBE_TOKEN) records through it — never waiting on an embedded RunLog
// serve holds — and a run without one writes the RunLog itself as before. The file goes when serve stops.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runLogIdentity } from '../../src/runlog/runlog-identity.ts';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { BIN, REPO_ROOT, runCli, waitFor } from '../support/cli.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');
const emit = (...actions: string[]) => ['python3', EMIT, ...actions];

for (const engine of ENGINES) {
  describe(`kubescribe run beside kubescribe serve (${engine})`, () => {
    let t: TestRunLog;
    let dir: string;
    let server: ChildProcess;
    let stderr = '';
    let stdout = '';
    let port = 0;
    const token = `ksk_${randomBytes(32).toString('base64url')}`;

    before(async () => {
      t = await createTestRunLog(engine);
      dir = mkdtempSync(join(tmpdir(), 'ks-beside-serve-'));
      const tokenFile = join(dir, 'admin-token');
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
      server = spawn(process.execPath, [BIN, 'serve', '--host', '0.0.0.0', '--port', '0', '--executor', 'none', '--no-scheduler'], {
        cwd: dir,
        env: { ...process.env, ...t.env, KUBESCRIBE_ADMIN_TOKEN_FILE: tokenFile, KUBESCRIBE_TOKEN: '', KUBESCRIBE_SERVER: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server.stdout!.on('data', (data: Buffer) => (stdout += data.toString()));
      server.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
      port = Number(await waitFor(() => /KubeScribe API on http:\/\/[^:]+:(\d+)/.exec(stderr)?.[1], 60_000, `serve to start; it said: ${stderr}`));
    });
    after(async () => {
      if (server.exitCode === null) server.kill('SIGKILL');
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: response.status, body: await response.json() as Record<string, unknown> };
    };

    test('serve bound to every interface writes a server file with a loopback URL and its RunLog, no token file', async () => {
      const file = JSON.parse(await waitFor(() => (existsSync(join(t.home, 'server.json')) ? readFileSync(join(t.home, 'server.json'), 'utf8') : undefined), 10_000, 'the server file'));
      assert.deepEqual(file, { url: `http://127.0.0.1:${port}`, pid: server.pid, kind: 'serve', runlog: runLogIdentity({ databaseUrl: t.env.DATABASE_URL || null, databaseSchema: t.env.KUBESCRIBE_DB_SCHEMA || null, home: t.home }) });
      assert.equal(existsSync(join(t.home, 'token')), false, 'serve writes no admin token to disk');
    });

    test('with KUBESCRIBE_TOKEN, kubescribe run records through serve: live in GET /runs, done in the script\'s own time', { timeout: 120_000 }, async () => {
      const release = join(dir, 'release');
      const pending = runCli(['run', '--job', 'beside-serve', '--', ...emit('out:beside serve', `wait-file:${release}`, 'out:done', 'exit:0')], {
        cwd: dir, env: { ...t.env, KUBESCRIBE_TOKEN: token, KUBESCRIBE_SERVER: '' }, timeoutMs: 100_000,
      });
      const live = await waitFor(async () => {
        const runs = (await get('/runs?job=beside-serve')).body.runs as { run_id: string; status: string }[];
        return runs.find((run) => run.status === 'running');
      }, 60_000, 'the run to show up running in GET /runs');
      const released = Date.now();
      writeFileSync(release, '');
      const result = await pending;
      const took = Date.now() - released;
      assert.equal(result.code, 0, result.err);
      assert.equal(result.out, 'beside serve\ndone\n');
      assert.ok(took < 5_000, `the runner ended ${took} ms after its script could`);
      assert.doesNotMatch(result.err, /unreachable|buffered|busy/);
      // Through the server, not a direct write (which would work too on PostgreSQL).
      assert.match(stdout, new RegExp(`/runner/runs/${live.run_id}/records`));
      const run = (await get(`/runs/${live.run_id}`)).body;
      assert.equal(((run.run ?? run) as { status: string }).status, 'succeeded');
      const logs = (await get(`/runs/${live.run_id}/logs`)).body.chunks as { text: string }[];
      assert.equal(logs.map((chunk) => chunk.text).join(''), 'beside serve\ndone\n');
    });

    // Without a token the run opens the RunLog itself, as before serve wrote a file: on PostgreSQL
    // that works beside serve; the embedded RunLog is serve's to hold, so there it would wait.
    if (engine === 'postgres') {
      test('without a token, kubescribe run writes the RunLog itself, not through serve', { timeout: 60_000 }, async () => {
        const result = await runCli(['run', '--job', 'direct-beside-serve', '--', 'true'], { cwd: dir, env: { ...t.env, KUBESCRIBE_TOKEN: '', KUBESCRIBE_SERVER: '' }, timeoutMs: 50_000 });
        assert.equal(result.code, 0, result.err);
        const runs = (await get('/runs?job=direct-beside-serve')).body.runs as { run_id: string; status: string }[];
        assert.equal(runs.length, 1);
        assert.equal(runs[0]!.status, 'succeeded');
        assert.doesNotMatch(stdout, new RegExp(`/runner/runs/${runs[0]!.run_id}`));
      });
    }

    test('the server file goes when serve stops', { timeout: 60_000 }, async () => {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
      assert.equal(existsSync(join(t.home, 'server.json')), false);
    });
  });
}

if (ENGINES.includes('postgres')) {
  test('serve in a home it cannot write (a read-only container) starts with a warning, and stops cleanly', { timeout: 90_000 }, async () => {
    const t = await createTestRunLog('postgres');
    const dir = mkdtempSync(join(tmpdir(), 'ks-serve-ro-'));
    // A path under a regular file: not even root can create it (ENOTDIR).
    writeFileSync(join(dir, 'file'), '');
    const home = join(dir, 'file', 'home');
    let stderr = '';
    const server = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--executor', 'none', '--no-scheduler'], {
      cwd: dir, env: { ...process.env, ...t.env, KUBESCRIBE_HOME: home, KUBESCRIBE_ADMIN_TOKEN_FILE: '' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    server.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
    try {
      const url = await waitFor(() => /KubeScribe API on (http:\/\/\S+)/.exec(stderr)?.[1], 60_000, `serve to start; it said: ${stderr}`);
      await waitFor(() => /no server file for local commands \(ENOTDIR/.test(stderr), 10_000, `the warning; serve said: ${stderr}`);
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (server.exitCode === null) server.kill('SIGKILL');
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
