// The API with `executor: kubernetes`, against the Kubernetes API double: `?dry_run=true` shows the
// Job a trigger would create (and creates nothing, shows no env value), `/readyz` reports an
// unreachable cluster or missing RBAC, and suspend/resume patch the CronJob at once — or, with the
// cluster down, still succeed and leave it to the reconciler. `kubescribe serve` says which executor runs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { buildApp } from '../../src/api/app.ts';
import { jobsRoutes } from '../../src/api/routes/jobs.ts';
import { runsWriteRoutes } from '../../src/api/routes/runs-write.ts';
import { RecordingExecutor, type Executor } from '../../src/executors/executor.ts';
import { KubeClient } from '../../src/kubernetes/client.ts';
import { DRY_RUN_RUN_ID, KubernetesExecutor } from '../../src/kubernetes/kubernetes-executor.ts';
import { REVISION_ANNOTATION, RUN_ID_LABEL, runJobName } from '../../src/kubernetes/manifests.ts';
import { validateManifest } from '../../src/kubernetes/validate.ts';
import { listJobs } from '../../src/runlog/sql/jobs.ts';
import { createToken } from '../../src/runlog/sql/tokens.ts';
import { parse as parseYaml } from 'yaml';
import { BIN, REPO_ROOT, runCli, waitFor } from '../support/cli.ts';
import type { KubeObject } from '../support/kube-api-double.ts';
import { checkResponse, fetchOpenApi, type OpenApiDocument } from '../support/openapi-contract.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { createHarness, NAMESPACE, type Harness } from './harness.ts';

const SECRET = 's3cr3t-token-value-0xC0FFEE';
const YAML = `
executor: kubernetes
kubernetes:
  namespace: ${NAMESPACE}
  image: ghcr.io/example/kubescribe:0.1.0
  database_secret: {name: ops-db, key: url}
jobs:
  report:
    command: ["python3", "report.py"]
    timeout: 10m
    env:
      API_TENANT: "${SECRET}"
      REGION: eu-west-1
    params:
      type: object
      properties:
        limit: {type: integer, default: 100}
  nightly:
    command: ["python3", "etl.py"]
    schedule: "0 2 * * *"
    time_zone: Europe/Paris
  foreign:
    command: ["true"]
    schedule: "0 3 * * *"
`;

// The runner's own variables, which carry no secret; every other value must be masked or a reference.
const RUNNER_VALUES = new Set(['KUBESCRIBE_JOB', 'KUBESCRIBE_RUN_ID', 'KUBESCRIBE_PARAMS', 'KUBESCRIBE_JOB_REVISION', 'KUBESCRIBE_CONFIG', 'KUBESCRIBE_HOME', 'KUBESCRIBE_API_URL', 'KUBESCRIBE_TOKEN_FILE', 'KUBESCRIBE_RUNLOG']);

interface Api { url: string; app: FastifyInstance; doc: OpenApiDocument; call(method: string, path: string, body?: unknown): Promise<Response> }

async function startApi(h: Harness, executor: Executor, token: string): Promise<Api> {
  const app = await buildApp({ db: h.db, config: h.config, executor }, [runsWriteRoutes, jobsRoutes]);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url, app, doc: await fetchOpenApi(url),
    call: (method, path, body) => fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  };
}

async function count(h: Harness, table: string): Promise<number> {
  const [row] = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return row!.n;
}

for (const engine of ENGINES) {
  describe(`API wiring of the Kubernetes executor (${engine})`, () => {
    let h: Harness;
    let api: Api;
    let token: string;

    before(async () => {
      h = await createHarness(engine, { yaml: YAML, api: { scenario: () => ({ kind: 'hold' }) }, executor: { watch: false }, start: false });
      // A CronJob KubeScribe does not own, named like a scheduled job: it must never be touched.
      await h.client.createCronJob({
        apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'foreign', namespace: NAMESPACE },
        spec: { schedule: '0 3 * * *', suspend: false, jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'x', image: 'busybox' }] } } } } },
      });
      await h.executor.start();
      token = (await createToken(h.db, { name: 'ops', scope: 'admin', expires_at: null, created_by: 'test' })).token;
      api = await startApi(h, h.executor, token);
    });
    after(async () => {
      await api.app.close();
      await h.close();
    });

    test('?dry_run=true answers the Job a trigger would create, valid, with no database credentials and no env value, creating nothing', async () => {
      const before = { runs: await count(h, 'runs'), events: await count(h, 'run_events'), revisions: await count(h, 'job_revisions') };
      const creates = h.api.count('create', 'jobs');
      const response = await api.call('POST', '/runs/trigger?dry_run=true', { job: 'report', params: { limit: 5 } });
      const text = await response.text();
      assert.equal(response.status, 200, text);
      const body = JSON.parse(text) as { manifest: KubeObject; executor: string; env_names: string[] };
      checkResponse(api.doc, 'post', '/runs/trigger', 200, body);
      assert.equal(body.executor, 'kubernetes');
      assert.deepEqual(body.env_names, ['API_TENANT', 'REGION']);

      const manifest = body.manifest;
      assert.deepEqual(validateManifest(manifest), []);
      new Job(manifest as ConstructorParameters<typeof Job>[0]).validate();
      assert.equal(manifest.metadata.name, runJobName('report', DRY_RUN_RUN_ID));
      assert.equal(manifest.metadata.namespace, NAMESPACE);
      assert.equal(manifest.metadata.labels[RUN_ID_LABEL], DRY_RUN_RUN_ID);
      const revision = (await listJobs(h.db)).find((job) => job.name === 'report')!.current_revision;
      assert.equal(manifest.metadata.annotations[REVISION_ANNOTATION], String(revision));
      assert.equal(manifest.spec.backoffLimit, 0);
      const container = manifest.spec.template.spec.containers[0];
      assert.deepEqual(container.command.slice(0, 2), ['/kubescribe/kubescribe', 'run']);
      assert.deepEqual(container.command.slice(-3), ['--', 'python3', 'report.py']);

      // No value of the job's env, anywhere; no database credentials at all (runner_runlog: api).
      assert.ok(!text.includes(SECRET), 'the secret value is not in the answer');
      assert.ok(!text.includes('eu-west-1'), 'no env value is in the answer');
      const env = container.env as KubeObject[];
      assert.equal(env.find((e) => e.name === 'API_TENANT')?.value, '***');
      assert.equal(env.find((e) => e.name === 'REGION')?.value, '***');
      assert.equal(env.find((e) => e.name === 'DATABASE_URL'), undefined);
      assert.equal(env.find((e) => e.name === 'KUBESCRIBE_API_URL')?.value, `http://kubescribe-api.${NAMESPACE}.svc`);
      assert.equal(env.find((e) => e.name === 'KUBESCRIBE_TOKEN_FILE')?.value, '/var/run/secrets/kubescribe/token');
      assert.equal(env.find((e) => e.name === 'KUBESCRIBE_PARAMS')?.value, JSON.stringify({ limit: 5 }));
      for (const entry of env) {
        if (entry.valueFrom) assert.equal(entry.value, undefined, entry.name);
        else assert.ok(RUNNER_VALUES.has(entry.name) || entry.value === '***', `${entry.name} shows a value`);
      }

      assert.equal(h.api.count('create', 'jobs'), creates, 'no Job was created');
      assert.deepEqual({ runs: await count(h, 'runs'), events: await count(h, 'run_events'), revisions: await count(h, 'job_revisions') }, before,
        'nothing was written to the RunLog');
    });

    test('the dry-run manifest is the Job the real trigger then creates, but for its run id and the masked values', async () => {
      const dry = (await (await api.call('POST', '/runs/trigger?dry_run=true', { job: 'report' })).json()) as { manifest: KubeObject };
      const response = await api.call('POST', '/runs/trigger', { job: 'report' });
      assert.equal(response.status, 202);
      const { run_id: runId } = (await response.json()) as { run_id: string };
      const real = h.api.get('jobs', NAMESPACE, runJobName('report', runId));
      assert.ok(real, 'the trigger created the Job');
      const expected = JSON.parse(JSON.stringify(dry.manifest)
        .replaceAll(runJobName('report', DRY_RUN_RUN_ID), runJobName('report', runId))
        .replaceAll(DRY_RUN_RUN_ID, runId)) as KubeObject;
      for (const entry of expected.spec.template.spec.containers[0].env as KubeObject[]) {
        if (entry.name === 'API_TENANT') entry.value = SECRET;
        if (entry.name === 'REGION') entry.value = 'eu-west-1';
      }
      assert.deepEqual(real.spec.template, expected.spec.template);
      assert.deepEqual(real.metadata.labels, expected.metadata.labels);
      assert.deepEqual(real.metadata.annotations, expected.metadata.annotations);
      assert.equal(real.spec.activeDeadlineSeconds, expected.spec.activeDeadlineSeconds);
      assert.equal(real.spec.backoffLimit, expected.spec.backoffLimit);
    });

    test('a dry run with an executor that has no plan answers without a manifest', async () => {
      const local = await startApi(h, new RecordingExecutor(), token);
      try {
        const response = await local.call('POST', '/runs/trigger?dry_run=true', { job: 'report' });
        const body = (await response.json()) as Record<string, unknown>;
        assert.equal(response.status, 200);
        checkResponse(local.doc, 'post', '/runs/trigger', 200, body);
        assert.equal(body.executor, 'none');
        assert.equal('manifest' in body, false);
      } finally {
        await local.app.close();
      }
    });

    test('/readyz is ready while the cluster answers, and 503 naming the missing RBAC permission otherwise', async () => {
      const ok = await fetch(`${api.url}/readyz`);
      const okBody = await ok.json();
      assert.equal(ok.status, 200);
      checkResponse(api.doc, 'get', '/readyz', 200, okBody);
      assert.deepEqual(okBody, { status: 'ready', checks: { runlog: 'ok', kubernetes: 'ok' } });

      h.api.deny('list', 'jobs');
      try {
        const denied = await fetch(`${api.url}/readyz`);
        const body = (await denied.json()) as { status: string; checks: Record<string, string> };
        assert.equal(denied.status, 503);
        checkResponse(api.doc, 'get', '/readyz', 503, body);
        assert.equal(body.status, 'not ready');
        assert.equal(body.checks.runlog, 'ok');
        assert.match(body.checks.kubernetes!, /Role must grant verb "list" on resource "jobs"/);
      } finally {
        h.api.allow('list', 'jobs');
      }
      assert.equal((await fetch(`${api.url}/readyz`)).status, 200, 'ready again once RBAC allows it');
    });

    test('/readyz is 503 when the cluster cannot be reached, or does not answer within 2 s', async () => {
      const unreachable = new KubernetesExecutor({
        db: h.db, config: h.config, settings: h.config.kubernetes!, watch: false,
        client: new KubeClient({ namespace: NAMESPACE, server: 'http://127.0.0.1:1', requestTimeoutMs: 5000 }),
      });
      const hung = new KubernetesExecutor({
        db: h.db, config: h.config, settings: h.config.kubernetes!, watch: false,
        client: new KubeClient({ namespace: NAMESPACE, server: h.api.url, requestTimeoutMs: 10_000 }),
      });
      const down = await startApi(h, unreachable, token);
      const slow = await startApi(h, hung, token);
      try {
        const response = await fetch(`${down.url}/readyz`);
        const body = (await response.json()) as { checks: Record<string, string> };
        assert.equal(response.status, 503);
        checkResponse(down.doc, 'get', '/readyz', 503, body);
        assert.match(body.checks.kubernetes!, /Kubernetes API: .*ECONNREFUSED/);

        h.api.inject({ verb: 'list', resource: 'jobs', kind: 'hang' });
        const started = Date.now();
        const late = await fetch(`${slow.url}/readyz`);
        const lateBody = (await late.json()) as { checks: Record<string, string> };
        assert.equal(late.status, 503);
        assert.equal(lateBody.checks.kubernetes, 'no answer within 2000 ms');
        assert.ok(Date.now() - started < 4000, 'answered before the rendered probe (3 s) gives up');
      } finally {
        await down.app.close();
        await slow.app.close();
      }
    });

    test('suspend and resume patch the CronJob spec.suspend at once and say so', async () => {
      const suspended = await api.call('POST', '/jobs/nightly/suspend', { reason: 'maintenance' });
      const body = (await suspended.json()) as { suspended: boolean; action: Record<string, unknown> };
      assert.equal(suspended.status, 200, JSON.stringify(body));
      checkResponse(api.doc, 'post', '/jobs/{name}/suspend', 200, body);
      assert.equal(body.suspended, true);
      assert.deepEqual(body.action.executor, { name: 'kubernetes', applied: true, message: null });
      assert.equal(h.api.get('cronjobs', NAMESPACE, 'nightly')?.spec.suspend, true, 'patched before the answer, no reconciler pass');

      const resumed = await api.call('POST', '/jobs/nightly/resume');
      const resumedBody = (await resumed.json()) as { suspended: boolean; action: Record<string, unknown> };
      assert.equal(resumed.status, 200);
      checkResponse(api.doc, 'post', '/jobs/{name}/resume', 200, resumedBody);
      assert.equal(resumedBody.suspended, false);
      assert.equal(h.api.get('cronjobs', NAMESPACE, 'nightly')?.spec.suspend, false);
    });

    test('with the cluster failing, suspend still succeeds, is recorded as schedule_patch_failed, and the reconciler applies it', async () => {
      h.api.inject({ verb: 'patch', resource: 'cronjobs', kind: 'status', code: 503 });
      const response = await api.call('POST', '/jobs/nightly/suspend', { reason: 'incident' });
      const body = (await response.json()) as { suspended: boolean; action: { executor: { applied: boolean; message: string } } };
      assert.equal(response.status, 200, JSON.stringify(body));
      checkResponse(api.doc, 'post', '/jobs/{name}/suspend', 200, body);
      assert.equal(body.suspended, true);
      assert.equal(body.action.executor.applied, false);
      assert.match(body.action.executor.message, /503.*the reconciler applies it/);
      assert.equal((await listJobs(h.db)).find((job) => job.name === 'nightly')?.suspended, true, 'the RunLog holds the suspension');
      assert.equal(h.api.get('cronjobs', NAMESPACE, 'nightly')?.spec.suspend, false, 'the patch did not reach the CronJob');

      const events = await h.db.query<{ type: string; actor: string; detail: Record<string, unknown> }>(
        `SELECT type, actor, detail FROM job_events WHERE job = 'nightly' ORDER BY at, event_id`);
      const failed = events.filter((event) => event.type === 'schedule_patch_failed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.actor, 'token:ops');
      assert.equal(failed[0]!.detail.suspended, true);
      assert.match(String(failed[0]!.detail.message), /503/);
      assert.equal(events.at(-2)?.type, 'suspended', 'the suspension itself was recorded first');

      assert.deepEqual((await h.executor.reconciler.pass()).suspended, ['nightly']);
      assert.equal(h.api.get('cronjobs', NAMESPACE, 'nightly')?.spec.suspend, true);
      await api.call('POST', '/jobs/nightly/resume');
    });

    test('an unscheduled job patches nothing, and a CronJob KubeScribe does not own is never touched', async () => {
      const patches = h.api.count('patch', 'cronjobs');
      const adhoc = (await (await api.call('POST', '/jobs/report/suspend')).json()) as { suspended: boolean; action: Record<string, unknown> };
      assert.equal(adhoc.suspended, true);
      assert.equal('executor' in adhoc.action, false, 'no schedule, no CronJob to patch');
      await api.call('POST', '/jobs/report/resume');

      const response = await api.call('POST', '/jobs/foreign/suspend');
      const body = (await response.json()) as { suspended: boolean; action: { executor: { applied: boolean; message: string } } };
      assert.equal(response.status, 200);
      assert.equal(body.suspended, true);
      assert.equal(body.action.executor.applied, false);
      assert.match(body.action.executor.message, /has no CronJob/);
      assert.equal(h.api.get('cronjobs', NAMESPACE, 'foreign')?.spec.suspend, false, 'the foreign CronJob is untouched');
      assert.equal(h.api.count('patch', 'cronjobs'), patches);
    });
  });

  describe(`kubescribe serve names its executor (${engine})`, () => {
    test('prints "executor: kubernetes, namespace …" for a config with executor: kubernetes, and /readyz checks the cluster', async () => {
      const h: Harness = await createHarness(engine, { yaml: YAML, api: { scenario: () => ({ kind: 'hold' }) }, start: false });
      const scratch = mkdtempSync(join(tmpdir(), 'ks-wiring-'));
      let server: ChildProcess | null = null;
      try {
        const file = join(scratch, 'kubescribe.yaml');
        writeFileSync(file, YAML);
        const kubeconfig = join(scratch, 'kubeconfig');
        writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\ncurrent-context: double\n` +
          `clusters: [{name: double, cluster: {server: "${h.api.url}", insecure-skip-tls-verify: true}}]\n` +
          `users: [{name: test, user: {token: not-checked}}]\ncontexts: [{name: double, context: {cluster: double, user: test}}]\n`);
        const { token } = await createToken(h.db, { name: 'wiring-cli', scope: 'trigger', expires_at: null, created_by: 'test' });
        // The child opens the RunLog itself (embedded PGlite allows one process).
        await h.db.close();
        const env = { ...h.runlog.env, KUBECONFIG: kubeconfig };
        let stderr = '';
        server = spawn(process.execPath, [BIN, 'serve', '-f', file, '--host', '127.0.0.1', '--port', '0'], {
          cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
        });
        server.stderr!.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
        const url = await waitFor(() => stderr.match(/KubeScribe API on (http:\/\/\S+)/)?.[1], 120_000, `the server to listen (${stderr})`);
        assert.match(stderr, new RegExp(`KubeScribe API on \\S+ \\(RunLog: .*, executor: kubernetes, namespace ${NAMESPACE}\\)`));
        assert.doesNotMatch(stderr, /executor: local/);
        const ready = await fetch(`${url}/readyz`);
        assert.deepEqual(await ready.json(), { status: 'ready', checks: { runlog: 'ok', kubernetes: 'ok' } });
        // The CLI's dry run shows the Job as YAML, with Secret references and no env value.
        const dry = await runCli(['trigger', 'report', '--dry-run', '--server', url, '--token', token], { env: { KUBESCRIBE_HOME: scratch } });
        assert.equal(dry.code, 0, dry.err);
        assert.match(dry.out, /dry run: nothing was created/);
        const manifestText = dry.out.split('the Job it would create:\n---\n')[1] ?? '';
        const manifest = parseYaml(manifestText) as { kind: string; metadata: { labels: Record<string, string> }; spec: { template: { spec: { containers: { env: { name: string; value?: string; valueFrom?: unknown }[] }[] } } } };
        assert.equal(manifest.kind, 'Job');
        assert.equal(manifest.metadata.labels['kubescribe.io/job'], 'report');
        const jobEnv = manifest.spec.template.spec.containers[0]!.env;
        assert.ok(!jobEnv.some((entry) => entry.name === 'DATABASE_URL'), 'no database credentials in a job pod');
        assert.ok(jobEnv.some((entry) => entry.name === 'KUBESCRIBE_TOKEN_FILE'), 'the pod\'s projected token instead');
        assert.doesNotMatch(dry.out, new RegExp(SECRET), 'no env value is printed');
        server.kill('SIGTERM');
        const code = await new Promise<number | null>((resolve) => server!.once('exit', (exitCode) => resolve(exitCode)));
        assert.equal(code, 0, stderr);
      } finally {
        if (server && server.exitCode === null) {
          server.kill('SIGKILL');
          await new Promise((resolve) => server!.once('exit', resolve));
        }
        await h.executor.stop();
        await h.api.close();
        await h.runlog.cleanup();
        rmSync(scratch, { recursive: true, force: true });
      }
    });
  });
}

