// `kubescribe render`, run as a real child process (from source, through tsx): what it prints, that
// every object it prints validates, --namespace, its errors, and that no secret value ever appears.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../support/cli.ts';
import { main } from '../../src/cli/main.ts';
import { readEnvironment } from '../../src/config/environment.ts';
import { API_RULES } from '../../src/kubernetes/manifests-install.ts';
import { validateManifest } from '../../src/kubernetes/validate.ts';
import { podCredentialProblems } from '../support/pod-credentials.ts';

const TSX = import.meta.resolve('tsx');
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).href;
const DEPLOY_CONFIG = join(REPO_ROOT, 'deploy/kubescribe.yaml');

interface Result { code: number | null; out: string; err: string }
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [key: string]: unknown };

/** Runs `kubescribe render <args>` in this process, on an environment of its own (fast: no tsx start-up). */
async function renderHere(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Result> {
  let out = '';
  let err = '';
  const stream = (append: (s: string) => void) => ({ write: (s: string) => (append(s), true) }) as unknown as NodeJS.WritableStream;
  const code = await main(['node', 'kubescribe', 'render', ...args], {
    env: readEnvironment(options.env ?? {}, options.cwd ?? REPO_ROOT),
    stdout: stream((s) => (out += s)),
    stderr: stream((s) => (err += s)),
  });
  return { code, out, err };
}

/** Runs `kubescribe render <args>` from source in a child process, as a user would. */
function render(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Result> {
  const code = `const { main } = await import(${JSON.stringify(MAIN)}); process.exitCode = await main(['node', 'kubescribe', ...process.argv.slice(1)]);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', code, 'render', ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ code: status, out, err });
    });
  });
}

function objectsOf(stream: string): K8sObject[] {
  const docs = parseAllDocuments(stream);
  assert.ok(Array.isArray(docs), 'the output is a YAML stream');
  return docs.map((doc) => {
    assert.deepEqual(doc.errors, []);
    return doc.toJS() as K8sObject;
  });
}

const find = (objects: K8sObject[], kind: string, name?: string) => {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.ok(found, `no ${kind} ${name ?? ''} in the output`);
  return found as K8sObject & Record<string, any>;
};

describe('kubescribe render', () => {
  let dir: string;
  let example: Result;
  let objects: K8sObject[];
  // Secret values in the environment of the render everything else is checked on: none may come out.
  const secrets = {
    DATABASE_URL: 'postgres://kubescribe:db-pass-Zq81@db.internal:5432/runlog',
    SMTP_URL: 'smtps://alerts:smtp-pass-Xy77@mail.example.com',
    SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/slack-token-Qw12',
    KUBESCRIBE_TOKEN: 'ks_token-Rt34',
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kubescribe-render-'));
    example = await render(['-f', DEPLOY_CONFIG], { env: secrets });
    objects = objectsOf(example.out);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints every object of a deployment as one YAML stream, and each validates against the Kubernetes schemas', () => {
    assert.equal(example.code, 0, example.err);
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).map((s) => s.replace(/-[0-9a-f]{10}$/, '-<hash>')), [
      'ServiceAccount/kubescribe',
      'ServiceAccount/kubescribe-runner',
      'Role/kubescribe-executor',
      'RoleBinding/kubescribe-executor',
      'ClusterRole/kubescribe-tokenreview-kubescribe',
      'ClusterRoleBinding/kubescribe-tokenreview-kubescribe',
      'ConfigMap/kubescribe-config',
      'Service/kubescribe-api',
      'Deployment/kubescribe-api',
      'Job/kubescribe-migrate-<hash>',
      'CronJob/report',
    ]);
    for (const obj of objects) {
      assert.deepEqual(validateManifest(obj), [], `${obj.kind} ${obj.metadata.name}`);
      // Cluster-scoped objects have no namespace (the API server rejects one); their names carry it.
      const clusterScoped = obj.kind === 'ClusterRole' || obj.kind === 'ClusterRoleBinding';
      assert.equal(obj.metadata.namespace, clusterScoped ? undefined : 'kubescribe', `${obj.kind} ${obj.metadata.name}`);
    }
    assert.equal(example.err, '', 'the example declares executor: kubernetes, so render has nothing to note');
  });

  it('grants the API least privilege: its namespace, plus TokenReview (cluster-scoped) to check job pods\' tokens', () => {
    const role = find(objects, 'Role');
    assert.deepEqual(role.rules, API_RULES);
    assert.deepEqual(role.rules, [
      { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['create', 'get', 'list', 'watch', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
    ]);
    // TokenReview is only ever granted cluster-wide; nothing else is.
    const clusterRole = find(objects, 'ClusterRole');
    assert.deepEqual(clusterRole.rules, [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }]);
    const clusterBinding = find(objects, 'ClusterRoleBinding');
    assert.deepEqual(clusterBinding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole.metadata.name });
    assert.deepEqual(clusterBinding.subjects, [{ kind: 'ServiceAccount', name: 'kubescribe', namespace: 'kubescribe' }]);
    const binding = find(objects, 'RoleBinding');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kubescribe-executor' });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'kubescribe', namespace: 'kubescribe' }]);
    assert.equal(find(objects, 'ServiceAccount', 'kubescribe-runner').automountServiceAccountToken, false);
  });

  it('runs the API as 2 hardened replicas with health probes, behind a Service', () => {
    const deployment = find(objects, 'Deployment');
    assert.equal(deployment.spec.replicas, 2);
    const pod = deployment.spec.template.spec;
    const api = pod.containers[0];
    assert.deepEqual(api.command, ['kubescribe', 'serve', '--host', '0.0.0.0', '--port', '8080']);
    assert.equal(api.readinessProbe.httpGet.path, '/readyz');
    assert.equal(api.livenessProbe.httpGet.path, '/healthz');
    assert.ok(api.resources.requests.memory && api.resources.limits.memory);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(api.securityContext.readOnlyRootFilesystem, true);
    assert.equal(api.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(api.securityContext.capabilities.drop, ['ALL']);
    // Somewhere writable on a read-only root: /tmp, where KUBESCRIBE_HOME points.
    assert.ok(pod.volumes.some((v: { name: string; emptyDir?: unknown }) => v.name === 'tmp' && v.emptyDir));
    assert.ok(api.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/tmp'));
    assert.equal(pod.serviceAccountName, 'kubescribe');
    // The API's pods must never look like the executor's (it selects app.kubernetes.io/managed-by=kubescribe).
    assert.equal(deployment.spec.template.metadata.labels['app.kubernetes.io/managed-by'], undefined);
    const service = find(objects, 'Service');
    assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
    assert.equal(service.spec.ports[0].targetPort, 'http');
  });

  it('ships the config as a ConfigMap, migrates with a Job, and schedules with CronJobs', () => {
    const configMap = find(objects, 'ConfigMap');
    assert.equal(configMap.data['kubescribe.yaml'], readFileSync(DEPLOY_CONFIG, 'utf8'));
    const migrate = find(objects, 'Job');
    assert.deepEqual(migrate.spec.template.spec.containers[0].command, ['kubescribe', 'migrate']);
    assert.equal(migrate.spec.template.spec.restartPolicy, 'Never');
    const cron = find(objects, 'CronJob', 'report');
    assert.equal(cron.spec.schedule, '0 6 * * *');
    assert.equal(cron.spec.timeZone, 'Europe/Berlin');
    assert.equal(cron.spec.startingDeadlineSeconds, 300);
    assert.equal(cron.spec.jobTemplate.spec.template.spec.containers[0].image, 'kubescribe:0.1.0');
  });

  it('refers to Secrets for DATABASE_URL, SMTP and Slack and prints no secret value, whatever the environment holds', () => {
    assert.equal(example.code, 0, example.err);
    for (const value of Object.values(secrets)) {
      for (const fragment of [value, ...value.match(/[A-Za-z]+-(pass|token)-\w+/g) ?? []]) {
        assert.ok(!example.out.includes(fragment), `"${fragment}" leaked into stdout`);
        assert.ok(!example.err.includes(fragment), `"${fragment}" leaked into stderr`);
      }
    }
    const api = find(objects, 'Deployment').spec.template.spec.containers[0];
    assert.deepEqual(api.env.find((e: { name: string }) => e.name === 'DATABASE_URL').valueFrom, {
      secretKeyRef: { name: 'kubescribe-database', key: 'DATABASE_URL' },
    });
    assert.deepEqual(api.envFrom, [
      { secretRef: { name: 'kubescribe-smtp', optional: true } },
      { secretRef: { name: 'kubescribe-slack', optional: true } },
    ]);
    // The first admin token: an optional Secret mounted as a file, which serve reads at start.
    const apiPod = find(objects, 'Deployment').spec.template.spec;
    assert.deepEqual(apiPod.volumes.find((v: { name: string }) => v.name === 'admin-token'), {
      name: 'admin-token', secret: { secretName: 'kubescribe-admin-token', optional: true },
    });
    assert.deepEqual(api.volumeMounts.find((m: { name: string }) => m.name === 'admin-token'), {
      name: 'admin-token', mountPath: '/var/run/secrets/kubescribe-admin', readOnly: true,
    });
    assert.equal(api.env.find((e: { name: string }) => e.name === 'KUBESCRIBE_ADMIN_TOKEN_FILE').value, '/var/run/secrets/kubescribe-admin/token');
    assert.match(example.out, /^# .*create secret generic kubescribe-admin-token --from-literal=token=.*\(optional: the first admin token\)$/m);
    // Job pods hold no database credentials: their runner records through the API with the pod's projected token.
    for (const cron of objects.filter((o) => o.kind === 'CronJob')) {
      const pod = (cron as Record<string, any>).spec.jobTemplate.spec.template.spec;
      const env = pod.containers[0].env as { name: string; value?: string }[];
      assert.equal(env.find((e) => e.name === 'DATABASE_URL'), undefined);
      assert.equal(env.find((e) => e.name === 'KUBESCRIBE_API_URL')?.value, 'http://kubescribe-api.kubescribe.svc');
      assert.ok(pod.volumes.some((v: any) => v.projected?.sources?.[0]?.serviceAccountToken?.audience === 'kubescribe'));
      assert.deepEqual(podCredentialProblems(pod), [], `CronJob ${cron.metadata.name}`);
    }
    assert.equal(objects.some((o) => o.kind === 'Secret'), false);
    assert.match(example.out, /^# .*kubectl -n kubescribe create secret generic kubescribe-database/m);
  });

  it('--namespace puts every object, the RoleBinding subject and the mounted config in that namespace', async () => {
    const result = await renderHere(['-f', DEPLOY_CONFIG, '--namespace', 'data-jobs']);
    assert.equal(result.code, 0, result.err);
    const rendered = objectsOf(result.out);
    for (const obj of rendered) {
      const clusterScoped = obj.kind === 'ClusterRole' || obj.kind === 'ClusterRoleBinding';
      assert.equal(obj.metadata.namespace, clusterScoped ? undefined : 'data-jobs', `${obj.kind} ${obj.metadata.name}`);
      if (clusterScoped) assert.equal(obj.metadata.name, 'kubescribe-tokenreview-data-jobs');
      assert.deepEqual(validateManifest(obj), []);
    }
    assert.equal(find(rendered, 'RoleBinding').subjects[0].namespace, 'data-jobs');
    assert.equal(find(rendered, 'ClusterRoleBinding').subjects[0].namespace, 'data-jobs');
    const text: string = find(rendered, 'ConfigMap').data['kubescribe.yaml'];
    assert.match(text, /^ {2}namespace: data-jobs$/m);
    // Only that line changed: the user's comments and layout are kept.
    assert.equal(text, readFileSync(DEPLOY_CONFIG, 'utf8').replace(/^( {2}namespace: )kubescribe$/m, '$1data-jobs'));
  });

  it('--grafana-dashboard adds the dashboard as a ConfigMap for Grafana\'s sidecar, valid like the rest', async () => {
    const result = await renderHere(['-f', DEPLOY_CONFIG, '--grafana-dashboard', '--namespace', 'monitoring']);
    assert.equal(result.code, 0, result.err);
    const rendered = objectsOf(result.out);
    // Everything else as without the flag, the dashboard last.
    assert.deepEqual(rendered.slice(0, -1).map((o) => o.kind), objects.map((o) => o.kind));
    const dashboard = rendered.at(-1)! as K8sObject & { data: Record<string, string> };
    assert.equal(`${dashboard.kind}/${dashboard.metadata.name}`, 'ConfigMap/kubescribe-grafana-dashboard');
    assert.equal(dashboard.metadata.namespace, 'monitoring');
    assert.equal(dashboard.metadata.labels?.grafana_dashboard, '1');
    assert.equal(dashboard.metadata.labels?.['app.kubernetes.io/part-of'], 'kubescribe');
    assert.deepEqual(Object.keys(dashboard.data), ['kubescribe.json']);
    assert.equal(dashboard.data['kubescribe.json'], readFileSync(join(REPO_ROOT, 'deploy/grafana/kubescribe.json'), 'utf8'));
    assert.equal(JSON.parse(dashboard.data['kubescribe.json']!).uid, 'kubescribe');
    assert.deepEqual(validateManifest(dashboard), []);
  });

  it('reads ./kubescribe.yaml by default, and notes when the config would not use the Kubernetes executor', async () => {
    writeFileSync(join(dir, 'kubescribe.yaml'), 'jobs:\n  hourly:\n    command: ./run.sh\n    schedule: "@hourly"\n');
    const result = await render([], { cwd: dir });
    assert.equal(result.code, 0, result.err);
    assert.deepEqual(objectsOf(result.out).filter((o) => o.kind === 'CronJob').map((o) => o.metadata.name), ['hourly']);
    assert.match(result.err, /note: kubescribe\.yaml has no "executor: kubernetes"/);
  });

  it('fails on a bad config with file:line and the field, and prints nothing', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'executor: kubernetes\nkubernetes:\n  namespace: Batch_Jobs\n  resources: {limits: {memory: lots}}\njobs: {}\n');
    const result = await renderHere(['-f', file]);
    assert.equal(result.code, 2);
    assert.equal(result.out, '');
    assert.match(result.err, new RegExp(`${file.replace(/[.]/g, '\\.')}:3: kubernetes\\.namespace: invalid name "Batch_Jobs"`));
    assert.match(result.err, /bad\.yaml:4: kubernetes\.resources\.limits\.memory: expected a Kubernetes quantity/);
  });

  it('fails on every schedule a CronJob cannot run, pointing at its line', async () => {
    const file = join(dir, 'seconds.yaml');
    writeFileSync(file, 'executor: kubernetes\njobs:\n  fast:\n    command: ./run.sh\n    schedule: "*/10 * * * * *"\n'
      + '  ok:\n    command: ./run.sh\n    schedule: "@daily"\n  last-friday:\n    command: ./run.sh\n    schedule: "0 9 * * 5L"\n');
    const result = await renderHere(['-f', file]);
    assert.equal(result.code, 2);
    assert.equal(result.out, '');
    // Every such job at once, each at its line.
    assert.match(result.err, /seconds\.yaml:5: jobs\.fast\.schedule: Kubernetes CronJobs take 5 cron fields \(no seconds\), got 6/);
    assert.match(result.err, /seconds\.yaml:11: jobs\.last-friday\.schedule: "L", "W" and "#" are not supported/);
    assert.doesNotMatch(result.err, /jobs\.ok/);
  });

  it('rejects a bad --namespace and a missing file with a clear message', async () => {
    const namespace = await renderHere(['-f', DEPLOY_CONFIG, '--namespace', 'Not_OK']);
    assert.equal(namespace.code, 2);
    assert.equal(namespace.out, '');
    assert.match(namespace.err, /--namespace Not_OK: a namespace name must be lowercase letters/);
    const missing = await renderHere(['-f', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /nope\.yaml: config file not found/);
  });

  it('keeps deploy/kustomize/base in step with the example config', () => {
    const base = readFileSync(join(REPO_ROOT, 'deploy/kustomize/base/rendered.yaml'), 'utf8');
    assert.equal(base, example.out, 'run: kubescribe render -f deploy/kubescribe.yaml > deploy/kustomize/base/rendered.yaml');
  });
});
