// Job pods without database credentials, end to end on the Kubernetes API double: the executor creates
// the Job (runner_runlog: api, the default), the double's kubelet projects the pod's ServiceAccount token
// and runs the real `kubescribe run` as the pod's process with the pod's env — no DATABASE_URL — and
// the runner records through the API's runner endpoints, which check its token with TokenReview. A
// token can touch its own run (or, in a CronJob's pod, runs of its job) and nothing else.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { runnerRoutes } from '../../src/api/routes/runner.ts';
import { runsReadRoutes } from '../../src/api/routes/runs-read.ts';
import { runJobName } from '../../src/kubernetes/manifests.ts';
import { podTokenAuthenticator } from '../../src/kubernetes/token-review.ts';
import { readLogChunks, readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { listRuns } from '../../src/runlog/sql/run-queries.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { REPO_ROOT, waitFor } from '../support/cli.ts';
import type { KubeObject } from '../support/kube-api-double.ts';
import type { PodScenario } from '../support/kube-api-double-kubelet.ts';
import { podCredentialProblems } from '../support/pod-credentials.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { createHarness, NAMESPACE, type Harness } from './harness.ts';

const emit = (...actions: string[]) => JSON.stringify(['python3', join(REPO_ROOT, 'test/fixtures/emit.py'), ...actions]);
const YAML = `
executor: kubernetes
kubernetes:
  namespace: ${NAMESPACE}
  image: ghcr.io/example/kubescribe:0.1.0
jobs:
  hello:
    command: ${emit('out:hello from the pod', 'err:a warning', 'env:DATABASE_URL', 'env:KUBESCRIBE_TOKEN_FILE', 'metric:rows=3')}
  tick:
    command: ${emit('out:tick', 'env:KUBESCRIBE_TRIGGER')}
    schedule: "*/5 * * * *"
  withsecrets:
    command: ${emit('env:S3_SECRET', 'env:PGPASSWORD', 'env:FROM_MAP')}
    env:
      S3_SECRET: {secret: s3-creds, key: secret}
      PGPASSWORD: {secret: warehouse, key: password}
      FROM_MAP: plain-value
  held:
    command: ["sleep", "600"]
  heldcron:
    command: ["sleep", "600"]
    schedule: "0 3 * * *"
`;

for (const engine of ENGINES) {
  describe(`job pods record through the API with their ServiceAccount token (${engine})`, () => {
    let h: Harness;
    let app: FastifyInstance;
    let apiUrl = '';
    let home = '';
    // The process pods' env is the pod's own (from the Job) plus this: the API's address stands in for
    // the cluster DNS name in KUBESCRIBE_API_URL, and a scratch home for the pod's /tmp.
    const scenario = (job: KubeObject): PodScenario => (job.metadata.labels['kubescribe.io/job'].startsWith('held')
      ? { kind: 'hold' }
      : { kind: 'process', cwd: REPO_ROOT, env: { KUBESCRIBE_CONFIG: h.config.file!, KUBESCRIBE_API_URL: apiUrl, KUBESCRIBE_HOME: home } });
    const call = (method: string, path: string, token: string, body?: unknown) => fetch(`${apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const podOf = (k8sJob: string, phases: string[]) => waitFor(() => {
      const found = h.api.list('pods', NAMESPACE).find((p) => p.metadata.labels['job-name'] === k8sJob);
      return found && phases.includes(found.status.phase) ? found : null;
    }, 120_000, `the pod of ${k8sJob} to be ${phases.join(' or ')}`);
    const heartbeat = (runId: string) => ({ records: [{ op: 'heartbeat', run_id: runId, at: new Date().toISOString() }] });

    before(async () => {
      home = mkdtempSync(join(tmpdir(), 'ks-pod-home-'));
      h = await createHarness(engine, { yaml: YAML, api: {
        scenario: (job) => scenario(job), stepMs: 10,
        secrets: { 's3-creds': { secret: 's3-value-4471' }, warehouse: { password: 'pg-value-9913' } },
      }, executor: { watch: engine === 'postgres' } });
      writeFileSync(h.config.file!, YAML);
      app = await buildApp({
        db: h.db, config: h.config, executor: h.executor, logger: false,
        runnerAuthenticators: [podTokenAuthenticator({ client: h.client, serviceAccount: h.config.kubernetes!.service_account })],
      }, [runsReadRoutes, runnerRoutes]);
      apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(async () => {
      await app.close();
      await h.close();
      rmSync(home, { recursive: true, force: true });
    });

    test('a job\'s own Secret references reach its process through the real runner, a deny-listed PG* one included', async () => {
      const runId = await h.trigger('withsecrets');
      const k8sJob = h.api.get('jobs', NAMESPACE, runJobName('withsecrets', runId))!;
      assert.deepEqual(podCredentialProblems(k8sJob.spec.template.spec), [], 'the user\'s own Secrets are allowed');
      const pod = await podOf(k8sJob.metadata.name, ['Succeeded', 'Failed']);
      assert.equal(pod.status.phase, 'Succeeded', h.api.kubelet.logOf(pod.metadata.name));
      await h.waitForStatus(runId, 'succeeded', 120_000);
      const log = (await readLogChunks(h.db, runId)).map((chunk) => chunk.text).join('');
      assert.match(log, /S3_SECRET=s3-value-4471/);
      assert.match(log, /PGPASSWORD=pg-value-9913/, 'passed on although PG* is on the runner\'s deny-list: the pod names it in KUBESCRIBE_PASS_ENV');
      assert.match(log, /FROM_MAP=plain-value/);
    });

    test('a triggered run: the pod holds no DATABASE_URL, its runner adopts and records the run through the API, log complete', async () => {
      const reviews = h.api.count('create', 'tokenreviews');
      const runId = await h.trigger('hello');
      const jobName = runJobName('hello', runId);
      const k8sJob = h.api.get('jobs', NAMESPACE, jobName)!;
      assert.deepEqual(podCredentialProblems(k8sJob.spec.template.spec), []);
      const pod = await podOf(jobName, ['Succeeded', 'Failed']);
      const podLog = h.api.kubelet.logOf(pod.metadata.name);
      assert.equal(pod.status.phase, 'Succeeded', podLog);
      const run = await h.waitForStatus(runId, 'succeeded', 120_000);
      assert.equal(run.exit_code, 0);
      assert.deepEqual(run.metrics, { rows: 3 });
      const log = (await readLogChunks(h.db, runId)).map((chunk) => chunk.text).join('');
      assert.match(log, /hello from the pod/);
      assert.match(log, /a warning/);
      // The job's process saw neither the database nor the runner's token path.
      assert.match(log, /DATABASE_URL=<unset>/);
      assert.match(log, /KUBESCRIBE_TOKEN_FILE=<unset>/);
      const events = await readRunEvents(h.db, runId);
      assert.ok(events.some((e) => e.type === 'adopted') && events.some((e) => e.type === 'succeeded'), events.map((e) => e.type).join(' '));
      // The runner acts for the executor, in this pod (r1 keeps executor actors; the credential's actor is `k8s:<ns>/<pod>`).
      assert.ok(events.some((e) => e.actor === `executor:kubernetes@${pod.metadata.name}`), JSON.stringify(events.map((e) => e.actor)));
      // The runner's batches (adopt, running, logs, finish) were checked with few TokenReviews: the cache answered the rest.
      const used = h.api.count('create', 'tokenreviews') - reviews;
      assert.ok(used >= 1 && used <= 2, `${used} TokenReviews`);
    });

    test('a run\'s token writes its own run only: another run, another job\'s run, a new run and the other API routes are refused', async () => {
      const a = await h.trigger('held');
      const b = await h.trigger('held');
      const podA = await podOf(runJobName('held', a), ['Running']);
      await podOf(runJobName('held', b), ['Running']);
      // The token the kubelet projects into A's pod (same pod, audience and lifetime).
      const token = h.api.issueToken({ namespace: NAMESPACE, pod: podA.metadata.name, audiences: ['kubescribe'], expirationSeconds: 3600 });
      assert.equal((await call('POST', `/runner/runs/${a}/records`, token, heartbeat(a))).status, 200);
      assert.equal((await call('GET', `/runner/runs/${a}`, token)).status, 200);
      const writeB = await call('POST', `/runner/runs/${b}/records`, token, heartbeat(b));
      assert.equal(writeB.status, 403, await writeB.text());
      assert.equal((await call('GET', `/runner/runs/${b}`, token)).status, 403);
      const newRun = uuidv7();
      const create = await call('POST', '/runner/runs', token, createBody(newRun, 'held'));
      assert.equal(create.status, 403, await create.text());
      assert.equal(await getRun(h.db, newRun), null);
      // Not an API token: the read routes refuse it.
      assert.equal((await call('GET', '/runs', token)).status, 401);
      assert.equal((await call('GET', `/runs/${a}`, token)).status, 401);
      // Once the pod has ended its token is refused (after the 30 s cache: a fresh token here, as a fresh pod token would be).
      h.api.kubelet.finishPod(NAMESPACE, podA.metadata.name, 0);
      const fresh = h.api.issueToken({ namespace: NAMESPACE, pod: podA.metadata.name, audiences: ['kubescribe'] });
      const late = await call('POST', `/runner/runs/${a}/records`, fresh, heartbeat(a));
      assert.equal(late.status, 403, await late.text());
    });

    test('a CronJob\'s pod: its runner creates and records a schedule run of its job; its token cannot touch another job', async () => {
      const slot = new Date('2026-12-04T10:05:00Z');
      const job = h.api.kubelet.fireCronJob(NAMESPACE, 'tick', slot);
      assert.deepEqual(podCredentialProblems(job.spec.template.spec), []);
      const pod = await podOf(job.metadata.name, ['Succeeded', 'Failed']);
      assert.equal(pod.status.phase, 'Succeeded', h.api.kubelet.logOf(pod.metadata.name));
      const run = await waitFor(async () => (await listRuns(h.db, { job: 'tick' })).find((r) => r.status === 'succeeded') ?? null, 120_000, 'the tick run');
      assert.equal(run.trigger, 'schedule');
      assert.equal(run.executor_ref.pod, pod.metadata.name);
      assert.match((await readLogChunks(h.db, run.run_id)).map((chunk) => chunk.text).join(''), /tick/);
      const [slotRow] = await h.db.query<{ run_id: string }>('SELECT run_id::text AS run_id FROM schedule_slots WHERE job = $1 AND scheduled_for = $2', ['tick', slot]);
      assert.equal(slotRow?.run_id, run.run_id);

      // A held CronJob pod's token: runs of heldcron yes, of any other job no.
      const held = h.api.kubelet.fireCronJob(NAMESPACE, 'heldcron', new Date('2026-12-04T03:00:00Z'));
      const heldPod = await podOf(held.metadata.name, ['Running']);
      const token = h.api.issueToken({ namespace: NAMESPACE, pod: heldPod.metadata.name, audiences: ['kubescribe'] });
      const own = uuidv7();
      const created = await call('POST', '/runner/runs', token, createBody(own, 'heldcron'));
      assert.equal(created.status, 201, await created.text());
      assert.equal((await call('POST', `/runner/runs/${own}/records`, token, heartbeat(own))).status, 200);
      const other = await call('POST', '/runner/runs', token, createBody(uuidv7(), 'hello'));
      assert.equal(other.status, 403, await other.text());
      const writeTick = await call('POST', `/runner/runs/${run.run_id}/records`, token, heartbeat(run.run_id));
      assert.equal(writeTick.status, 403, await writeTick.text());
    });
  });
}

// Projected tokens expire and the kubelet rotates them (at 80 % of their life): the API's cache never
// outlives a token, the expired one gets 401, and the runner reads the file again and carries on.
for (const engine of ENGINES) {
  describe(`a job pod's token rotating under a running run (${engine})`, () => {
    let h: Harness;
    let app: FastifyInstance;
    let apiUrl = '';
    let home = '';
    const refusals: string[] = [];
    const yaml = `
executor: kubernetes
kubernetes:
  namespace: ${NAMESPACE}
  image: ghcr.io/example/kubescribe:0.1.0
jobs:
  slow:
    command: ${emit('out:first', 'sleep:5', 'out:second')}
`;

    before(async () => {
      home = mkdtempSync(join(tmpdir(), 'ks-pod-home-'));
      h = await createHarness(engine, {
        yaml,
        api: {
          stepMs: 10,
          tokenLifetimeSeconds: 2,
          scenario: () => ({ kind: 'process', cwd: REPO_ROOT, env: { KUBESCRIBE_CONFIG: h.config.file!, KUBESCRIBE_API_URL: apiUrl, KUBESCRIBE_HOME: home } }),
        },
        executor: { watch: false },
      });
      writeFileSync(h.config.file!, yaml);
      app = await buildApp({
        db: h.db, config: h.config, executor: h.executor, logger: false,
        runnerAuthenticators: [podTokenAuthenticator({
          client: h.client, serviceAccount: h.config.kubernetes!.service_account, log: (entry) => refusals.push(entry.message),
        })],
      }, [runnerRoutes]);
      apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(async () => {
      await app.close();
      await h.close();
      rmSync(home, { recursive: true, force: true });
    });

    test('the run completes with its whole log across token rotations', async () => {
      const reviews = h.api.count('create', 'tokenreviews');
      const runId = await h.trigger('slow');
      const run = await h.waitForStatus(runId, 'succeeded', 120_000);
      assert.equal(run.exit_code, 0);
      const log = (await readLogChunks(h.db, runId)).map((chunk) => chunk.text).join('');
      assert.equal(log, 'first\nsecond\n');
      // The first token, then after its expiry (2 s) the rotated ones: checked again, never served from a stale cache.
      assert.ok(h.api.count('create', 'tokenreviews') - reviews >= 2, `${h.api.count('create', 'tokenreviews') - reviews} TokenReviews`);
      // The runner did present an expired token once (401), and then the rotated one from its file.
      assert.ok(refusals.some((message) => /expired/.test(message)), refusals.join('\n'));
    });
  });
}

/** POST /runner/runs as a runner sends it. */
function createBody(runId: string, job: string) {
  const at = new Date().toISOString();
  return {
    run: {
      run_id: runId, job, job_content_hash: null, trigger: 'schedule', triggered_by: null, params: {}, status: 'starting',
      executor: 'kubernetes', created_at: at,
    },
    event: { event_id: uuidv7(), at, type: 'created', actor: null, detail: {} },
  };
}
