// `kubescribe run` beside a running `kubescribe dev`: it records through the server (which holds the
// embedded RunLog) instead of waiting on it, so it finishes in the script's own time and shows up in
// GET /runs while it runs; a spool left by a runner that exited while the API was away is flushed
// by the server with no later command; `kubescribe flush` goes through the server too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import type { RecordOp } from '../../src/runner/record-ops.ts';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { BIN, REPO_ROOT, runCli, waitFor } from '../support/cli.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { expandRunBundle } from '../support/run-bundle.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');
const emit = (...actions: string[]) => ['python3', EMIT, ...actions];

for (const engine of ENGINES) {
  describe(`kubescribe run beside kubescribe dev (${engine})`, () => {
    let t: TestRunLog;
    let dir: string;
    let server: ChildProcess;
    let stderr = '';
    let url = '';
    let token = '';

    before(async () => {
      t = await createTestRunLog(engine);
      dir = mkdtempSync(join(tmpdir(), 'ks-beside-'));
      server = spawn(process.execPath, [BIN, 'dev', '--port', '0'], { cwd: dir, env: { ...process.env, ...t.env }, stdio: ['ignore', 'ignore', 'pipe'] });
      server.stderr!.on('data', (data: Buffer) => {
        stderr += data.toString();
      });
      url = await waitFor(() => (/press it twice to stop now/.test(stderr) ? /dev server on (http:\/\/\S+)/.exec(stderr)?.[1] : undefined), 60_000, `the dev server to start; it said: ${stderr}`);
      token = readFileSync(join(t.home, 'token'), 'utf8').trim();
    });
    after(async () => {
      if (server.exitCode === null) server.kill('SIGKILL');
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    const get = async (path: string) => {
      const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: response.status, body: await response.json() as Record<string, unknown> };
    };
    const runOf = async (runId: string) => {
      const answer = await get(`/runs/${runId}`);
      return answer.status === 200 ? (answer.body.run ?? answer.body) as { status: string; exit_code: number | null } : null;
    };

    test('kubescribe run records through the server: live in GET /runs, done in the script\'s own time', { timeout: 120_000 }, async () => {
      const release = join(dir, 'release');
      const pending = runCli(['run', '--', ...emit('out:beside dev', `wait-file:${release}`, 'out:done', 'exit:0')], { cwd: dir, env: t.env, timeoutMs: 100_000 });
      const live = await waitFor(async () => {
        const runs = (await get('/runs?job=adhoc')).body.runs as { run_id: string; status: string }[];
        return runs.find((run) => run.status === 'running');
      }, 60_000, 'the run to show up running in GET /runs');
      const released = Date.now();
      writeFileSync(release, '');
      const result = await pending;
      const after = Date.now() - released;
      assert.equal(result.code, 0, result.err);
      assert.equal(result.out, 'beside dev\ndone\n');
      // Seconds, not the minute it took to give up on the embedded RunLog when the server held it.
      assert.ok(after < 5_000, `the runner ended ${after} ms after its script could`);
      assert.doesNotMatch(result.err, /unreachable|buffered|busy/);
      // Through the server (on PostgreSQL a direct write would work too, but must not be what happened).
      assert.match(readFileSync(join(t.home, 'server.log'), 'utf8'), new RegExp(`/runner/runs/${live.run_id}/records`));
      const run = await runOf(live.run_id);
      assert.equal(run?.status, 'succeeded');
      const logs = (await get(`/runs/${live.run_id}/logs`)).body.chunks as { text: string }[];
      assert.equal(logs.map((chunk) => chunk.text).join(''), 'beside dev\ndone\n');
    });

    test('through the server the runner loads no database engine (pg, PGlite): it starts at once', { timeout: 60_000 }, async () => {
      const log = join(dir, 'loaded-modules.txt');
      writeFileSync(log, '');
      const hook = join(dir, 'hook.mjs');
      // A resolve hook that notes every module the process loads; the files of the run bundle stand for the modules they hold.
      writeFileSync(hook, `import { register } from 'node:module';\nregister('data:text/javascript,' + encodeURIComponent(${JSON.stringify(
        `import { appendFileSync } from 'node:fs';\nexport async function resolve(specifier, context, next) {\n  const r = await next(specifier, context);\n` +
        `  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');\n  return r;\n}`,
      )}));\n`);
      const databaseModules = () => expandRunBundle(readFileSync(log, 'utf8').split('\n').filter(Boolean))
        // Matched below the checkout, whose own path may say "pglite".
        .map((url) => url.replace(pathToFileURL(REPO_ROOT).href, ''))
        .filter((url) => /pglite|node_modules\/pg\/|pg-engine|open-runlog/.test(url)).join('\n');
      const result = await runCli(['run', '--', 'true'], { cwd: dir, env: { ...t.env, NODE_OPTIONS: `--import ${hook}` }, timeoutMs: 50_000 });
      assert.equal(result.code, 0, result.err);
      assert.match(readFileSync(join(t.home, 'server.log'), 'utf8'), /\/runner\/runs/);
      assert.equal(databaseModules(), '', 'no database module was loaded');
      // The same hook sees them on the direct path (its records are left for the server to flush), so the check above can fail.
      // A run id: adopting a run needs the RunLog's answer, so even on PGlite the runner opens it rather than write behind.
      const direct = await runCli(['run', '--run-id', uuidv7(), '--flush-timeout', '1s', '--', 'true'], { cwd: dir, env: { ...t.env, KUBESCRIBE_RUNLOG: 'direct', NODE_OPTIONS: `--import ${hook}` }, timeoutMs: 50_000 });
      assert.equal(direct.code, 0, direct.err);
      assert.match(databaseModules(), /open-runlog/);
    });

    test('a spool left by a runner that exited while the API was away is flushed by the server, with no later command', { timeout: 120_000 }, async () => {
      const proxy = new TcpProxy({ host: '127.0.0.1', port: Number(new URL(url).port) });
      await proxy.start();
      try {
        const runId = uuidv7();
        const release = join(dir, `release-${runId}`);
        const pending = runCli(['run', '--run-id', runId, '--flush-timeout', '1s', '--', ...emit('out:first', `wait-file:${release}`, 'out:second', 'exit:5')], {
          cwd: dir,
          env: { ...t.env, KUBESCRIBE_API_URL: `http://127.0.0.1:${proxy.port}`, KUBESCRIBE_TOKEN: token },
          timeoutMs: 100_000,
        });
        await waitFor(async () => (await runOf(runId))?.status === 'running', 60_000, 'the run to start');
        await proxy.cut();
        writeFileSync(release, '');
        const result = await pending;
        assert.equal(result.code, 5, result.err);
        assert.match(result.err, new RegExp(`records are kept in .*${runId}\\.jsonl`));
        // The API comes back; nobody runs any command: the server finds the spool and writes it.
        await proxy.restore();
        const run = await waitFor(async () => {
          const current = await runOf(runId);
          return current?.status === 'failed' ? current : null;
        }, 60_000, 'the server to flush the spool');
        assert.equal(run.exit_code, 5);
        assert.equal(existsSync(join(t.home, 'spool', `${runId}.jsonl`)), false);
      } finally {
        await proxy.close();
      }
    });

    test('kubescribe flush sends spooled records through the running server', { timeout: 120_000 }, async () => {
      const runId = uuidv7();
      const at = new Date();
      const event = (type: string) => ({ event_id: uuidv7(), at, type, actor: 'executor:local@test', detail: {} });
      const ops: RecordOp[] = [
        { op: 'ensure_job', name: 'spooled' },
        {
          op: 'insert_run',
          run: { run_id: runId, job: 'spooled', job_content_hash: null, trigger: 'manual', triggered_by: 'me', params: {}, status: 'starting', executor: 'local', created_at: at },
          event: event('created'),
        },
        { op: 'transition', run_id: runId, from: ['starting'], to: 'running', patch: { started_at: at }, event: event('started') },
        { op: 'logs', run_id: runId, rows: [{ seq: 1, stream: 'stdout', at: at.toISOString(), text: 'from the spool\n' }] },
        { op: 'transition', run_id: runId, from: ['starting', 'running'], to: 'succeeded', patch: { finished_at: at, exit_code: 0 }, event: event('succeeded') },
      ];
      mkdirSync(join(t.home, 'spool'), { recursive: true });
      writeFileSync(join(t.home, 'spool', `${runId}.jsonl`), ops.map((op) => JSON.stringify(op) + '\n').join(''));
      const flushed = await runCli(['flush'], { cwd: dir, env: t.env, timeoutMs: 60_000 });
      assert.equal(flushed.code, 0, flushed.err);
      assert.doesNotMatch(flushed.err, /busy|held|unreachable/);
      assert.equal(existsSync(join(t.home, 'spool', `${runId}.jsonl`)), false);
      assert.equal((await runOf(runId))?.status, 'succeeded');
    });
  });
}
