// Job pods' ServiceAccount tokens → runner identities, against the Kubernetes API double's TokenReview:
// a run's pod gets exactly its run, a CronJob's pod its job, and everything else is refused with the
// reason — including a pod that wears another run's label — within a bounded time when the cluster hangs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '../../src/api/errors.ts';
import type { RunnerAuthenticator } from '../../src/api/runner-auth.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { KubeClient } from '../../src/kubernetes/client.ts';
import type { KubeLogEntry } from '../../src/kubernetes/kubernetes-executor.ts';
import { cronJobManifest, runJobManifest, runJobName, RUN_ID_LABEL } from '../../src/kubernetes/manifests.ts';
import { podTokenAuthenticator, runnerServiceAccounts, type PodTokenAuthOptions } from '../../src/kubernetes/token-review.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { waitFor } from '../support/cli.ts';
import { startKubeApiDouble, type KubeApiDouble, type KubeObject } from '../support/kube-api-double.ts';
import { CONFIG_YAML, NAMESPACE } from './harness.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ks-token-review-'));
const config = parseConfig(CONFIG_YAML, join(scratch, 'kubescribe.yaml'));
const settings = config.kubernetes!;

describe('job pod tokens checked with TokenReview', () => {
  let api: KubeApiDouble;
  let client: KubeClient;
  let afterReview: ((review: KubeObject) => void) | null = null;
  const logs: KubeLogEntry[] = [];
  const authenticator = (options: Partial<PodTokenAuthOptions> = {}): RunnerAuthenticator =>
    podTokenAuthenticator({ client, serviceAccount: settings.service_account, timeoutMs: 2000, log: (entry) => logs.push(entry), ...options });
  const podOfJob = (job: string) => waitFor(() => api.list('pods', NAMESPACE).find((p) => p.metadata.labels['job-name'] === job && p.status.phase === 'Running'), 10_000, `the pod of ${job}`);
  const tokenFor = (pod: KubeObject, extra: { audiences?: string[]; expiresAt?: Date } = {}) =>
    api.issueToken({ namespace: pod.metadata.namespace, pod: pod.metadata.name, audiences: ['kubescribe'], ...extra });
  /** Triggers a run's Job as the executor would; its pod is held Running. */
  const runPod = async (runId = uuidv7()) => {
    await client.createJob(runJobManifest({ definition: config.jobs.get('report')!, settings, runId, params: {} }));
    return { runId, pod: await podOfJob(runJobName('report', runId)) };
  };
  const refusal = async (auth: RunnerAuthenticator, token: string, status: number, reason: RegExp) => {
    await assert.rejects(auth(token), (error: unknown) => {
      assert.ok(error instanceof ApiError, String(error));
      assert.equal(error.statusCode, status, error.message);
      assert.match(error.message, reason);
      return true;
    });
  };

  before(async () => {
    api = await startKubeApiDouble({ stepMs: 5, scenario: () => ({ kind: 'hold' }), afterTokenReview: (review) => afterReview?.(review) });
    client = new KubeClient({ namespace: NAMESPACE, server: api.url, requestTimeoutMs: 1000 });
    await waitFor(() => client.listCronJobs('warm-up=1').then(() => true, () => false), 60_000, 'the API double to answer');
    await client.createCronJob(cronJobManifest(config.jobs.get('nightly')!, settings, 1));
  });
  after(async () => {
    await api.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('a triggered run\'s pod gets exactly that run', async () => {
    const { runId, pod } = await runPod();
    const identity = await authenticator()(tokenFor(pod));
    assert.deepEqual(identity, { actor: `k8s:${NAMESPACE}/${pod.metadata.name}`, runId, job: null });
  });

  test('a pod of a Job its CronJob started gets its job (create and write runs of it), no run', async () => {
    const job = api.kubelet.fireCronJob(NAMESPACE, 'nightly', new Date('2026-12-04T02:00:00Z'));
    const pod = await podOfJob(job.metadata.name);
    const identity = await authenticator()(tokenFor(pod));
    assert.deepEqual(identity, { actor: `k8s:${NAMESPACE}/${pod.metadata.name}`, runId: null, job: 'nightly' });
  });

  test('a job with its own service_account (Kubeflow\'s default-editor): its pod\'s token gets its run; the accounts come from the config', async () => {
    const own = parseConfig(`${CONFIG_YAML}  kubeflow:\n    command: [python3, train.py]\n    service_account: default-editor\n`, join(scratch, 'kubescribe.yaml'));
    assert.deepEqual(runnerServiceAccounts(own), [settings.service_account, 'default-editor']);
    assert.deepEqual(runnerServiceAccounts(config), [settings.service_account]);
    const runId = uuidv7();
    const job = runJobManifest({ definition: own.jobs.get('kubeflow')!, settings: own.kubernetes!, runId, params: {} });
    assert.equal(job.spec!.template.spec!.serviceAccountName, 'default-editor');
    await client.createJob(job);
    const pod = await podOfJob(runJobName('kubeflow', runId));
    const identity = await authenticator({ serviceAccount: runnerServiceAccounts(own) })(tokenFor(pod));
    assert.deepEqual(identity, { actor: `k8s:${NAMESPACE}/${pod.metadata.name}`, runId, job: null });
    await refusal(authenticator(), tokenFor(pod), 403, /the token is of ServiceAccount default-editor; job pods run as kubescribe-runner/);
  });

  test('not a JWT (an API or run token, garbage): not this authenticator\'s, and no TokenReview', async () => {
    const reviews = api.count('create', 'tokenreviews');
    const auth = authenticator();
    for (const bearer of ['ksk_abcdef0123456789', 'ksr_abc.def.ghi', 'plain', 'a.b']) assert.equal(await auth(bearer), null, bearer);
    assert.equal(api.count('create', 'tokenreviews'), reviews);
  });

  test('refused with the reason: wrong audience, expired, unknown, unbound, another namespace or ServiceAccount', async () => {
    const { pod } = await runPod();
    const auth = authenticator();
    await refusal(auth, tokenFor(pod, { audiences: ['https://kubernetes.default.svc.cluster.local'] }), 401, /did not authenticate.*is invalid for the target audiences \["kubescribe"\]/);
    await refusal(auth, tokenFor(pod, { expiresAt: new Date(Date.now() - 1000) }), 401, /expired/);
    const [h, p] = tokenFor(pod).split('.');
    await refusal(auth, `${h}.${p}.forgedsignature`, 401, /did not authenticate/);
    await refusal(auth, api.issueToken({ namespace: NAMESPACE, serviceAccount: settings.service_account, audiences: ['kubescribe'] }), 403, /not bound to a pod/);
    const stranger = api.createObject('pods', 'other-team', {
      metadata: { name: pod.metadata.name, labels: pod.metadata.labels, ownerReferences: pod.metadata.ownerReferences },
      spec: pod.spec, status: { phase: 'Running' },
    });
    await refusal(auth, tokenFor(stranger), 403, /namespace other-team; KubeScribe runs jobs in namespace ks-test/);
    const otherAccount = api.createObject('pods', NAMESPACE, {
      metadata: { name: 'api-pod', labels: pod.metadata.labels, ownerReferences: pod.metadata.ownerReferences },
      spec: { ...pod.spec, serviceAccountName: 'kubescribe' }, status: { phase: 'Running' },
    });
    await refusal(auth, tokenFor(otherAccount), 403, /ServiceAccount kubescribe; job pods run as kubescribe-runner/);
    // Every refusal was logged with its reason, and no token was.
    const text = JSON.stringify(logs);
    assert.ok(logs.filter((entry) => entry.level === 'warn').length >= 6, text);
    assert.doesNotMatch(text, /eyJ/, 'no token in the log');
  });

  test('refused: the pod was deleted, was replaced between the review and the read, or has ended', async () => {
    const auth = authenticator();
    const deleted = (await runPod()).pod;
    const deletedToken = tokenFor(deleted);
    api.removeObject('pods', NAMESPACE, deleted.metadata.name);
    await refusal(auth, deletedToken, 401, /pods ".*" not found/);

    const replaced = (await runPod()).pod;
    afterReview = () => {
      afterReview = null;
      api.removeObject('pods', NAMESPACE, replaced.metadata.name);
      api.createObject('pods', NAMESPACE, { metadata: { name: replaced.metadata.name, labels: replaced.metadata.labels, ownerReferences: replaced.metadata.ownerReferences }, spec: replaced.spec, status: { phase: 'Running' } });
    };
    await refusal(auth, tokenFor(replaced), 403, /not the pod the token was issued to/);

    const ended = (await runPod()).pod;
    api.kubelet.finishPod(NAMESPACE, ended.metadata.name, 0);
    await refusal(auth, tokenFor(ended), 403, /has ended \(Succeeded\)/);
  });

  test('a pod wearing another run\'s id is refused: its Job is not that run\'s Job', async () => {
    const auth = authenticator();
    const victim = await runPod();
    // A CronJob's pod relabelled with the victim's run id.
    const job = api.kubelet.fireCronJob(NAMESPACE, 'nightly', new Date('2026-12-04T03:00:00Z'));
    const pod = await podOfJob(job.metadata.name);
    api.modify('pods', NAMESPACE, pod.metadata.name, (obj) => {
      obj.metadata.labels[RUN_ID_LABEL] = victim.runId;
    });
    await refusal(auth, tokenFor(pod), 403, new RegExp(`claims run ${victim.runId}, but its Job ${job.metadata.name} is not that run's Job`));
    // A bare pod with the victim's labels and no owner, and one that names the victim's Job as its owner with a made-up uid.
    const bare = api.createObject('pods', NAMESPACE, { metadata: { name: 'bare', labels: victim.pod.metadata.labels }, spec: victim.pod.spec, status: { phase: 'Running' } });
    await refusal(auth, tokenFor(bare), 403, /not controlled by a Job/);
    const fakeOwner = api.createObject('pods', NAMESPACE, {
      metadata: { name: 'fake-owner', labels: victim.pod.metadata.labels, ownerReferences: [{ ...victim.pod.metadata.ownerReferences[0], uid: '00000000-0000-4000-8000-000000000000' }] },
      spec: victim.pod.spec, status: { phase: 'Running' },
    });
    await refusal(auth, tokenFor(fakeOwner), 403, /Job .* no longer exists/);
    // A CronJob pod of another job's CronJob claiming job "report" by label.
    const other = api.kubelet.fireCronJob(NAMESPACE, 'nightly', new Date('2026-12-04T04:00:00Z'));
    const otherPod = await podOfJob(other.metadata.name);
    api.modify('pods', NAMESPACE, otherPod.metadata.name, (obj) => {
      obj.metadata.labels['kubescribe.io/job'] = 'report';
    });
    await refusal(auth, tokenFor(otherPod), 403, /is not a Job of report/);
  });

  test('an accepted token is cached (one TokenReview for many batches, and for concurrent ones), never past its expiry', async () => {
    let clock = Date.now();
    const auth = authenticator({ now: () => clock, cacheMs: 30_000 });
    const { pod, runId } = await runPod();
    const token = tokenFor(pod);
    const reviews = () => api.count('create', 'tokenreviews');
    const start = reviews();
    const answers = await Promise.all([auth(token), auth(token), auth(token)]);
    assert.ok(answers.every((identity) => identity?.runId === runId));
    assert.equal(reviews() - start, 1, 'concurrent batches share one review');
    for (let i = 0; i < 10; i++) assert.equal((await auth(token))?.runId, runId);
    assert.equal(reviews() - start, 1, 'later batches are answered from the cache');
    clock += 31_000;
    await auth(token);
    assert.equal(reviews() - start, 2, 'asked again after cacheMs');
    // A token expiring in 5 s is trusted for 5 s, not 30.
    const short = tokenFor(pod, { expiresAt: new Date(Date.now() + 5000) });
    await auth(short);
    clock += 6000;
    // The double's clock is the real one, so there the token may still be good: what counts is that it is asked again.
    await auth(short).catch(() => null);
    assert.equal(reviews() - start, 4, 'the short-lived token was reviewed again after its expiry');
  });

  test('the Kubernetes API hanging or unreachable: 503 within the timeout, not a hang; missing RBAC: 503 naming it', async () => {
    const { pod } = await runPod();
    const token = tokenFor(pod);
    api.inject({ verb: 'create', resource: 'tokenreviews', kind: 'hang' });
    const started = Date.now();
    await refusal(authenticator({ timeoutMs: 300 }), token, 503, /did not answer/);
    assert.ok(Date.now() - started < 1500, `answered in ${Date.now() - started} ms`);

    const unreachable = new KubeClient({ namespace: NAMESPACE, server: 'http://127.0.0.1:1', requestTimeoutMs: 500 });
    await refusal(podTokenAuthenticator({ client: unreachable, timeoutMs: 1000 }), token, 503, /did not answer/);

    api.deny('create', 'tokenreviews');
    await refusal(authenticator(), token, 503, /ClusterRole kubescribe-tokenreview-ks-test/);
    api.allow('create', 'tokenreviews');
    api.deny('get', 'pods');
    await refusal(authenticator(), token, 503, /"get" on "pods"/);
    api.allow('get', 'pods');
    assert.ok(logs.some((entry) => entry.level === 'error' && /could not check a job pod token/.test(entry.message)));
    assert.ok((await authenticator()(token))?.runId);
  });
});
