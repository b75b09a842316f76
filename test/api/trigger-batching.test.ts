// Concurrent triggers of an Allow job are written in shared statements and concurrent requests share
// token lookups (src/util/coalescer.ts). What each caller sees must not change: its own run, its own
// event, and a token refused on the very next request after it was revoked.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runsWriteRoutes } from '../../src/api/routes/runs-write.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { RecordingExecutor } from '../../src/executors/executor.ts';
import { readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { createToken, revokeToken } from '../../src/runlog/sql/tokens.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { ENGINES } from '../support/runlog-engines.ts';

const config = parseConfig(`
jobs:
  fan-out:
    command: ["true"]
    concurrency_policy: Allow
    params:
      type: object
      properties: {n: {type: integer}}
      additionalProperties: false
`, 'kubescribe.yaml');

for (const engine of ENGINES) {
  describe(`trigger batching (${engine})`, () => {
    let api: TestApi;
    const executor = new RecordingExecutor();
    before(async () => {
      api = await startTestApi(engine, { routes: [runsWriteRoutes], config, executor });
    });
    after(() => api?.close());

    const countRuns = async () => Number((await api.db.query<{ n: number }>("SELECT count(*) AS n FROM runs WHERE job = 'fan-out'"))[0]!.n);

    test('40 triggers at once → 40 runs, each answer naming its own run with its own params and one created event', async () => {
      const before = await countRuns();
      const responses = await Promise.all(Array.from({ length: 40 }, (_, n) =>
        api.call('POST', '/runs/trigger', { scope: 'trigger', body: { job: 'fan-out', params: { n }, reason: `r${n}` } })));
      assert.deepEqual([...new Set(responses.map((r) => r.status))], [202]);
      const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as { run_id: string }).run_id));
      assert.equal(new Set(ids).size, 40);
      assert.equal(await countRuns(), before + 40);
      for (const [n, runId] of ids.entries()) {
        const [row] = await api.db.query<{ params: { n: number }; triggered_by: string }>('SELECT params, triggered_by FROM runs WHERE run_id = $1', [runId]);
        assert.deepEqual(row!.params, { n }, 'each caller got the run made from its own request');
        assert.equal(row!.triggered_by, 'token:test-trigger');
        const events = await readRunEvents(api.db, runId);
        assert.deepEqual(events.map((e) => e.type), ['created']);
        assert.equal((events[0]!.detail as { reason: string }).reason, `r${n}`);
      }
      for (const runId of ids) assert.ok(executor.dispatched.includes(runId), 'every run is handed to the executor');
    });

    test('a token revoked in the database is refused on the very next trigger, even under concurrent load', async () => {
      const { token } = await createToken(api.db, { name: 'soon-revoked', scope: 'trigger', expires_at: null, created_by: 'test' });
      const call = () => fetch(`${api.url}/runs/trigger`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ job: 'fan-out' }),
      });
      const warm = await Promise.all(Array.from({ length: 10 }, call));
      assert.deepEqual([...new Set(warm.map((r) => r.status))], [202]);
      assert.equal(await revokeToken(api.db, 'soon-revoked'), true);
      const before = await countRuns();
      const after = await Promise.all(Array.from({ length: 10 }, call));
      assert.deepEqual([...new Set(after.map((r) => r.status))], [401]);
      assert.equal(await countRuns(), before, 'no run is written for a revoked token');
    });

    test('the token is checked in the statement that writes: its owner is the actor and its last use is recorded', async () => {
      const { token } = await createToken(api.db, { name: 'in-statement', scope: 'trigger', expires_at: null, created_by: 'test' });
      const response = await fetch(`${api.url}/runs/trigger`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ job: 'fan-out', params: { n: 7 } }),
      });
      assert.equal(response.status, 202);
      const { run_id: runId } = (await response.json()) as { run_id: string };
      const [row] = await api.db.query<{ triggered_by: string }>('SELECT triggered_by FROM runs WHERE run_id = $1', [runId]);
      assert.equal(row!.triggered_by, 'token:in-statement');
      assert.equal((await readRunEvents(api.db, runId))[0]!.actor, 'token:in-statement');
      const [used] = await api.db.query<{ last_used_at: Date | null }>("SELECT last_used_at FROM api_tokens WHERE name = 'in-statement'");
      assert.ok(used!.last_used_at, 'last use recorded by the writing statement');
    });

    test('a bad token gets 401/403 before anything about the request is said, and nothing is written', async () => {
      const readOnly = (await createToken(api.db, { name: 'reader-2', scope: 'read', expires_at: null, created_by: 'test' })).token;
      const expired = (await createToken(api.db, { name: 'expired-2', scope: 'admin', expires_at: new Date(Date.now() - 1000), created_by: 'test' })).token;
      const post = (token: string | null, body: unknown, query = '') => fetch(`${api.url}/runs/trigger${query}`, {
        method: 'POST',
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const before = await countRuns();
      const cases: [string, Response, number][] = [
        ['read scope, good request', await post(readOnly, { job: 'fan-out' }), 403],
        ['expired, good request', await post(expired, { job: 'fan-out' }), 401],
        ['unknown token, unknown job', await post('ksk_nope', { job: 'no-such-job' }), 401],
        ['unknown token, invalid params', await post('ksk_nope', { job: 'fan-out', params: { n: 'x' } }), 401],
        ['unknown token, unknown body field', await post('ksk_nope', { job: 'fan-out', surprise: 1 }), 401],
        ['unknown token, dry run', await post('ksk_nope', { job: 'fan-out' }, '?dry_run=true'), 401],
        ['unknown token, idempotency key', await post('ksk_nope', { job: 'fan-out', idempotency_key: 'k-1' }), 401],
        ['read scope, unknown job', await post(readOnly, { job: 'no-such-job' }), 403],
        ['no token', await post(null, { job: 'fan-out' }), 401],
      ];
      for (const [what, response, status] of cases) {
        assert.equal(response.status, status, `${what}: ${await response.clone().text()}`);
        const body = (await response.json()) as { error: { code: string } };
        assert.equal(body.error.code, status === 401 ? 'unauthorized' : 'forbidden', what);
      }
      assert.equal(await countRuns(), before, 'no run is written for any of them');
      // The same token with a good scope and the same bad request gets the request's own error.
      const good = await post(api.tokens.trigger, { job: 'no-such-job' });
      assert.equal(good.status, 404);
    });
  });
}
