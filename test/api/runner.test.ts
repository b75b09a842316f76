// The runner endpoints over real HTTP on each engine: create (idempotent, 409 for another job), read
// and adopt, ordered record batches (a bad one is a 400 naming the record and writes nothing; a replay
// writes nothing twice), and who may call them: an admin token or a runner credential for that run
// (or job) only, never a read/trigger token, and no runner credential anywhere else. Every answer is
// checked against /openapi.json.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runnerRoutes } from '../../src/api/routes/runner.ts';
import { runsReadRoutes } from '../../src/api/routes/runs-read.ts';
import { tokensRoutes } from '../../src/api/routes/tokens.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { syncJobs } from '../../src/runlog/sync-jobs.ts';
import { readLogChunks, readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { createRunnerCredential } from '../../src/runlog/sql/runner-credentials.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { redactApiTokens } from '../../src/runlog/sql/tokens.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { checkResponse, fetchOpenApi, type OpenApiDocument } from '../support/openapi-contract.ts';
import { ENGINES } from '../support/runlog-engines.ts';

const CONFIG = parseConfig('jobs:\n  nightly:\n    command: ["true"]\n  other:\n    command: ["true"]\n', 'kubescribe.yaml');
const now = () => new Date().toISOString();
const event = (type: string, actor: string | null = 'executor:kubernetes@pod-1') => ({ event_id: uuidv7(), at: now(), type, actor, detail: {} });
const newRun = (runId: string, job = 'nightly') => ({
  run: {
    run_id: runId, job, job_content_hash: null, trigger: 'schedule', triggered_by: 'cron', params: { day: 1 }, status: 'starting',
    executor: 'kubernetes', executor_ref: { pod: 'pod-1' }, created_at: now(),
  },
  event: event('created', 'token:impersonated'),
});
const logs = (runId: string, seq: number, text: string) => ({ op: 'logs', run_id: runId, rows: [{ seq, stream: 'stdout', at: now(), text }] });
const started = (runId: string) => ({ op: 'transition', run_id: runId, from: ['starting'], to: 'running', patch: { started_at: now(), heartbeat_at: now() }, event: event('started') });
const finished = (runId: string) => ({
  op: 'transition', run_id: runId, from: ['starting', 'running'], to: 'succeeded',
  patch: { finished_at: now(), exit_code: 0, outputs: { report: { rows: 2 } }, metrics: { rows: 2 }, log_bytes: 6, log_dropped_bytes: 0 },
  event: event('succeeded', 'token:someone-else'),
});

for (const engine of ENGINES) {
  describe(`API: runner endpoints (${engine})`, () => {
    let api: TestApi;
    let doc: OpenApiDocument;

    async function call(method: string, path: string, template: string, options: { token?: string; scope?: 'read' | 'trigger' | 'admin'; body?: unknown } = {}) {
      const token = options.token ?? api.tokens[options.scope ?? 'admin'];
      const response = await fetch(`${api.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(options.body ? { 'content-type': 'application/json' } : {}) },
        body: options.body ? JSON.stringify(options.body) : undefined,
      });
      const text = await response.text();
      const body = JSON.parse(text);
      checkResponse(doc, method, template, response.status, body);
      return { status: response.status, body, text };
    }
    const mint = async (bound: { run_id: string } | { job: string }, expiresAt = new Date(Date.now() + 3_600_000)) =>
      (await createRunnerCredential(api.db, { ...bound, expires_at: expiresAt, created_by: 'test' } as Parameters<typeof createRunnerCredential>[1])).token;

    before(async () => {
      api = await startTestApi(engine, { routes: [runnerRoutes, runsReadRoutes, tokensRoutes], config: CONFIG });
      await syncJobs(api.db, CONFIG);
      doc = await fetchOpenApi(api.url);
    });
    after(() => api.close());

    test('a run credential creates and writes its own run: the same rows as the direct path, its actor, no impersonation', async () => {
      const runId = uuidv7();
      const token = await mint({ run_id: runId });
      assert.match(token, /^ksr_[A-Za-z0-9_-]{43}$/);
      assert.equal(redactApiTokens(`Bearer ${token}`), 'Bearer ksr_***');
      const created = await call('POST', '/runner/runs', '/runner/runs', { token, body: newRun(runId) });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.body, { run_id: runId, job: 'nightly', status: 'starting', params: { day: 1 } });
      const replay = await call('POST', '/runner/runs', '/runner/runs', { token, body: newRun(runId) });
      assert.equal(replay.status, 200, 'a replayed create answers the same run');
      assert.deepEqual(replay.body, created.body);

      const batch = { records: [started(runId), logs(runId, 1, 'hello\n'), { op: 'heartbeat', run_id: runId, at: now() }, finished(runId)] };
      const written = await call('POST', `/runner/runs/${runId}/records`, '/runner/runs/{id}/records', { token, body: batch });
      assert.equal(written.status, 200, written.text);
      assert.deepEqual(written.body, { written: 4 });
      // Replayed whole (the answer was lost): nothing is written twice.
      assert.equal((await call('POST', `/runner/runs/${runId}/records`, '/runner/runs/{id}/records', { token, body: batch })).status, 200);

      const run = (await getRun(api.db, runId))!;
      assert.equal(run.status, 'succeeded');
      assert.equal(run.exit_code, 0);
      assert.deepEqual(run.outputs, { report: { rows: 2 } });
      assert.equal(run.triggered_by, `runner:${runId}`, 'a runner credential cannot claim who triggered the run');
      assert.deepEqual((await readLogChunks(api.db, runId)).map((chunk) => chunk.text), ['hello\n']);
      const events = await readRunEvents(api.db, runId);
      assert.deepEqual(events.map((e) => [e.type, e.actor]), [
        ['created', `runner:${runId}`],
        ['started', 'executor:kubernetes@pod-1'],
        ['succeeded', `runner:${runId}`],
      ], 'executor actors are kept; a token actor is replaced by the credential\'s');

      const read = await call('GET', `/runner/runs/${runId}`, '/runner/runs/{id}', { token });
      assert.equal(read.status, 200);
      assert.equal(read.body.status, 'succeeded');
    });

    test('a credential for run A gets 403 on run B, on a run of another job, and 401 on every other endpoint', async () => {
      const runA = uuidv7();
      const runB = uuidv7();
      const tokenA = await mint({ run_id: runA });
      assert.equal((await call('POST', '/runner/runs', '/runner/runs', { body: newRun(runB) })).status, 201, 'the admin token creates any run');
      assert.equal((await call('POST', '/runner/runs', '/runner/runs', { token: tokenA, body: newRun(runB) })).status, 403);
      assert.equal((await call('GET', `/runner/runs/${runB}`, '/runner/runs/{id}', { token: tokenA })).status, 403);
      const write = await call('POST', `/runner/runs/${runB}/records`, '/runner/runs/{id}/records', { token: tokenA, body: { records: [logs(runB, 1, 'x\n')] } });
      assert.equal(write.status, 403, write.text);
      assert.equal((await call('POST', `/runner/runs/${runB}/adopt`, '/runner/runs/{id}/adopt', { token: tokenA, body: { patch: {}, event: event('adopted') } })).status, 403);
      assert.deepEqual(await readLogChunks(api.db, runB), [], 'nothing written to run B');
      for (const [method, path, template] of [['GET', '/runs', '/runs'], ['GET', `/runs/${runB}`, '/runs/{run_id}'], ['GET', '/tokens', '/tokens']] as const) {
        assert.equal((await call(method, path, template, { token: tokenA })).status, 401, `${method} ${path}`);
      }
      assert.equal((await call('POST', '/runner/credentials', '/runner/credentials', { token: tokenA, body: { run_id: runB, expires_in: '1h' } })).status, 401);

      // A job's credential: runs of that job only.
      const jobToken = await mint({ job: 'nightly' });
      const ofJob = uuidv7();
      assert.equal((await call('POST', '/runner/runs', '/runner/runs', { token: jobToken, body: newRun(ofJob) })).status, 201);
      assert.equal((await call('POST', '/runner/runs', '/runner/runs', { token: jobToken, body: newRun(uuidv7(), 'other') })).status, 403);
      const otherRun = uuidv7();
      await call('POST', '/runner/runs', '/runner/runs', { body: newRun(otherRun, 'other') });
      assert.equal((await call('GET', `/runner/runs/${otherRun}`, '/runner/runs/{id}', { token: jobToken })).status, 403);
      // An undeclared job: only an admin token may record one.
      const adhoc = await call('POST', '/runner/runs', '/runner/runs', { token: jobToken, body: newRun(uuidv7(), 'adhoc-x') });
      assert.equal(adhoc.status, 403);
      assert.equal((await call('POST', '/runner/runs', '/runner/runs', { body: newRun(uuidv7(), 'adhoc-x') })).status, 201);

      // API tokens below admin are not runner credentials.
      for (const scope of ['read', 'trigger'] as const) {
        assert.equal((await call('GET', `/runner/runs/${runB}`, '/runner/runs/{id}', { scope })).status, 403, scope);
      }
      assert.equal((await call('GET', `/runner/runs/${runB}`, '/runner/runs/{id}', { token: 'ksr_unknown' })).status, 401);
    });

    test('a bad batch is a 400 naming the record and field, and writes nothing; a create for another job is 409', async () => {
      const runId = uuidv7();
      const token = await mint({ run_id: runId });
      await call('POST', '/runner/runs', '/runner/runs', { token, body: newRun(runId) });
      const cases: Array<[unknown[], RegExp]> = [
        [[logs(runId, 1, 'a\n'), logs(runId, 2, 'b\n'), heartbeatOf(runId), { ...logs(runId, 3, 'c\n'), run_id: uuidv7() }], /body\.records\.3\.run_id/],
        [[logs(runId, 1, 'a\n'), { op: 'sync_job', run_id: runId }], /body\.records\.1\.op/],
        [[logs(runId, 1, 'a\n'), { ...started(runId), to: 'lost' }], /body\.records\.1\.to/],
        [[logs(runId, 1, 'a\n'), { ...started(runId), from: ['queued'] }], /body\.records\.1\.from/],
        [[logs(runId, 1, 'a\n'), { ...finished(runId), patch: { params: {} } }], /body\.records\.1\.patch\.params/],
        [[logs(runId, 1, 'a\n'), { ...heartbeatOf(runId), extra: 1 }], /body\.records\.1\.extra/],
        [[logs(runId, 1, 'a\n'), { op: 'link_slot', run_id: runId, job: 'other', scheduled_for: now() }], /body\.records\.1\.job/],
        [[{ op: 'logs', run_id: runId, rows: [{ seq: 1, stream: 'stdout', at: 'yesterday', text: 'a' }] }], /body\.records\.0\.rows\.0\.at/],
      ];
      for (const [records, field] of cases) {
        const answer = await call('POST', `/runner/runs/${runId}/records`, '/runner/runs/{id}/records', { token, body: { records } });
        assert.equal(answer.status, 400, answer.text);
        assert.match(answer.body.error.message, field);
      }
      assert.deepEqual(await readLogChunks(api.db, runId), [], 'no bad batch wrote anything');
      const conflict = await call('POST', '/runner/runs', '/runner/runs', { token, body: newRun(runId, 'other') });
      assert.equal(conflict.status, 409, conflict.text);
    });

    test('adoption is a compare-and-set; a run credential ends at its expiry and a few minutes after its run ended', async () => {
      const runId = uuidv7();
      await call('POST', '/runner/runs', '/runner/runs', { body: newRun(runId) });
      await api.db.query("UPDATE runs SET status = 'queued' WHERE run_id = $1", [runId]);
      const token = await mint({ run_id: runId });
      const body = { patch: { executor_ref: { pod: 'p' }, params: { day: 2 } }, event: event('adopted') };
      const first = await call('POST', `/runner/runs/${runId}/adopt`, '/runner/runs/{id}/adopt', { token, body });
      assert.deepEqual(first.body, { changed: true, status: 'starting' });
      const second = await call('POST', `/runner/runs/${runId}/adopt`, '/runner/runs/{id}/adopt', { token, body: { ...body, event: event('adopted') } });
      assert.deepEqual(second.body, { changed: false, status: 'starting' });
      assert.equal((await call('POST', `/runner/runs/${runId}/records`, '/runner/runs/{id}/records', { token, body: { records: [finished(runId)] } })).status, 200);
      assert.equal((await call('GET', `/runner/runs/${runId}`, '/runner/runs/{id}', { token })).status, 200, 'still good just after the end');
      // A run that ended six minutes ago (its finish replayed late): its credential is refused.
      const oldRun = uuidv7();
      const oldToken = await mint({ run_id: oldRun });
      await call('POST', '/runner/runs', '/runner/runs', { token: oldToken, body: newRun(oldRun) });
      const late = finished(oldRun);
      late.patch.finished_at = new Date(Date.now() - 6 * 60_000).toISOString();
      assert.equal((await call('POST', `/runner/runs/${oldRun}/records`, '/runner/runs/{id}/records', { token: oldToken, body: { records: [late] } })).status, 200);
      assert.equal((await call('GET', `/runner/runs/${oldRun}`, '/runner/runs/{id}', { token: oldToken })).status, 401, 'refused once the run ended 6 minutes ago');

      const expired = await mint({ run_id: uuidv7() }, new Date(Date.now() - 1000));
      assert.equal((await call('GET', `/runner/runs/${runId}`, '/runner/runs/{id}', { token: expired })).status, 401);
    });

    test('POST /runner/credentials mints a run token (admin only), exactly one of run_id and job', async () => {
      const runId = uuidv7();
      const minted = await call('POST', '/runner/credentials', '/runner/credentials', { body: { run_id: runId, expires_in: '2h' } });
      assert.equal(minted.status, 201, minted.text);
      assert.equal(minted.body.run_id, runId);
      assert.equal((await call('POST', '/runner/runs', '/runner/runs', { token: minted.body.token, body: newRun(runId) })).status, 201);
      assert.equal((await call('POST', '/runner/credentials', '/runner/credentials', { body: { run_id: runId, job: 'nightly', expires_in: '2h' } })).status, 400);
      assert.equal((await call('POST', '/runner/credentials', '/runner/credentials', { body: { job: 'nightly', expires_in: '5' } })).status, 400);
      assert.equal((await call('POST', '/runner/credentials', '/runner/credentials', { scope: 'trigger', body: { job: 'nightly', expires_in: '1h' } })).status, 403);
    });
  });
}

function heartbeatOf(runId: string) {
  return { op: 'heartbeat', run_id: runId, at: now() };
}
