// The pod options (env from Secrets, env_from, volumes and mounts, pod labels and annotations, service
// account, priority class, affinity, node selector, tolerations, resources, pull policy, security
// context): read per job and as `kubernetes:` defaults, refused with file:line when unsafe, and present
// in the Job the executor creates (on the API double) and in the CronJob `render` prints alike, each
// passing the Kubernetes schema checks. The typical Kubeflow job is one of them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, parseConfig, type ConfigIssue } from '../../src/config/job-config.ts';
import { plainCredentialProblem } from '../../src/config/pod-options-config.ts';
import { cronJobManifest, JOB_LABEL, RUN_ID_LABEL, runJobManifest } from '../../src/kubernetes/manifests.ts';
import { validateManifest } from '../../src/kubernetes/validate.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import type { KubeObject } from '../support/kube-api-double.ts';
import { podCredentialProblems } from '../support/pod-credentials.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { createHarness, NAMESPACE, type Harness } from './harness.ts';

const FILE = 'kubescribe.yaml';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const AFFINITY = `
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
            - matchExpressions: [{key: gpu, operator: In, values: ["a100"]}]`;

export const POD_CONFIG = `executor: kubernetes
kubernetes:
  namespace: ${NAMESPACE}
  image: ghcr.io/example/kubescribe:0.1.0
  env:
    REGION: eu-west-1
    SHARED_TOKEN: {secret: shared, key: token}
  env_from: [{config_map: team-settings}]
  pod_annotations: {sidecar.istio.io/inject: "false", team: data}
  pod_labels: {team: data, cost-center: "42"}
  node_selector: {pool: batch}
  tolerations: [{key: dedicated, operator: Equal, value: batch, effect: NoSchedule}]
  volumes: [{name: scratch, empty_dir: {size_limit: 5Gi}}]
  volume_mounts: [{name: scratch, path: /scratch}]
  security_context: {fs_group: 1000}
jobs:
  train:
    command: python train.py
    schedule: "0 3 * * *"
    image: kubeflownotebookswg/jupyter-scipy:v1.8.0
    image_pull_policy: Always
    service_account: default-editor
    priority_class: batch-high
    env:
      MODEL_DIR: /models
      AWS_ACCESS_KEY_ID: {secret: s3-creds, key: access_key}
      AWS_SECRET_ACCESS_KEY: {secret: s3-creds, key: secret_key}
      THRESHOLD: {config_map: train-settings, key: threshold, optional: true}
    env_from:
      - {secret: s3-endpoint, prefix: S3_}
    volumes:
      - {name: models, pvc: model-store}
      - {name: data, pvc: training-data, read_only: true}
      - {name: gcs-key, secret: gcs-key, optional: true}
      - {name: settings, config_map: train-settings}
      - {name: shm, empty_dir: {medium: Memory, size_limit: 1Gi}}
    volume_mounts:
      - {name: models, path: /models}
      - {name: data, path: /data, read_only: true}
      - {name: gcs-key, path: /var/secrets/gcs, read_only: true}
      - {name: settings, path: /etc/train/settings.yaml, sub_path: settings.yaml}
      - {name: shm, path: /dev/shm}
    pod_annotations: {team: ml}
    pod_labels: {team: ml}
    node_selector: {gpu: "true"}
    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
    affinity:${AFFINITY}
    resources: {requests: {cpu: "2", memory: 8Gi}, limits: {memory: 16Gi}}
    security_context: {run_as_user: 1000, run_as_group: 100, run_as_non_root: true, read_only_root_filesystem: true}
  plain:
    command: ./run.sh
`;

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(err.message.startsWith(`${FILE}:`), err.message);
    return err.issues;
  }
  assert.fail('expected parseConfig to throw');
}

const envOf = (pod: Obj) => Object.fromEntries((pod.containers[0].env as Obj[]).map((e) => [e.name, e.value ?? e.valueFrom]));

/** Every pod option of `train`, as POD_CONFIG declares it, in a pod template. */
function assertTrainPod(template: Obj, where: string): void {
  const pod = template.spec;
  const container = pod.containers[0];
  const env = envOf(pod);
  assert.equal(env.MODEL_DIR, '/models', where);
  assert.equal(env.REGION, 'eu-west-1', `${where}: kubernetes.env reaches every job`);
  assert.deepEqual(env.AWS_SECRET_ACCESS_KEY, { secretKeyRef: { name: 's3-creds', key: 'secret_key' } }, where);
  assert.deepEqual(env.AWS_ACCESS_KEY_ID, { secretKeyRef: { name: 's3-creds', key: 'access_key' } }, where);
  assert.deepEqual(env.SHARED_TOKEN, { secretKeyRef: { name: 'shared', key: 'token' } }, `${where}: a default Secret env`);
  assert.deepEqual(env.THRESHOLD, { configMapKeyRef: { name: 'train-settings', key: 'threshold', optional: true } }, where);
  assert.deepEqual(container.envFrom, [
    { configMapRef: { name: 'team-settings' } },
    { prefix: 'S3_', secretRef: { name: 's3-endpoint' } },
  ], `${where}: env_from lists add up`);
  const volumes = Object.fromEntries((pod.volumes as Obj[]).map((v) => [v.name, v]));
  assert.deepEqual(volumes.models, { name: 'models', persistentVolumeClaim: { claimName: 'model-store' } }, where);
  assert.deepEqual(volumes.data, { name: 'data', persistentVolumeClaim: { claimName: 'training-data', readOnly: true } }, where);
  assert.deepEqual(volumes['gcs-key'], { name: 'gcs-key', secret: { secretName: 'gcs-key', optional: true } }, where);
  assert.deepEqual(volumes.settings, { name: 'settings', configMap: { name: 'train-settings' } }, where);
  assert.deepEqual(volumes.shm, { name: 'shm', emptyDir: { medium: 'Memory', sizeLimit: '1Gi' } }, where);
  assert.deepEqual(volumes.scratch, { name: 'scratch', emptyDir: { sizeLimit: '5Gi' } }, `${where}: a default volume`);
  assert.ok(volumes['kubescribe-config'] && volumes['kubescribe-token'], `${where}: KubeScribe's own volumes stay`);
  const mounts = Object.fromEntries((container.volumeMounts as Obj[]).map((m) => [m.mountPath, m]));
  assert.deepEqual(mounts['/models'], { name: 'models', mountPath: '/models' }, where);
  assert.deepEqual(mounts['/data'], { name: 'data', mountPath: '/data', readOnly: true }, where);
  assert.deepEqual(mounts['/etc/train/settings.yaml'], { name: 'settings', mountPath: '/etc/train/settings.yaml', subPath: 'settings.yaml' }, where);
  assert.ok(mounts['/scratch'] && mounts['/dev/shm'] && mounts['/var/secrets/gcs'] && mounts['/etc/kubescribe'], where);
  assert.deepEqual(template.metadata.annotations['sidecar.istio.io/inject'], 'false', `${where}: the istio annotation from the defaults`);
  assert.equal(template.metadata.annotations.team, 'ml', `${where}: the job's annotation wins`);
  assert.equal(template.metadata.labels.team, 'ml', `${where}: the job's label wins`);
  assert.equal(template.metadata.labels['cost-center'], '42', `${where}: labels merge`);
  assert.equal(template.metadata.labels[JOB_LABEL], 'train', `${where}: KubeScribe's labels stay`);
  assert.equal(pod.serviceAccountName, 'default-editor', where);
  assert.equal(pod.priorityClassName, 'batch-high', where);
  assert.equal(container.imagePullPolicy, 'Always', where);
  assert.deepEqual(pod.nodeSelector, { pool: 'batch', gpu: 'true' }, `${where}: node selectors merge`);
  assert.deepEqual(pod.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }], `${where}: the job's tolerations replace`);
  assert.deepEqual(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values, ['a100'], where);
  assert.deepEqual(container.resources, { requests: { cpu: '2', memory: '8Gi' }, limits: { memory: '16Gi' } }, where);
  assert.deepEqual(pod.securityContext, {
    seccompProfile: { type: 'RuntimeDefault' }, runAsUser: 1000, runAsGroup: 100, fsGroup: 1000, runAsNonRoot: true,
  }, `${where}: the job's ids over the default fs_group`);
  assert.deepEqual(container.securityContext, {
    allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true,
  }, where);
  // The user's own Secrets are the user's choice; nothing here can touch another run.
  assert.deepEqual(podCredentialProblems(pod), [], where);
}

describe('pod options: manifests', () => {
  const config = parseConfig(POD_CONFIG, FILE);
  const settings = config.kubernetes!;
  const train = config.jobs.get('train')!;

  it('every option of a job reaches its run Job and its CronJob alike, and both pass the schema checks', () => {
    const job = runJobManifest({ definition: train, settings, runId: uuidv7(), params: {} }) as Obj;
    const cron = cronJobManifest(train, settings, 3) as Obj;
    assert.deepEqual(validateManifest(job), []);
    assert.deepEqual(validateManifest(cron), []);
    assertTrainPod(job.spec.template, 'Job');
    assertTrainPod(cron.spec.jobTemplate.spec.template, 'CronJob');
    // Pod labels and annotations are the pod's: the Job object keeps only KubeScribe's.
    assert.equal(job.metadata.labels.team, undefined);
  });

  it('a job without its own options gets the kubernetes defaults and the hardened security context', () => {
    const plain = config.jobs.get('plain')!;
    const pod = runJobManifest({ definition: plain, settings, runId: uuidv7(), params: {} }).spec!.template as Obj;
    assert.deepEqual(validateManifest(runJobManifest({ definition: plain, settings, runId: uuidv7(), params: {} })), []);
    const env = envOf(pod.spec);
    assert.equal(env.REGION, 'eu-west-1');
    assert.deepEqual(env.SHARED_TOKEN, { secretKeyRef: { name: 'shared', key: 'token' } });
    assert.deepEqual(pod.spec.containers[0].envFrom, [{ configMapRef: { name: 'team-settings' } }]);
    assert.deepEqual(pod.metadata.annotations, { 'sidecar.istio.io/inject': 'false', team: 'data' });
    assert.equal(pod.metadata.labels.team, 'data');
    assert.equal(pod.spec.serviceAccountName, 'kubescribe-runner');
    assert.equal(pod.spec.priorityClassName, undefined);
    assert.deepEqual(pod.spec.nodeSelector, { pool: 'batch' });
    assert.deepEqual(pod.spec.tolerations, [{ key: 'dedicated', operator: 'Equal', value: 'batch', effect: 'NoSchedule' }]);
    assert.deepEqual(pod.spec.securityContext, { seccompProfile: { type: 'RuntimeDefault' }, fsGroup: 1000 });
    assert.deepEqual(pod.spec.containers[0].securityContext, { allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
    assert.ok(pod.spec.volumes.some((v: Obj) => v.name === 'scratch'));
  });

  it('a job env entry replaces a kubernetes.env default of the same name, plain or from a Secret', () => {
    const c = parseConfig(`kubernetes:
  env: {A: {secret: s, key: a}, B: plain-b}
jobs:
  j:
    command: x
    env: {A: own-a, B: {secret: t, key: b}}
`, FILE);
    const env = envOf(runJobManifest({ definition: c.jobs.get('j')!, settings: c.kubernetes!, runId: uuidv7(), params: {} }).spec!.template.spec as Obj);
    assert.equal(env.A, 'own-a');
    assert.deepEqual(env.B, { secretKeyRef: { name: 't', key: 'b' } });
  });

  it('a deny-listed name (PG*) from the user\'s own Secret is passed on to the job: the pod tells the runner with KUBESCRIBE_PASS_ENV', () => {
    const c = parseConfig(`kubernetes:
  env: {KUBESCRIBE_PASS_ENV: AWS_PROFILE}
jobs:
  j:
    command: x
    env:
      PGPASSWORD: {secret: warehouse, key: password}
      PGUSER: {secret: warehouse, key: user}
      REGION: eu
`, FILE);
    const pod = runJobManifest({ definition: c.jobs.get('j')!, settings: c.kubernetes!, runId: uuidv7(), params: {} }).spec!.template.spec as Obj;
    const env = envOf(pod);
    assert.equal(env.KUBESCRIBE_PASS_ENV, 'AWS_PROFILE,PGPASSWORD,PGUSER');
    assert.deepEqual(env.PGPASSWORD, { secretKeyRef: { name: 'warehouse', key: 'password' } });
    assert.deepEqual(podCredentialProblems(pod), [], 'the user\'s own database credentials are the user\'s choice');
    const none = parseConfig('jobs:\n  j:\n    command: x\n    env: {A: {secret: s, key: a}}\n', FILE);
    const plain = envOf(runJobManifest({ definition: none.jobs.get('j')!, settings: none.kubernetes ?? parseConfig('kubernetes: {}\n', FILE).kubernetes!, runId: uuidv7(), params: {} }).spec!.template.spec as Obj);
    assert.equal(plain.KUBESCRIBE_PASS_ENV, undefined);
  });

  it('KubeScribe\'s own Secrets and DATABASE_URL are refused at config load, and the pod check still catches them if they get in', () => {
    const issues = issuesOf(`kubernetes:
  namespace: batch
  slack_secret: team-slack
  env_from: [{secret: team-slack}]
jobs:
  sneaky:
    command: x
    env:
      DATABASE_URL: {secret: kubescribe-database, key: DATABASE_URL}
      MAIL: {secret: kubescribe-smtp, key: SMTP_URL}
    volumes: [{name: db, secret: kubescribe-database}, {name: mine, secret: my-key}]
    volume_mounts: [{name: db, path: /db}, {name: mine, path: /mine}]
  plain:
    command: x
    env: {DATABASE_URL: "postgres://warehouse.internal/sales"}
`);
    assert.deepEqual(issues.map((i) => [i.line, i.path]), [
      [4, 'kubernetes.env_from'],
      [4, 'kubernetes.env_from'],
      [9, 'jobs.sneaky.env.DATABASE_URL'],
      [10, 'jobs.sneaky.env.MAIL'],
      [11, 'jobs.sneaky.volumes'],
      [15, 'jobs.plain.env.DATABASE_URL'],
    ]);
    assert.match(issues[0]!.message, /env_from Secret team-slack \(job sneaky\): it holds KubeScribe's own credentials/);
    assert.match(issues[5]!.message, /name your database URL differently/);
    // The test-side check, on a pod spec edited behind the config's back.
    const c = parseConfig('kubernetes: {namespace: batch}\njobs:\n  j:\n    command: x\n    env_from: [{secret: s3-creds}]\n', FILE);
    const pod = runJobManifest({ definition: c.jobs.get('j')!, settings: c.kubernetes!, runId: uuidv7(), params: {} }).spec!.template.spec as Obj;
    assert.deepEqual(podCredentialProblems(pod), [], 'the user\'s own Secret passes');
    pod.containers[0].env.push({ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'kubescribe-database', key: 'DATABASE_URL' } } });
    pod.containers[0].envFrom.push({ secretRef: { name: 'kubescribe-smtp' } });
    pod.volumes.push({ name: 'slack', secret: { secretName: 'kubescribe-slack' } });
    assert.deepEqual(podCredentialProblems(pod), [
      'job: env DATABASE_URL',
      'job: env DATABASE_URL from Secret kubescribe-database',
      'job: envFrom Secret kubescribe-smtp',
      'volume slack: Secret kubescribe-slack',
    ]);
  });
});

describe('pod options: the documented Kubeflow example', () => {
  it('docs/config.md\'s Kubeflow job loads and builds a valid Job with the S3 Secret env, the model PVC and no istio sidecar', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs/config.md'), 'utf8');
    const yaml = /The typical Kubeflow job[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(yaml, 'the example is in docs/config.md');
    const c = parseConfig(yaml, 'docs/config.md');
    const job = runJobManifest({ definition: c.jobs.get('train')!, settings: c.kubernetes!, runId: uuidv7(), params: {} }) as Obj;
    assert.deepEqual(validateManifest(job), []);
    const template = job.spec.template;
    assert.equal(template.metadata.annotations['sidecar.istio.io/inject'], 'false');
    assert.deepEqual(envOf(template.spec).AWS_SECRET_ACCESS_KEY, { secretKeyRef: { name: 's3-creds', key: 'secret_key' } });
    assert.ok(template.spec.volumes.some((v: Obj) => v.persistentVolumeClaim?.claimName === 'model-store'));
    assert.equal(template.spec.serviceAccountName, 'default-editor');
    assert.deepEqual(podCredentialProblems(template.spec), []);
  });
});

describe('pod options: config errors name file:line and the field', () => {
  it('a plaintext credential in env is refused, with the hint to use a Secret', () => {
    const issues = issuesOf(`kubernetes:
  env:
    API_TOKEN: abc123
jobs:
  report:
    command: python3 report.py
    env:
      LOG_LEVEL: debug
      AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
      DB_PASSWORD: hunter2
      WAREHOUSE: postgres://etl:s3cret@db.internal/warehouse
      GH: ghp_abcdefghijklmnopqrstuvwxyz0123456789
      AWS_ID: AKIAIOSFODNN7EXAMPLE
      KS: ksk_0123456789abcdef0123456789abcdef
      PUBLIC_URL: https://example.com/path
      SORT_KEY: ""
`);
    assert.deepEqual(issues.map((i) => [i.line, i.path]), [
      [3, 'kubernetes.env.API_TOKEN'],
      [9, 'jobs.report.env.AWS_SECRET_ACCESS_KEY'],
      [10, 'jobs.report.env.DB_PASSWORD'],
      [11, 'jobs.report.env.WAREHOUSE'],
      [12, 'jobs.report.env.GH'],
      [13, 'jobs.report.env.AWS_ID'],
      [14, 'jobs.report.env.KS'],
    ]);
    for (const issue of issues) assert.match(issue.message, /put it in a Secret and use `env: \{\w+: \{secret: <secret name>, key: <key>\}\}` or `env_from/);
    assert.match(issues[3]!.message, /looks like a URL with a password/);
    assert.match(issues[4]!.message, /looks like a GitHub token/);
    // Nothing of the value is echoed back.
    for (const issue of issues) assert.ok(!/hunter2|s3cret|wJalr|ghp_a|AKIAI|ksk_0/.test(issue.message), issue.message);
    assert.equal(plainCredentialProblem('LOG_LEVEL', 'debug'), null);
    assert.equal(plainCredentialProblem('MONKEY', 'x'), null, 'a word ending in KEY is not a key');
  });

  it('refuses privilege in security_context and KubeScribe\'s own labels, volumes and paths', () => {
    const issues = issuesOf(`jobs:
  report:
    command: x
    security_context:
      privileged: true
      allow_privilege_escalation: true
      capabilities: {add: [NET_ADMIN]}
      run_as_user: -1
      seLinuxOptions: {}
    pod_labels:
      kubescribe.io/run-id: mine
      app.kubernetes.io/managed-by: me
      ok: "yes"
    volumes:
      - {name: kubescribe-config, empty_dir: {}}
      - {name: two, pvc: a, secret: b}
      - {name: none}
    volume_mounts:
      - {name: ghost, path: /ghost}
      - {name: x, path: /etc/kubescribe}
      - {name: x, path: relative}
    env:
      S3: {secret: s3}
      BOTH: {secret: a, config_map: b, key: k}
`);
    assert.deepEqual(issues.map((i) => [i.line, i.path]), [
      [5, 'jobs.report.security_context.privileged'],
      [6, 'jobs.report.security_context.allow_privilege_escalation'],
      [7, 'jobs.report.security_context.capabilities'],
      [8, 'jobs.report.security_context.run_as_user'],
      [9, 'jobs.report.security_context.seLinuxOptions'],
      [11, 'jobs.report.pod_labels.kubescribe.io/run-id'],
      [12, 'jobs.report.pod_labels.app.kubernetes.io/managed-by'],
      [15, 'jobs.report.volumes[0].name'],
      [16, 'jobs.report.volumes[1]'],
      [17, 'jobs.report.volumes[2]'],
      [19, 'jobs.report.volume_mounts'],
      [20, 'jobs.report.volume_mounts[1].path'],
      [21, 'jobs.report.volume_mounts[2].path'],
      [23, 'jobs.report.env.S3.key'],
      [24, 'jobs.report.env.BOTH'],
    ]);
    const message = (path: string) => issues.find((i) => i.path === path)?.message ?? '';
    assert.match(message('jobs.report.security_context.privileged'), /refused: job pods run with privileged: false/);
    assert.match(message('jobs.report.pod_labels.kubescribe.io/run-id'), /a label KubeScribe sets/);
    assert.match(message('jobs.report.volume_mounts'), /no volume of that name/);
    assert.match(message('jobs.report.volumes[1]'), /one source per volume, got pvc and secret/);
  });

  it('asking for the defaults (privileged: false, allow_privilege_escalation: false) is fine', () => {
    const c = parseConfig('jobs:\n  j:\n    command: x\n    security_context: {privileged: false, allow_privilege_escalation: false, run_as_user: 1000}\n', FILE);
    assert.deepEqual(c.jobs.get('j')!.pod?.security_context, { run_as_user: 1000 });
  });

  it('checks names, quantities and the shape of every option', () => {
    const issues = issuesOf(`kubernetes:
  priority_class: High_Priority
  affinity: {nodeAfinity: {}}
  env_from: [{secret: Bad_Name}, {prefix: X_}]
  pod_annotations: {"bad key!": x}
jobs:
  report:
    command: x
    volumes: [{name: s, empty_dir: {size_limit: lots}}]
    image_pull_policy: sometimes
`);
    assert.deepEqual(issues.map((i) => [i.line, i.path]), [
      [2, 'kubernetes.priority_class'],
      [3, 'kubernetes.affinity.nodeAfinity'],
      [4, 'kubernetes.env_from[0].secret'],
      [4, 'kubernetes.env_from[1]'],
      [5, 'kubernetes.pod_annotations.bad key!'],
      [9, 'jobs.report.volumes[0].empty_dir.size_limit'],
      [10, 'jobs.report.image_pull_policy'],
    ]);
  });
});

for (const engine of ENGINES) {
  describe(`pod options: the Kubernetes executor (${engine})`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness(engine, { yaml: POD_CONFIG, executor: { watch: false }, api: { scenario: () => ({ kind: 'hold' }) } });
    });
    after(async () => {
      await h.close();
    });

    it('the Job created for a triggered run carries every pod option and was accepted by the schema-checking API', async () => {
      const runId = await h.trigger('train', {});
      const job = h.api.list('jobs', NAMESPACE).find((j: KubeObject) => j.metadata.labels[RUN_ID_LABEL] === runId) as Obj | undefined;
      assert.ok(job, 'the Job was created');
      assert.deepEqual(validateManifest(job), []);
      assertTrainPod(job.spec.template, 'executor Job');
      const cron = h.api.list('cronjobs', NAMESPACE).find((c: KubeObject) => c.metadata.name === 'train') as Obj | undefined;
      assert.ok(cron, 'the CronJob was applied at start');
      assertTrainPod(cron.spec.jobTemplate.spec.template, 'applied CronJob');
    });
  });
}
