// The Kubernetes API double is what every Kubernetes test trusts, so it is tested on its own: the
// answers a real API server gives (codes, Status reasons, resourceVersions, watch semantics, label
// selectors, deletion propagation) and the pod lifecycles its simulated kubelet plays.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/cli.ts';
import { startKubeApiDouble, type KubeApiDouble, type KubeObject } from '../support/kube-api-double.ts';
import { imageDigestOf, type PodScenario } from '../support/kube-api-double-kubelet.ts';

const NS = 'team-a';
const JOBS = `/apis/batch/v1/namespaces/${NS}/jobs`;
const CRONJOBS = `/apis/batch/v1/namespaces/${NS}/cronjobs`;
const PODS = `/api/v1/namespaces/${NS}/pods`;

// The double moves a pod through its phases 10 ms a step; a wait for a state is bounded far above that,
// so that a machine stalled for a few seconds (a full suite at load 5+) fails no test about states.
const SETTLE_MS = 15_000;

function job(name: string, labels: Record<string, string> = {}, restartPolicy = 'Never'): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'kubescribe', ...labels } },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { 'app.kubernetes.io/managed-by': 'kubescribe', ...labels } },
        spec: { restartPolicy, containers: [{ name: 'job', image: 'python:3.12-slim', command: ['python3', '-c', 'print(1)'] }] },
      },
    },
  };
}

/** Reads a watch stream's newline-delimited events until `count` arrived or the stream ends. */
async function readEvents(url: string, count: number, timeoutMs = 5000): Promise<KubeObject[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: KubeObject[] = [];
  try {
    const response = await fetch(url, { signal: controller.signal });
    const reader = response.body!.getReader();
    let buffered = '';
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += new TextDecoder().decode(value);
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buffered.slice(0, newline)) as KubeObject);
        buffered = buffered.slice(newline + 1);
      }
    }
    controller.abort();
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  } finally {
    clearTimeout(timer);
  }
  return events;
}

describe('Kubernetes API double', () => {
  let api: KubeApiDouble;
  const scenarios = new Map<string, PodScenario>();
  const call = async (method: string, path: string, body?: unknown, contentType = 'application/json') => {
    const response = await fetch(`${api.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as KubeObject };
  };

  before(async () => {
    api = await startKubeApiDouble({ scenario: (j) => scenarios.get(j.metadata.name) ?? { kind: 'hold' }, stepMs: 10 });
  });
  after(async () => {
    await api.close();
  });

  test('create, get and conflicts answer with the codes and Status reasons of a real API server', async () => {
    const created = await call('POST', JOBS, job('crud'));
    assert.equal(created.status, 201);
    assert.equal(created.body.metadata.namespace, NS);
    assert.match(created.body.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.ok(Number(created.body.metadata.resourceVersion) > 0);

    const again = await call('POST', JOBS, job('crud'));
    assert.equal(again.status, 409);
    assert.equal(again.body.kind, 'Status');
    assert.equal(again.body.reason, 'AlreadyExists');

    const missing = await call('GET', `${JOBS}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.reason, 'NotFound');
    assert.equal(missing.body.details.name, 'nope');

    const fetched = await call('GET', `${JOBS}/crud`);
    assert.equal(fetched.body.metadata.uid, created.body.metadata.uid);

    const stale = await call('PUT', `${JOBS}/crud`, { ...fetched.body, metadata: { ...fetched.body.metadata, resourceVersion: '1' } });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.reason, 'Conflict');
  });

  test('an invalid object is refused with 422 Invalid naming the field, and not stored', async () => {
    const invalid = await call('POST', JOBS, job('bad-restart', {}, 'Always'));
    assert.equal(invalid.status, 422);
    assert.equal(invalid.body.reason, 'Invalid');
    assert.ok(invalid.body.details.causes.some((cause: KubeObject) => cause.field.startsWith('spec.template.spec.restartPolicy')), JSON.stringify(invalid.body));
    const badName = await call('POST', JOBS, job('Bad_Name'));
    assert.equal(badName.status, 422);
    assert.ok(badName.body.details.causes.some((cause: KubeObject) => cause.field === 'metadata.name'), JSON.stringify(badName.body));
    assert.equal(api.get('jobs', NS, 'bad-restart'), undefined);
  });

  test('label selectors: =, ==, !=, in, notin, exists and !exists', async () => {
    await call('POST', JOBS, job('sel-a', { tier: 'gold', team: 'x' }));
    await call('POST', JOBS, job('sel-b', { tier: 'silver' }));
    await call('POST', JOBS, job('sel-c', {}));
    const names = async (selector: string) => {
      const { body } = await call('GET', `${JOBS}?labelSelector=${encodeURIComponent(selector)}`);
      return (body.items as KubeObject[]).map((item) => item.metadata.name).filter((name: string) => name.startsWith('sel-')).sort();
    };
    assert.deepEqual(await names('tier=gold'), ['sel-a']);
    assert.deepEqual(await names('tier==silver'), ['sel-b']);
    assert.deepEqual(await names('tier!=gold'), ['sel-b', 'sel-c']);
    assert.deepEqual(await names('tier in (gold, silver)'), ['sel-a', 'sel-b']);
    assert.deepEqual(await names('tier notin (gold)'), ['sel-b', 'sel-c']);
    assert.deepEqual(await names('team'), ['sel-a']);
    assert.deepEqual(await names('!tier'), ['sel-c']);
    assert.deepEqual(await names('app.kubernetes.io/managed-by=kubescribe,tier'), ['sel-a', 'sel-b']);
    const bad = await call('GET', `${JOBS}?labelSelector=${encodeURIComponent('tier in gold')}`);
    assert.equal(bad.status, 400);
  });

  test('a watch replays from a resourceVersion, streams what follows, and answers 410 Expired once compacted', async () => {
    // Suspended: no pod, so no status updates between the events this test expects.
    const suspended = (name: string) => {
      const j = job(name, { w: '1' });
      j.spec.suspend = true;
      return j;
    };
    const first = await call('POST', JOBS, suspended('watch-a'));
    const from = first.body.metadata.resourceVersion as string;
    await call('POST', JOBS, suspended('watch-b'));
    const events = readEvents(`${api.url}${JOBS}?watch=true&labelSelector=w%3D1&resourceVersion=${from}`, 2);
    await waitFor(() => api.openWatches > 0, SETTLE_MS, 'the watch to open');
    await call('DELETE', `${JOBS}/watch-a?propagationPolicy=Background`);
    const seen = await events;
    assert.deepEqual(seen.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED watch-b', 'DELETED watch-a']);
    assert.ok(Number(seen[1]!.object.metadata.resourceVersion) > Number(seen[0]!.object.metadata.resourceVersion));

    api.compact();
    const expired = await readEvents(`${api.url}${JOBS}?watch=true&resourceVersion=${from}`, 1);
    assert.equal(expired[0]!.type, 'ERROR');
    assert.equal(expired[0]!.object.code, 410);
    assert.equal(expired[0]!.object.reason, 'Expired');
  });

  test('RBAC denials answer 403 naming the verb and resource; injected 500s and hangs apply to the next requests only', async () => {
    api.deny('create', 'cronjobs');
    const denied = await call('POST', CRONJOBS, {});
    assert.equal(denied.status, 403);
    assert.equal(denied.body.reason, 'Forbidden');
    assert.match(denied.body.message, /cannot create resource "cronjobs" in API group "batch" in the namespace "team-a"/);
    api.allow('create', 'cronjobs');

    api.inject({ verb: 'create', resource: 'jobs', kind: 'status', code: 500, times: 2 });
    assert.equal((await call('POST', JOBS, job('flaky'))).status, 500);
    assert.equal((await call('POST', JOBS, job('flaky'))).status, 500);
    assert.equal((await call('POST', JOBS, job('flaky'))).status, 201);

    api.inject({ verb: 'create', resource: 'jobs', kind: 'hang-after' });
    const hung = await fetch(`${api.url}${JOBS}`, { method: 'POST', body: JSON.stringify(job('hung')), signal: AbortSignal.timeout(300) }).catch((error: Error) => error);
    assert.ok(hung instanceof Error, 'a hung create gets no answer');
    assert.ok(api.get('jobs', NS, 'hung'), 'but hang-after applied it');
  });

  test('a Job gets a pod with its labels, an owner reference and the job-name label, moved to Succeeded', async () => {
    scenarios.set('life', { kind: 'succeed' });
    await call('POST', JOBS, job('life', { 'kubescribe.io/run-id': 'r1' }));
    const pod = await waitFor(() => api.list('pods', NS).find((p) => p.metadata.labels['job-name'] === 'life' && p.status.phase === 'Succeeded'), SETTLE_MS, 'the pod to succeed');
    assert.equal(pod.metadata.labels['kubescribe.io/run-id'], 'r1');
    assert.equal(pod.metadata.labels['batch.kubernetes.io/job-name'], 'life');
    assert.equal(pod.metadata.ownerReferences[0].kind, 'Job');
    assert.equal(pod.metadata.ownerReferences[0].uid, api.get('jobs', NS, 'life')!.metadata.uid);
    assert.equal(pod.status.containerStatuses[0].imageID, imageDigestOf('python:3.12-slim'));
    assert.equal(pod.status.containerStatuses[0].state.terminated.exitCode, 0);
    const done = await waitFor(() => api.get('jobs', NS, 'life')?.status.conditions?.find((c: KubeObject) => c.type === 'Complete'), SETTLE_MS, 'Complete');
    assert.equal(done.status, 'True');
  });

  test('scenarios: OOMKilled, image pull back-off, unschedulable, eviction and deadline look as kubectl shows them', async () => {
    const cases: [string, PodScenario, (pod: KubeObject, job: KubeObject) => boolean][] = [
      ['oom', { kind: 'oom' }, (pod) => pod.status.containerStatuses?.[0]?.state?.terminated?.reason === 'OOMKilled'],
      ['pull', { kind: 'image-pull' }, (pod) => pod.status.phase === 'Pending' && pod.status.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff'],
      ['nofit', { kind: 'unschedulable' }, (pod) => pod.status.conditions?.[0]?.reason === 'Unschedulable'],
      ['evict', { kind: 'evicted' }, (pod) => pod.status.phase === 'Failed' && pod.status.reason === 'Evicted'],
      ['late', { kind: 'deadline' }, (_pod, j) => j.status.conditions?.some((c: KubeObject) => c.type === 'Failed' && c.reason === 'DeadlineExceeded')],
      ['exit3', { kind: 'fail', exitCode: 3 }, (pod, j) => pod.status.containerStatuses?.[0]?.state?.terminated?.exitCode === 3 && j.status.failed === 1],
    ];
    for (const [name, scenario] of cases) {
      scenarios.set(name, scenario);
      await call('POST', JOBS, job(name));
    }
    for (const [name, , check] of cases) {
      await waitFor(() => {
        const pod = api.list('pods', NS).find((p) => p.metadata.labels['job-name'] === name) ?? { status: {} };
        const j = api.get('jobs', NS, name);
        return j ? check(pod, j) : false;
      }, SETTLE_MS, `scenario ${name}`);
    }
  });

  test('deleting a Job: no policy orphans its pods (batch/v1 default), Background removes them', async () => {
    scenarios.set('orphaned', { kind: 'hold' });
    scenarios.set('background', { kind: 'hold' });
    await call('POST', JOBS, job('orphaned'));
    await call('POST', JOBS, job('background'));
    const podOf = (name: string) => api.list('pods', NS).find((p) => p.metadata.labels['job-name'] === name);
    await waitFor(() => podOf('orphaned')?.status.phase === 'Running' && podOf('background')?.status.phase === 'Running', SETTLE_MS, 'pods running');
    assert.equal((await call('DELETE', `${JOBS}/orphaned`)).status, 200);
    assert.equal((await call('DELETE', `${JOBS}/background`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' })).status, 200);
    await waitFor(() => podOf('background') === undefined, SETTLE_MS, 'the Background pod to go');
    assert.deepEqual(podOf('orphaned')?.metadata.ownerReferences, []);
    assert.deepEqual(api.deletions.filter((d) => d.resource === 'jobs').map((d) => `${d.name}:${d.propagationPolicy}`).slice(-2), ['orphaned:Orphan', 'background:Background']);
  });

  test('merge patches change only the given fields; JSON patch is refused', async () => {
    const cron = {
      apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', labels: { a: 'b' } },
      spec: { schedule: '0 2 * * *', suspend: false, jobTemplate: { spec: job('x').spec } },
    };
    assert.equal((await call('POST', CRONJOBS, cron)).status, 201);
    const patched = await call('PATCH', `${CRONJOBS}/nightly`, { spec: { suspend: true } }, 'application/merge-patch+json');
    assert.equal(patched.status, 200);
    assert.equal(patched.body.spec.suspend, true);
    assert.equal(patched.body.spec.schedule, '0 2 * * *');
    assert.equal(patched.body.metadata.generation, 2);
    const jsonPatch = await call('PATCH', `${CRONJOBS}/nightly`, [{ op: 'replace', path: '/spec/suspend', value: false }], 'application/json-patch+json');
    assert.equal(jsonPatch.status, 415);
  });

  test('the pods path lists pods, and /version answers', async () => {
    const { status, body } = await call('GET', `${PODS}?labelSelector=job-name%3Dlife`);
    assert.equal(status, 200);
    assert.equal(body.kind, 'PodList');
    assert.equal(body.items.length, 1);
    const version = await call('GET', '/version');
    assert.match(version.body.gitVersion, /^v1\.\d+/);
  });
});

describe('Kubernetes API double: ServiceAccount tokens and TokenReview', () => {
  let api: KubeApiDouble;
  const reviewPath = '/apis/authentication.k8s.io/v1/tokenreviews';
  const post = async (body: unknown, path = reviewPath) => {
    const response = await fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: response.status, warning: response.headers.get('warning'), body: (await response.json()) as KubeObject };
  };
  const review = (token: string, audiences?: string[], extra: Record<string, unknown> = {}) =>
    post({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(audiences ? { audiences } : {}), ...extra } });
  const makePod = (name: string, serviceAccountName = 'kubescribe-runner') => api.createObject('pods', NS, {
    metadata: { name, labels: {} },
    spec: { serviceAccountName, restartPolicy: 'Never', containers: [{ name: 'job', image: 'x' }] },
    status: { phase: 'Running' },
  });

  before(async () => {
    api = await startKubeApiDouble({
      stepMs: 10,
      scenario: () => ({ kind: 'process' }),
    });
  });
  after(async () => {
    await api.close();
  });

  test('a pod-bound token for its audience: 201, authenticated as the ServiceAccount, with the pod\'s name and uid', async () => {
    const pod = makePod('bound');
    const token = api.issueToken({ namespace: NS, pod: 'bound', audiences: ['kubescribe'], expirationSeconds: 3600 });
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'JWT-shaped');
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
    assert.deepEqual(payload.aud, ['kubescribe']);
    assert.ok(payload.exp > Date.now() / 1000 + 3500);
    const answer = await review(token, ['kubescribe']);
    assert.equal(answer.status, 201);
    assert.equal(answer.body.kind, 'TokenReview');
    assert.equal(answer.body.status.authenticated, true);
    assert.deepEqual(answer.body.status.audiences, ['kubescribe']);
    const user = answer.body.status.user;
    assert.equal(user.username, `system:serviceaccount:${NS}:kubescribe-runner`);
    assert.deepEqual(user.groups, ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated']);
    assert.deepEqual(user.extra['authentication.kubernetes.io/pod-name'], ['bound']);
    assert.deepEqual(user.extra['authentication.kubernetes.io/pod-uid'], [pod.metadata.uid]);
  });

  test('unknown, altered, expired, other-audience and unbound-pod tokens are authenticated: false with the reason', async () => {
    makePod('gone');
    makePod('replaced');
    const good = api.issueToken({ namespace: NS, pod: 'bound', audiences: ['kubescribe'] });
    const [header, payload, signature] = good.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    claims['kubernetes.io'].pod.name = 'other';
    const altered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    const expired = api.issueToken({ namespace: NS, pod: 'bound', audiences: ['kubescribe'], expiresAt: new Date(Date.now() - 1000) });
    const apiAudience = api.issueToken({ namespace: NS, pod: 'bound' });
    const gone = api.issueToken({ namespace: NS, pod: 'gone', audiences: ['kubescribe'] });
    const replaced = api.issueToken({ namespace: NS, pod: 'replaced', audiences: ['kubescribe'] });
    api.removeObject('pods', NS, 'gone');
    api.removeObject('pods', NS, 'replaced');
    makePod('replaced');
    const cases: [string, string, string[] | undefined, RegExp][] = [
      ['unknown', 'aaa.bbb.ccc', ['kubescribe'], /invalid bearer token/],
      ['altered', altered, ['kubescribe'], /invalid bearer token/],
      ['expired', expired, ['kubescribe'], /expired/],
      ['for the API server', apiAudience, ['kubescribe'], /token audiences \["https:\/\/kubernetes\.default\.svc\.cluster\.local"\] is invalid for the target audiences \["kubescribe"\]/],
      ['reviewed without audiences', good, undefined, /is invalid for the target audiences/],
      ['pod deleted', gone, ['kubescribe'], /pods "gone" not found/],
      ['pod replaced', replaced, ['kubescribe'], /does not match claim/],
    ];
    for (const [what, token, audiences, error] of cases) {
      const answer = await review(token, audiences);
      assert.equal(answer.status, 201, what);
      assert.equal(answer.body.status.authenticated, undefined, what);
      assert.deepEqual(answer.body.status.user, {}, what);
      assert.match(answer.body.status.error, error, what);
    }
    assert.equal((await review(good, ['kubescribe', 'other'])).body.status.authenticated, true);
  });

  test('strict like the real one: kind, empty token, unknown fields, the namespaced path, other methods, RBAC and faults', async () => {
    const reviews = api.count('create', 'tokenreviews');
    const wrongKind = await post({ apiVersion: 'authentication.k8s.io/v1', kind: 'SubjectAccessReview', spec: { token: 'x' } });
    assert.equal(wrongKind.status, 400);
    assert.equal(wrongKind.body.reason, 'BadRequest');
    const empty = await review('');
    assert.equal(empty.status, 400);
    assert.match(empty.body.message, /token is required/);
    const token = api.issueToken({ namespace: NS, pod: 'bound', audiences: ['kubescribe'] });
    const warned = await review(token, ['kubescribe'], { tokn: 'typo' });
    assert.equal(warned.status, 201);
    assert.match(warned.warning ?? '', /unknown field \\"spec\.tokn\\"/);
    const strict = await post({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, tokn: 'typo' } }, `${reviewPath}?fieldValidation=Strict`);
    assert.equal(strict.status, 400);
    assert.match(strict.body.message, /strict decoding error: unknown field "spec\.tokn"/);
    const namespaced = await post({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }, `/apis/authentication.k8s.io/v1/namespaces/${NS}/tokenreviews`);
    assert.equal(namespaced.status, 404);
    const get = await fetch(`${api.url}${reviewPath}`);
    assert.equal(get.status, 405);
    assert.equal(((await get.json()) as KubeObject).reason, 'MethodNotAllowed');
    api.deny('create', 'tokenreviews');
    const denied = await review(token, ['kubescribe']);
    assert.equal(denied.status, 403);
    assert.match(denied.body.message, /cannot create resource "tokenreviews" in API group "authentication\.k8s\.io" at the cluster scope/);
    api.allow('create', 'tokenreviews');
    api.inject({ verb: 'create', resource: 'tokenreviews', kind: 'status', code: 503 });
    assert.equal((await review(token, ['kubescribe'])).status, 503);
    assert.equal((await review(token, ['kubescribe'])).status, 201);
    // The namespaced path is no TokenReview; the 405 is a list: 7 creates, denied and faulted ones included.
    assert.equal(api.count('create', 'tokenreviews') - reviews, 7);
  });

  test('a process pod gets the token its projected volume asks for, at the path its env names', async () => {
    const created = await post({
      apiVersion: 'batch/v1', kind: 'Job',
      metadata: { name: 'projected' },
      spec: {
        backoffLimit: 0,
        template: {
          spec: {
            restartPolicy: 'Never',
            serviceAccountName: 'kubescribe-runner',
            containers: [{
              name: 'job', image: 'x', command: ['sh', '-c', 'cat "$TOKEN_FILE"'],
              env: [{ name: 'TOKEN_FILE', value: '/var/run/secrets/kubescribe/token' }],
              volumeMounts: [{ name: 'kubescribe-token', mountPath: '/var/run/secrets/kubescribe', readOnly: true }],
            }],
            volumes: [{ name: 'kubescribe-token', projected: { sources: [{ serviceAccountToken: { audience: 'kubescribe', expirationSeconds: 3600, path: 'token' } }] } }],
          },
        },
      },
    }, JOBS);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const pod = await waitFor(() => api.list('pods', NS).find((p) => p.metadata.labels['job-name'] === 'projected' && p.status.phase === 'Succeeded'), 10_000, 'the pod to succeed');
    const token = api.kubelet.logOf(pod.metadata.name).trim();
    const answer = await review(token, ['kubescribe']);
    assert.equal(answer.body.status.authenticated, true, api.kubelet.logOf(pod.metadata.name));
    assert.deepEqual(answer.body.status.user.extra['authentication.kubernetes.io/pod-uid'], [pod.metadata.uid]);
  });
});
