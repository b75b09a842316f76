// The `executor:` and `kubernetes:` sections of kubescribe.yaml, and a job's own `resources`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig, type ConfigIssue } from '../../src/config/job-config.ts';
import { defaultKubernetesSettings } from '../../src/config/kubernetes-config.ts';
import { apiDeploymentManifest, migrationJobManifest } from '../../src/kubernetes/manifests-install.ts';
import { validateManifest } from '../../src/kubernetes/validate.ts';

const FILE = 'kubescribe.yaml';

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('expected parseConfig to throw');
}

// Line numbers in the assertions count from `executor: kubernetes` as line 1.
const FULL = `executor: kubernetes
kubernetes:
  namespace: batch
  image: registry.example.com/kubescribe:1.2.3
  image_pull_policy: IfNotPresent
  service_account: etl-runner
  image_pull_secrets: [regcred]
  resources:
    requests: {cpu: 250m, memory: 512Mi}
    limits: {cpu: 2, memory: 1Gi, ephemeral-storage: 2Gi}
  node_selector: {kubernetes.io/os: linux, pool: batch}
  tolerations:
    - {key: dedicated, operator: Equal, value: batch, effect: NoSchedule}
    - {operator: Exists, effect: NoExecute, toleration_seconds: 5m}
  ttl_after_finished: 2h
  successful_jobs_history_limit: 5
  failed_jobs_history_limit: 2
  database_secret: {name: runlog-db, key: url}
  smtp_secret: mail
  slack_secret: chat
  config_map: etl-config
  apply_on_start: false
  start_timeout: 15m
  api: {image: registry.example.com/kubescribe-api:1.2.3, replicas: 3, port: 9090, resources: {requests: {cpu: 1}}}
  runner_runlog: direct
  api_url: https://kubescribe.example.com/
  runner: image
jobs:
  report:
    command: python3 script.py
    runner: inject
    resources:
      requests: {memory: 4Gi}
`;

describe('kubernetes config', () => {
  it('parses every key of the kubernetes section and a job\'s own resources', () => {
    const config = parseConfig(FULL, FILE);
    assert.equal(config.executor, 'kubernetes');
    assert.deepEqual(config.kubernetes, {
      namespace: 'batch',
      image: 'registry.example.com/kubescribe:1.2.3',
      image_pull_policy: 'IfNotPresent',
      service_account: 'etl-runner',
      image_pull_secrets: ['regcred'],
      resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '2', memory: '1Gi', 'ephemeral-storage': '2Gi' } },
      node_selector: { 'kubernetes.io/os': 'linux', pool: 'batch' },
      tolerations: [
        { key: 'dedicated', operator: 'Equal', value: 'batch', effect: 'NoSchedule' },
        { operator: 'Exists', effect: 'NoExecute', toleration_seconds: 300 },
      ],
      ttl_seconds_after_finished: 7200,
      successful_jobs_history_limit: 5,
      failed_jobs_history_limit: 2,
      database_secret: { name: 'runlog-db', key: 'url' },
      migration_database_secret: null,
      smtp_secret: 'mail',
      slack_secret: 'chat',
      admin_token_secret: 'kubescribe-admin-token',
      config_map: 'etl-config',
      apply_on_start: false,
      start_timeout_seconds: 900,
      api: { image: 'registry.example.com/kubescribe-api:1.2.3', replicas: 3, port: 9090, resources: { requests: { cpu: '1' }, limits: {} } },
      runner_runlog: 'direct',
      api_url: 'https://kubescribe.example.com',
      runner: 'image',
      env: {},
      pod: {},
    });
    assert.deepEqual(config.jobs.get('report')?.resources, { requests: { memory: '4Gi' }, limits: {} });
    assert.equal(config.jobs.get('report')?.runner, 'inject');
  });

  it('leaves executor and kubernetes unset without the sections, and an empty section means the defaults', () => {
    const bare = parseConfig('jobs: {}\n', FILE);
    assert.equal(bare.executor, undefined);
    assert.equal(bare.kubernetes, undefined);
    const empty = parseConfig('executor: local\nkubernetes:\n', FILE);
    assert.equal(empty.executor, 'local');
    assert.deepEqual(empty.kubernetes, defaultKubernetesSettings());
    assert.equal(parseConfig('kubernetes: {ttl_after_finished: never}\n', FILE).kubernetes?.ttl_seconds_after_finished, null);
  });

  it('reports every problem of the section at once, with its line and a did-you-mean', () => {
    const issues = issuesOf(`executor: kubernets
kubernetes:
  namspace: batch
  image_pull_policy: always
  resources:
    requests: {cpu: lots, gpu: 1}
  node_selector: {"bad key!": x}
  tolerations:
    - {operator: Exists, value: x}
  ttl_after_finished: 1500ms
  service_account: Runner_1
  successful_jobs_history_limit: -1
  database_secret: {name: db, key: "a/b"}
  apply_on_start: yes
  api: {replicas: 2.5, prot: 80}
jobs:
  report:
    command: run
    resources: {limits: {memory: 1 gig}}
`);
    assert.deepEqual(issues.map((i) => [i.line, i.path]), [
      [1, 'executor'],
      [3, 'kubernetes.namspace'],
      [4, 'kubernetes.image_pull_policy'],
      [6, 'kubernetes.resources.requests.gpu'],
      [6, 'kubernetes.resources.requests.cpu'],
      [7, 'kubernetes.node_selector.bad key!'],
      [9, 'kubernetes.tolerations[0].value'],
      [10, 'kubernetes.ttl_after_finished'],
      [11, 'kubernetes.service_account'],
      [12, 'kubernetes.successful_jobs_history_limit'],
      [13, 'kubernetes.database_secret.key'],
      [14, 'kubernetes.apply_on_start'],
      [15, 'kubernetes.api.prot'],
      [15, 'kubernetes.api.replicas'],
      [19, 'jobs.report.resources.limits.memory'],
    ]);
    const message = (path: string) => issues.find((i) => i.path === path)?.message ?? '';
    assert.match(message('executor'), /expected one of local, kubernetes, got "kubernets"; did you mean "kubernetes"\?/);
    assert.match(message('kubernetes.namspace'), /unknown key "namspace"; did you mean "namespace"\?/);
    assert.match(message('kubernetes.image_pull_policy'), /did you mean "Always"\?/);
    assert.match(message('kubernetes.resources.requests.cpu'), /expected a Kubernetes quantity such as "500m"/);
    assert.match(message('kubernetes.ttl_after_finished'), /whole seconds/);
    assert.match(message('kubernetes.service_account'), /invalid name "Runner_1": must be lowercase letters/);
    assert.match(message('kubernetes.tolerations[0].value'), /operator Exists takes no value/);
  });

  it('migration_database_secret gives the migration Job its own (schema owner) DATABASE_URL; the API keeps database_secret', () => {
    const settings = parseConfig('kubernetes:\n  migration_database_secret: {name: runlog-owner}\n', FILE).kubernetes!;
    assert.deepEqual(settings.migration_database_secret, { name: 'runlog-owner', key: 'DATABASE_URL' });
    const databaseUrl = (env: { name: string; valueFrom?: unknown }[]) => env.find((e) => e.name === 'DATABASE_URL')?.valueFrom;
    const migration = migrationJobManifest(settings, 'jobs: {}\n');
    const api = apiDeploymentManifest(settings, 'jobs: {}\n');
    assert.deepEqual(validateManifest(migration), []);
    assert.deepEqual(databaseUrl(migration.spec!.template.spec!.containers[0]!.env!), { secretKeyRef: { name: 'runlog-owner', key: 'DATABASE_URL' } });
    assert.deepEqual(databaseUrl(api.spec!.template.spec!.containers[0]!.env!), { secretKeyRef: { name: 'kubescribe-database', key: 'DATABASE_URL' } });
    const defaults = migrationJobManifest(defaultKubernetesSettings(), 'jobs: {}\n');
    assert.deepEqual(databaseUrl(defaults.spec!.template.spec!.containers[0]!.env!), { secretKeyRef: { name: 'kubescribe-database', key: 'DATABASE_URL' } });
  });

  it('checks the namespace as a DNS label of at most 63 characters', () => {
    const [issue] = issuesOf(`kubernetes:\n  namespace: ${'a'.repeat(64)}\n`);
    assert.equal(issue?.line, 2);
    assert.match(issue?.message ?? '', /must be at most 63 characters, got 64/);
  });
});
