// The Job and CronJob builders, checked field by field and against the official Kubernetes schemas, and
// the validator itself, which must catch what the API server would reject.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1EnvVar, V1Job } from '@kubernetes/client-node';
import { parseConfig, type JobDefinition } from '../../src/config/job-config.ts';
import { defaultKubernetesSettings, type KubernetesSettings } from '../../src/config/kubernetes-config.ts';
import {
  cronJobManifest, DEFINITION_HASH_ANNOTATION, JOB_LABEL, ManifestError, MANAGED_BY, MANAGED_BY_LABEL, POD_ENV, REVISION_ANNOTATION,
  RUN_ID_LABEL, RUNNER_TOKEN_AUDIENCE, RUNNER_TOKEN_PATH, runJobManifest, runJobName, scheduledTimeFromJobName,
} from '../../src/kubernetes/manifests.ts';
import { validateManifest } from '../../src/kubernetes/validate.ts';
import { podCredentialProblems } from '../support/pod-credentials.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';

const CONFIG = `
kubernetes:
  namespace: batch
  image: registry.example.com/kubescribe:1.0.0
  image_pull_secrets: [regcred]
  resources: {requests: {cpu: 100m}, limits: {memory: 256Mi}}
  node_selector: {pool: batch}
  tolerations: [{key: dedicated, operator: Equal, value: batch, effect: NoSchedule}]
  ttl_after_finished: 1h
jobs:
  report:
    command: ["python3", "script.py", "--fast"]
    env: {REPORT_DIR: out, KUBESCRIBE_JOB: spoofed}
    schedule: "30 6 * * 1-5"
    time_zone: Europe/Berlin
    timeout: 15m
    grace_period: 20s
    concurrency_policy: Forbid
    starting_deadline: 2s
  custom:
    command: ./run.sh
    image: registry.example.com/etl:7
    resources: {requests: {memory: 4Gi}}
`;
const config = parseConfig(CONFIG, 'kubescribe.yaml');
const settings = config.kubernetes as KubernetesSettings;
const report = config.jobs.get('report') as JobDefinition;
const custom = config.jobs.get('custom') as JobDefinition;
const RUN = '019ac1d2-3e4f-7a5b-8c6d-7e8f9a0b1c2d';

const envOf = (job: V1Job) => job.spec?.template.spec?.containers[0]?.env ?? [];
const env = (list: V1EnvVar[], name: string) => list.find((e) => e.name === name);

describe('runJobName', () => {
  it('is deterministic, a DNS-1123 label of at most 63 characters, and unique per run', () => {
    assert.equal(runJobName('report', RUN), 'report-019ac1d27e8f9a0b1c2d');
    assert.equal(runJobName('report', RUN), runJobName('report', RUN));
    const long = 'a'.repeat(50) + '-b';
    const name = runJobName(long, RUN);
    assert.ok(name.length <= 63, name);
    assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.ok(name.endsWith('-019ac1d27e8f9a0b1c2d'));
    // Ids from one millisecond share their time prefix: the random tail still keeps the names apart.
    const now = Date.now();
    const names = new Set(Array.from({ length: 1000 }, () => runJobName('report', uuidv7(now))));
    assert.equal(names.size, 1000);
  });

  it('does not end the truncated job part with a dash', () => {
    const name = runJobName(`${'a'.repeat(41)}-xyz`, RUN);
    assert.equal(name, `${'a'.repeat(41)}-019ac1d27e8f9a0b1c2d`);
  });
});

describe('runJobManifest', () => {
  const job = runJobManifest({ definition: report, settings, runId: RUN, params: { day: '2026-11-25', limit: 5 }, revision: 4 });

  it('validates against the official schema and the extra rules', () => {
    assert.deepEqual(validateManifest(job), []);
    assert.deepEqual(validateManifest(runJobManifest({ definition: custom, settings: defaultKubernetesSettings(), runId: RUN, params: {} })), []);
  });

  it('names and labels the Job after its job and run, with the revision annotated', () => {
    assert.equal(job.apiVersion, 'batch/v1');
    assert.equal(job.kind, 'Job');
    assert.equal(job.metadata?.name, runJobName('report', RUN));
    assert.equal(job.metadata?.namespace, 'batch');
    const labels = { [MANAGED_BY_LABEL]: MANAGED_BY, [JOB_LABEL]: 'report', [RUN_ID_LABEL]: RUN };
    assert.deepEqual(job.metadata?.labels, labels);
    assert.deepEqual(job.spec?.template.metadata?.labels, labels);
    assert.equal(job.metadata?.annotations?.[REVISION_ANNOTATION], '4');
  });

  it('never retries in Kubernetes, keeps the deadline behind the runner\'s timeout, and expires after the TTL', () => {
    assert.equal(job.spec?.backoffLimit, 0);
    assert.equal(job.spec?.template.spec?.restartPolicy, 'Never');
    // 15 min timeout + 20 s grace + 30 s margin for the runner to record `timed_out` first.
    assert.equal(job.spec?.activeDeadlineSeconds, 900 + 20 + 30);
    assert.equal(job.spec?.ttlSecondsAfterFinished, 3600);
    assert.equal(job.spec?.template.spec?.terminationGracePeriodSeconds, 35);
    const noTimeout = runJobManifest({ definition: custom, settings, runId: RUN, params: {} });
    assert.equal(noTimeout.spec?.activeDeadlineSeconds, undefined);
  });

  it('runs the command under the runner, with the run context in its environment', () => {
    const container = job.spec?.template.spec?.containers[0];
    // runner: inject (the default): the single-file runner the init container copied (test/kubernetes/runner-injection.test.ts).
    assert.deepEqual(container?.command, ['/kubescribe/kubescribe', 'run', '--timeout', '15m', '--grace', '20s', '--', 'python3', 'script.py', '--fast']);
    const list = envOf(job);
    assert.equal(env(list, 'KUBESCRIBE_RUN_ID')?.value, RUN);
    assert.equal(env(list, 'KUBESCRIBE_JOB')?.value, 'report');
    assert.deepEqual(JSON.parse(env(list, 'KUBESCRIBE_PARAMS')?.value ?? ''), { day: '2026-11-25', limit: 5 });
    assert.equal(env(list, POD_ENV.revision)?.value, '4');
    assert.equal(env(list, 'REPORT_DIR')?.value, 'out');
    // The job's env cannot override the runner's own variables.
    assert.equal(list.filter((e) => e.name === 'KUBESCRIBE_JOB').length, 1);
    // runner_runlog: api (the default): the runner records through the API with the pod's projected token.
    assert.equal(env(list, 'DATABASE_URL'), undefined);
    assert.equal(env(list, 'KUBESCRIBE_API_URL')?.value, 'http://kubescribe-api.batch.svc');
    assert.equal(env(list, 'KUBESCRIBE_TOKEN_FILE')?.value, RUNNER_TOKEN_PATH);
    assert.deepEqual(env(list, POD_ENV.pod)?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
    assert.deepEqual(env(list, POD_ENV.namespace)?.valueFrom, { fieldRef: { fieldPath: 'metadata.namespace' } });
    assert.deepEqual(env(list, POD_ENV.k8sJob)?.valueFrom, { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-name']" } });
  });

  it('applies the pod settings, the default image, and a job\'s own image and resources', () => {
    const pod = job.spec?.template.spec;
    assert.equal(pod?.containers[0]?.image, 'registry.example.com/kubescribe:1.0.0');
    assert.equal(pod?.serviceAccountName, 'kubescribe-runner');
    assert.deepEqual(pod?.imagePullSecrets, [{ name: 'regcred' }]);
    assert.deepEqual(pod?.nodeSelector, { pool: 'batch' });
    assert.deepEqual(pod?.tolerations, [{ key: 'dedicated', operator: 'Equal', value: 'batch', effect: 'NoSchedule' }]);
    assert.deepEqual(pod?.containers[0]?.resources, { requests: { cpu: '100m' }, limits: { memory: '256Mi' } });
    const own = runJobManifest({ definition: custom, settings, runId: RUN, params: {} }).spec?.template.spec?.containers[0];
    assert.equal(own?.image, 'registry.example.com/etl:7');
    assert.deepEqual(own?.resources, { requests: { memory: '4Gi' } });
  });
});

describe('how a job pod records its run (runner_runlog)', () => {
  const withSettings = (yaml: string) => parseConfig(`${CONFIG.replace('  ttl_after_finished: 1h\n', `  ttl_after_finished: 1h\n${yaml}`)}`, 'kubescribe.yaml');
  const podOf = (job: V1Job) => job.spec!.template.spec!;
  const pods = (cfg: ReturnType<typeof parseConfig>) => [
    podOf(runJobManifest({ definition: cfg.jobs.get('report')!, settings: cfg.kubernetes!, runId: RUN, params: {} })),
    podOf(runJobManifest({ definition: cfg.jobs.get('custom')!, settings: cfg.kubernetes!, runId: RUN, params: {} })),
    cronJobManifest(cfg.jobs.get('report')!, cfg.kubernetes!, 1).spec!.jobTemplate.spec!.template.spec!,
  ];

  it('api (the default): the API URL and a projected token for audience kubescribe, and no database credentials', () => {
    for (const pod of pods(config)) {
      const container = pod.containers[0]!;
      const list = container.env ?? [];
      assert.equal(env(list, 'DATABASE_URL'), undefined);
      assert.ok(!list.some((e) => e.valueFrom?.secretKeyRef), 'no Secret at all in a job pod\'s env');
      assert.deepEqual(podCredentialProblems(pod), []);
      assert.equal(env(list, 'KUBESCRIBE_API_URL')?.value, 'http://kubescribe-api.batch.svc');
      assert.equal(env(list, 'KUBESCRIBE_TOKEN_FILE')?.value, RUNNER_TOKEN_PATH);
      assert.equal(env(list, 'KUBESCRIBE_RUNLOG')?.value, 'api');
      assert.deepEqual(pod.volumes?.find((v) => v.name === 'kubescribe-token'), {
        name: 'kubescribe-token',
        projected: { sources: [{ serviceAccountToken: { audience: RUNNER_TOKEN_AUDIENCE, expirationSeconds: 3600, path: 'token' } }] },
      });
      assert.deepEqual(container.volumeMounts?.find((m) => m.name === 'kubescribe-token'), { name: 'kubescribe-token', mountPath: '/var/run/secrets/kubescribe', readOnly: true });
      assert.equal(RUNNER_TOKEN_PATH, '/var/run/secrets/kubescribe/token');
    }
  });

  it('api_url replaces the in-cluster Service URL', () => {
    for (const pod of pods(withSettings('  api_url: https://kubescribe.example.com\n'))) {
      assert.equal(env(pod.containers[0]!.env!, 'KUBESCRIBE_API_URL')?.value, 'https://kubescribe.example.com');
    }
  });

  it('direct: DATABASE_URL from its Secret as before, and no token nor API URL', () => {
    const direct = withSettings('  runner_runlog: direct\n');
    for (const pod of pods(direct)) {
      const list = pod.containers[0]!.env!;
      assert.deepEqual(env(list, 'DATABASE_URL'), { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'kubescribe-database', key: 'DATABASE_URL' } } });
      assert.equal(env(list, 'KUBESCRIBE_API_URL'), undefined);
      assert.equal(env(list, 'KUBESCRIBE_TOKEN_FILE'), undefined);
      assert.equal(env(list, 'KUBESCRIBE_RUNLOG')?.value, 'direct');
      assert.equal(pod.volumes?.some((v) => v.projected), false);
      assert.deepEqual(podCredentialProblems(pod), ['job: env DATABASE_URL', 'job: env DATABASE_URL from Secret kubescribe-database'], 'the checker sees it');
    }
    const job = runJobManifest({ definition: direct.jobs.get('report')!, settings: direct.kubernetes!, runId: RUN, params: {} });
    assert.deepEqual(validateManifest(job), []);
  });

  it('refuses an api_url with credentials, a query or another scheme, and an unknown runner_runlog, with the line', () => {
    for (const [yaml, message] of [
      ['  api_url: http://user:pw@api.example.com\n', /must not hold credentials/],
      ['  api_url: http://api.example.com/?x=1\n', /query or fragment/],
      ['  api_url: ftp://api.example.com\n', /http:\/\/ or https:\/\//],
      ['  runner_runlog: database\n', /api.*direct|direct.*api/],
    ] as const) {
      assert.throws(() => withSettings(yaml), (error: Error) => message.test(error.message) && /kubescribe\.yaml:\d+/.test(error.message), yaml);
    }
  });
});

describe('cronJobManifest', () => {
  const cron = cronJobManifest(report, settings, 7);

  it('validates against the official schema and the extra rules', () => {
    assert.deepEqual(validateManifest(cron), []);
    assert.deepEqual(validateManifest(cronJobManifest({ ...custom, schedule: '@hourly' }, defaultKubernetesSettings(), null)), []);
  });

  it('carries the schedule, time zone, policies, history limits, labels and the revision', () => {
    assert.equal(cron.metadata?.name, 'report');
    assert.equal(cron.metadata?.namespace, 'batch');
    assert.deepEqual(cron.metadata?.labels, { [MANAGED_BY_LABEL]: MANAGED_BY, [JOB_LABEL]: 'report' });
    assert.equal(cron.metadata?.annotations?.[REVISION_ANNOTATION], '7');
    assert.match(cron.metadata?.annotations?.[DEFINITION_HASH_ANNOTATION] ?? '', /^[0-9a-f]{64}$/);
    assert.equal(cron.spec?.schedule, '30 6 * * 1-5');
    assert.equal(cron.spec?.timeZone, 'Europe/Berlin');
    assert.equal(cron.spec?.concurrencyPolicy, 'Forbid');
    // 2 s asked for; the CronJob controller looks every 10 s, so less would skip slots.
    assert.equal(cron.spec?.startingDeadlineSeconds, 10);
    assert.equal(cron.spec?.successfulJobsHistoryLimit, 3);
    assert.equal(cron.spec?.failedJobsHistoryLimit, 1);
    assert.equal(cron.spec?.suspend, undefined);
    assert.equal(cronJobManifest(report, settings, 7, { suspend: true }).spec?.suspend, true);
    assert.equal(cronJobManifest(report, settings, null).metadata?.annotations?.[REVISION_ANNOTATION], undefined);
  });

  it('uses the same pod template as a triggered run, without a run id, marked as a schedule run', () => {
    const template = cron.spec?.jobTemplate.spec?.template;
    const triggered = runJobManifest({ definition: report, settings, runId: RUN, params: {}, revision: 7 }).spec?.template;
    assert.deepEqual(template?.spec?.containers[0]?.command, triggered?.spec?.containers[0]?.command);
    assert.equal(cron.spec?.jobTemplate.spec?.backoffLimit, 0);
    assert.equal(template?.spec?.restartPolicy, 'Never');
    assert.equal(template?.metadata?.labels?.[RUN_ID_LABEL], undefined);
    const list = template?.spec?.containers[0]?.env ?? [];
    assert.equal(env(list, 'KUBESCRIBE_RUN_ID'), undefined);
    assert.equal(env(list, 'KUBESCRIBE_TRIGGER')?.value, 'schedule');
    assert.equal(env(list, 'KUBESCRIBE_JOB')?.value, 'report');
  });

  it('refuses what a CronJob cannot express, naming the job and field', () => {
    assert.throws(() => cronJobManifest({ ...report, schedule: '*/5 * * * * *' }, settings, 1), (error: unknown) => {
      assert.ok(error instanceof ManifestError);
      assert.equal(error.field, 'schedule');
      assert.match(error.message, /^jobs\.report\.schedule: Kubernetes CronJobs take 5 cron fields \(no seconds\), got 6/);
      return true;
    });
    assert.throws(() => cronJobManifest({ ...report, schedule: '0 9 * * 5L' }, settings, 1), /"L", "W" and "#" are not supported/);
    assert.throws(() => cronJobManifest({ ...report, schedule: undefined }, settings, 1), /jobs\.report\.schedule: the job has no schedule/);
    // Month and day names are fine.
    assert.deepEqual(validateManifest(cronJobManifest({ ...report, schedule: '0 9 * JUL WED' }, settings, 1)), []);
  });

  it('reads the slot of a CronJob\'s Job from its name', () => {
    assert.deepEqual(scheduledTimeFromJobName('report', 'report-29400000'), new Date(29_400_000 * 60_000));
    assert.equal(scheduledTimeFromJobName('report', runJobName('report', RUN)), null);
    assert.equal(scheduledTimeFromJobName('report', 'report-daily-29400000'), null);
  });
});

describe('validateManifest', () => {
  const good = () => structuredClone(runJobManifest({ definition: report, settings, runId: RUN, params: {} })) as V1Job & Record<string, never>;

  it('rejects a Job whose pods would restart Always, set or unset', () => {
    const always = good();
    always.spec!.template.spec!.restartPolicy = 'Always';
    assert.deepEqual(validateManifest(always), [`Job ${always.metadata!.name}: spec.template.spec.restartPolicy: must be Never or OnFailure, got "Always"`]);
    const unset = good();
    delete unset.spec!.template.spec!.restartPolicy;
    assert.match(validateManifest(unset).join('\n'), /restartPolicy: must be Never or OnFailure, got null \(unset means Always\)/);
    const cron = structuredClone(cronJobManifest(report, settings, 1));
    cron.spec!.jobTemplate.spec!.template.spec!.restartPolicy = 'Always';
    assert.match(validateManifest(cron).join('\n'), /spec\.jobTemplate\.spec\.template\.spec\.restartPolicy: must be Never or OnFailure/);
  });

  it('rejects names that are not DNS-1123 or too long, and bad label values', () => {
    const upper = good();
    upper.metadata!.name = 'Report_1';
    assert.match(validateManifest(upper).join('\n'), /metadata\.name: "Report_1" must be lowercase letters/);
    const longJob = good();
    longJob.metadata!.name = 'a'.repeat(64);
    assert.match(validateManifest(longJob).join('\n'), /metadata\.name: must be at most 63 characters, got 64/);
    const cron = structuredClone(cronJobManifest(report, settings, 1));
    cron.metadata!.name = 'a'.repeat(53);
    assert.match(validateManifest(cron).join('\n'), /metadata\.name: must be at most 52 characters, got 53/);
    const label = good();
    label.metadata!.labels![JOB_LABEL] = 'not a label value!';
    assert.match(validateManifest(label).join('\n'), /metadata\.labels\.kubescribe\.io\/job: label value "not a label value!"/);
    const namespace = good();
    namespace.metadata!.namespace = 'Batch';
    assert.match(validateManifest(namespace).join('\n'), /metadata\.namespace: "Batch"/);
  });

  it('rejects a field of the wrong type through the official schema', () => {
    const wrong = good() as unknown as { spec: { backoffLimit: unknown; template: { spec: { containers: { image: unknown }[] } } } };
    wrong.spec.backoffLimit = 'none';
    assert.match(validateManifest(wrong).join('\n'), /schema: spec\/backoffLimit must be integer/);
    const image = good() as unknown as { spec: { template: { spec: { containers: { image: unknown }[] } } } };
    image.spec.template.spec.containers[0]!.image = 42;
    assert.match(validateManifest(image).join('\n'), /schema: spec\/template\/spec\/containers\/0\/image must be string/);
  });

  it('rejects duplicate env names, mounts of missing volumes, and a Deployment selector its pods do not match', () => {
    const dup = good();
    dup.spec!.template.spec!.containers[0]!.env!.push({ name: 'KUBESCRIBE_JOB', value: 'x' });
    assert.match(validateManifest(dup).join('\n'), /duplicate environment variable "KUBESCRIBE_JOB"/);
    const mount = good();
    mount.spec!.template.spec!.volumes = [];
    assert.match(validateManifest(mount).join('\n'), /volumeMounts\[0\]\.name: no volume named "kubescribe-config"/);
    const deployment = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api' },
      spec: { selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'api', image: 'x' }] } } },
    };
    assert.deepEqual(validateManifest(deployment), ['Deployment api: spec.selector: does not match the template labels (app=api)']);
  });

  it('rejects what it does not know rather than passing it', () => {
    assert.deepEqual(validateManifest({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }), ['Widget w: unsupported apiVersion/kind example.com/v1/Widget']);
    assert.deepEqual(validateManifest([]), ['expected a Kubernetes object, got a list']);
  });
});
