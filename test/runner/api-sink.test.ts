// The runner recording through the KubeScribe API (a job pod's way: KUBESCRIBE_API_URL and a run
// token, no DATABASE_URL), on each engine behind the API, with the API cut and restored mid-run: the
// job runs on, its records wait in the spool, the runner flushes them itself, and the stored log is
// byte-exact with no chunk written twice.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runnerRoutes } from '../../src/api/routes/runner.ts';
import { fileCredential } from '../../src/cli/runner-sink.ts';
import { ApiSink } from '../../src/runner/api-sink.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { readLogChunks, readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { createRunnerCredential } from '../../src/runlog/sql/runner-credentials.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { syncJobs } from '../../src/runlog/sync-jobs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { REPO_ROOT, runCli, waitFor } from '../support/cli.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');
const emit = (...actions: string[]) => ['python3', EMIT, ...actions];
const CONFIG = parseConfig('jobs:\n  outage:\n    command: ["true"]\n', 'kubescribe.yaml');

for (const engine of ENGINES) {
  describe(`runner through the API (${engine} behind it)`, () => {
    let api: TestApi;
    let proxy: TcpProxy;
    let home: string;

    before(async () => {
      api = await startTestApi(engine, { routes: [runnerRoutes], config: CONFIG });
      await syncJobs(api.db, CONFIG);
      const port = Number(new URL(api.url).port);
      proxy = new TcpProxy({ host: '127.0.0.1', port });
      await proxy.start();
      // The runner's own home: no RunLog there, only its spool.
      home = mkdtempSync(join(tmpdir(), 'ks-runner-api-'));
    });
    after(async () => {
      await proxy.close();
      await api.close();
      rmSync(home, { recursive: true, force: true });
    });

    test('the API cut and restored mid-run: the run completes, the log is byte-exact with no duplicate, the runner flushes its spool', { timeout: 180_000 }, async () => {
      const runId = uuidv7();
      const token = (await createRunnerCredential(api.db, { run_id: runId, expires_at: new Date(Date.now() + 3_600_000), created_by: 'test' })).token;
      const cut = join(home, `${runId}.cut`);
      const restored = join(home, `${runId}.restored`);
      const spool = join(home, 'spool', `${runId}.jsonl`);
      // Another run's spool in the same home: this run's credential may not write it, so it stays.
      const otherRun = uuidv7();
      mkdirSync(join(home, 'spool'), { recursive: true });
      writeFileSync(join(home, 'spool', `${otherRun}.jsonl`), JSON.stringify({ op: 'heartbeat', run_id: otherRun, at: new Date().toISOString() }) + '\n');
      const pending = runCli(['run', '--run-id', runId, '--job', 'outage', '--flush-timeout', '60s', '--',
        ...emit('out:before the outage', `wait-file:${cut}`, 'out:during the outage', 'bytes:300000', 'err:still going', 'metric:rows=7',
          `wait-file:${restored}`, 'out:after', 'exit:0')], {
        env: {
          KUBESCRIBE_HOME: home, DATABASE_URL: '', KUBESCRIBE_API_URL: `http://127.0.0.1:${proxy.port}`, KUBESCRIBE_TOKEN: token,
          KUBESCRIBE_CONFIG: join(home, 'none.yaml'),
        },
        timeoutMs: 170_000,
      });
      await waitFor(async () => (await getRun(api.db, runId))?.status === 'running', 120_000, 'the run to start');
      await proxy.cut();
      writeFileSync(cut, '');
      // The records made during the outage are in the runner's spool before the API comes back.
      await waitFor(() => existsSync(spool), 60_000, 'the runner to spool its records');
      await proxy.restore();
      writeFileSync(restored, '');
      const result = await pending;
      assert.equal(result.code, 0, result.err);
      assert.match(result.err, /the KubeScribe API at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
      assert.match(result.err, /answers again; buffered records flushed/);
      assert.equal(result.err.includes(token), false, 'the credential is never printed');

      const run = (await getRun(api.db, runId))!;
      assert.equal(run.status, 'succeeded');
      assert.equal(run.exit_code, 0);
      assert.deepEqual(run.metrics, { rows: 7 });
      const chunks = await readLogChunks(api.db, runId);
      const seqs = chunks.map((chunk) => chunk.seq);
      assert.equal(new Set(seqs).size, seqs.length, 'no chunk twice');
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
      const stdout = chunks.filter((chunk) => chunk.stream === 'stdout').map((chunk) => chunk.text).join('');
      assert.equal(stdout, result.out, 'the stored stdout is byte for byte what the job wrote');
      assert.equal(chunks.filter((chunk) => chunk.stream === 'stderr').map((chunk) => chunk.text).join(''), 'still going\n');
      assert.equal(run.log_bytes, Buffer.byteLength(result.out) + 'still going\n'.length);
      const events = await readRunEvents(api.db, runId);
      assert.deepEqual(events.map((event) => event.type), ['created', 'started', 'succeeded']);
      assert.equal(events[0]!.actor, `runner:${runId}`);
      assert.match(events[1]!.actor ?? '', /^executor:local@/);
      assert.deepEqual(readdirSync(join(home, 'spool')), [`${otherRun}.jsonl`], 'its own spool flushed and removed, another run\'s left');
      assert.match(result.err, new RegExp(`${otherRun}\\.jsonl: left on disk`));
    });

    test('a credential file refused with 401 is read again (a rotated projected token) and the request sent once more', async () => {
      const runId = uuidv7();
      const file = join(home, 'token-file');
      writeFileSync(file, 'ksr_stale\n');
      const sink = new ApiSink({ url: api.url, credential: fileCredential(file, 'KUBESCRIBE_TOKEN_FILE') });
      const fresh = (await createRunnerCredential(api.db, { run_id: runId, expires_at: new Date(Date.now() + 3_600_000), created_by: 'test' })).token;
      writeFileSync(file, `${fresh}\n`);
      assert.equal(await sink.getRun(runId), null, 'answered (404: no such run yet), not refused');
      // A credential that stays refused is "not now" to the recorder: records wait in the spool.
      writeFileSync(file, 'ksr_revoked\n');
      const stale = new ApiSink({ url: api.url, credential: fileCredential(file, 'KUBESCRIBE_TOKEN_FILE') });
      const error = await stale.getRun(runId).then(() => null, (failure: unknown) => failure);
      assert.ok(stale.isUnreachable(error), String(error));
    });
  });
}
