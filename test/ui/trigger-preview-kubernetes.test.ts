// The trigger form's Preview with `executor: kubernetes`, against the Kubernetes API double: the page
// shows the Job manifest the trigger would create (from the API's dry run), the env names and no env
// value, and creates nothing — over real HTTP with a signed-in session and its CSRF token.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { parse as parseYaml } from 'yaml';
import { buildApp } from '../../src/api/app.ts';
import { DRY_RUN_RUN_ID } from '../../src/kubernetes/kubernetes-executor.ts';
import { runJobName } from '../../src/kubernetes/manifests.ts';
import { createToken } from '../../src/runlog/sql/tokens.ts';
import { SignInCodes } from '../../src/ui/sign-in-codes.ts';
import { uiRoutes } from '../../src/ui/ui-routes.ts';
import { ALL_ROUTES } from '../support/full-api.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { createHarness, NAMESPACE, type Harness } from '../kubernetes/harness.ts';

const SECRET = 's3cr3t-value-0xC0FFEE';
const YAML = `
executor: kubernetes
kubernetes:
  namespace: ${NAMESPACE}
  image: ghcr.io/example/kubescribe:0.1.0
  database_secret: {name: ops-db, key: url}
jobs:
  report:
    command: ["python3", "report.py"]
    env:
      API_TENANT: "${SECRET}"
    params:
      type: object
      properties:
        limit: {type: integer, default: 100}
`;

const decode = (html: string) => html.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

for (const engine of ENGINES) {
  describe(`trigger form preview on Kubernetes (${engine})`, () => {
    let h: Harness;
    let app: FastifyInstance;
    let url: string;
    let cookie: string;

    before(async () => {
      h = await createHarness(engine, { yaml: YAML, api: { scenario: () => ({ kind: 'hold' }) }, executor: { watch: false }, start: false });
      await h.executor.start();
      const signInCodes = new SignInCodes();
      app = await buildApp({ db: h.db, config: h.config, executor: h.executor, signInCodes }, [...ALL_ROUTES, uiRoutes]);
      url = await app.listen({ host: '127.0.0.1', port: 0 });
      const { token } = await createToken(h.db, { name: 'ops', scope: 'trigger', expires_at: null, created_by: 'test' });
      const signIn = await fetch(`${url}/ui/sign-in/once?code=${signInCodes.issue(token)}`, { redirect: 'manual' });
      cookie = signIn.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    });
    after(async () => {
      await app?.close();
      await h?.close();
    });

    test('Preview shows the Job the trigger would create, env names and no env value, and creates nothing', async () => {
      const form = await (await fetch(`${url}/ui/jobs/report/trigger`, { headers: { cookie } })).text();
      const csrf = /name="_csrf" value="([^"]+)"/.exec(form)?.[1];
      assert.ok(csrf, 'the form carries its CSRF token');
      const creates = h.api.count('create', 'jobs');
      const [{ n: runsBefore }] = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM runs') as [{ n: number }];
      const response = await fetch(`${url}/ui/jobs/report/trigger`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, 'params.limit': '5', reason: '', idempotency_key: '', action: 'preview' }),
      });
      const html = await response.text();
      assert.equal(response.status, 200, html.slice(0, 500));
      assert.ok(!html.includes(SECRET), 'no env value on the page');
      assert.match(html, /<code class="env-name">API_TENANT<\/code>/);
      const manifestText = /<pre class="preview-manifest"[^>]*>([\s\S]*?)<\/pre>/.exec(html)?.[1];
      assert.ok(manifestText, 'the page shows the manifest');
      const manifest = parseYaml(decode(manifestText)) as { kind: string; metadata: { name: string }; spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } };
      assert.equal(manifest.kind, 'Job');
      assert.equal(manifest.metadata.name, runJobName('report', DRY_RUN_RUN_ID));
      const env = manifest.spec.template.spec.containers[0]!.env;
      assert.equal(env.find((e) => e.name === 'API_TENANT')?.value, '***');
      assert.equal(env.find((e) => e.name === 'KUBESCRIBE_PARAMS')?.value, JSON.stringify({ limit: 5 }));
      assert.equal(h.api.count('create', 'jobs'), creates, 'no Job was created');
      const [{ n: runsAfter }] = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM runs') as [{ n: number }];
      assert.equal(runsAfter, runsBefore, 'no run was written');
    });
  });
}
