// Notifications on the run in the API: GET /runs/{run_id} lists each delivery with its attempts,
// as the OpenAPI document describes, and never a secret.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runsReadRoutes } from '../../src/api/routes/runs-read.ts';
import { checkResponse, fetchOpenApi, type OpenApiDocument } from '../support/openapi-contract.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { finishedRun, makeNotifier } from './fixtures.ts';
import { startHttpReceiver, type HttpReceiver } from './receivers.ts';

for (const engine of ENGINES) {
  describe(`notifications in the API (${engine})`, () => {
    let api: TestApi;
    let http: HttpReceiver;
    let openapi: OpenApiDocument;
    before(async () => {
      api = await startTestApi(engine, { routes: [runsReadRoutes] });
      http = await startHttpReceiver();
      openapi = await fetchOpenApi(api.url);
    });
    after(async () => {
      await http?.close();
      await api?.close();
    });

    it('GET /runs/{run_id} shows every delivery and attempt, matching the OpenAPI document', async () => {
      const yaml = `notify:\n  delivery: {max_attempts: 2, backoff: 10ms}\n  channels:\n    hook: {type: webhook, url: "${http.url}/api", secret_env: HOOK_SECRET}\n    team: {type: slack, url_env: TEAM_URL}\n  defaults: {channels: [hook, team]}\njobs:\n  shown:\n    command: [x]\n`;
      const notifier = makeNotifier(api.db, yaml, { HOOK_SECRET: 'never-shown-secret', TEAM_URL: `${http.url}/team/SECRET-PATH` });
      const runId = await finishedRun(api.db, 'shown', 'failed', { error: { type: 'ValueError', message: 'bad' } });
      http.status = 503;
      await notifier.runOnce();
      http.status = 200;
      await new Promise((resolve) => setTimeout(resolve, 30)); // the 10 ms backoff itself
      await notifier.runOnce();
      const response = await api.call('GET', `/runs/${runId}`, { scope: 'read' });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { notifications: Record<string, any>[] };
      checkResponse(openapi, 'get', '/runs/{run_id}', 200, body);
      const byChannel = Object.fromEntries(body.notifications.map((n) => [n.channel, n]));
      assert.deepEqual(Object.keys(byChannel).sort(), ['hook', 'team']);
      for (const n of body.notifications) {
        assert.equal(n.rule, 'failed');
        assert.equal(n.state, 'sent');
        assert.deepEqual(n.attempts.map((a: { ok: boolean }) => a.ok), [false, true]);
        assert.match(n.attempts[0].error, /HTTP 503/);
      }
      const text = JSON.stringify(body);
      assert.ok(!text.includes('never-shown-secret') && !text.includes('SECRET-PATH'), 'a secret is in the API response');
      const post = http.posts.find((p) => p.path === '/api')!;
      assert.equal(post.headers['x-kubescribe-delivery'], byChannel.hook.delivery_id);
    });

    it('a run with no notifications has an empty list', async () => {
      const runId = await finishedRun(api.db, 'quiet-job', 'succeeded');
      const response = await api.call('GET', `/runs/${runId}`, { scope: 'read' });
      const body = (await response.json()) as { notifications: unknown[] };
      checkResponse(openapi, 'get', '/runs/{run_id}', 200, body);
      assert.deepEqual(body.notifications, []);
    });
  });
}
