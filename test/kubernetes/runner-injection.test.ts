// `runner: inject | image`: the init container that copies the single-file runner into the pod and
// the job container's command that runs it, on Jobs and CronJobs, checked against the official
// Kubernetes schemas; `runner: image` leaves the pod as it was before injection existed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1PodSpec } from '@kubernetes/client-node';
import { ConfigError } from '../../src/config/job-definition.ts';
import { parseConfig, type JobDefinition } from '../../src/config/job-config.ts';
import type { KubernetesSettings } from '../../src/config/kubernetes-config.ts';
import { cronJobManifest, runJobManifest } from '../../src/kubernetes/manifests.ts';
import { RUNNER_IMAGE_PATH, RUNNER_INIT_CONTAINER, RUNNER_PATH, RUNNER_VOLUME } from '../../src/kubernetes/runner-injection.ts';
import { validateManifest } from '../../src/kubernetes/validate.ts';
import { podCredentialProblems } from '../support/pod-credentials.ts';

const RUN = '019ac1d2-3e4f-7a5b-8c6d-7e8f9a0b1c2d';
const yaml = (runner: string, jobRunner = '') => `
executor: kubernetes
kubernetes:
  namespace: data
  image: registry.example.com/kubescribe:0.2.0
  image_pull_policy: IfNotPresent
${runner ? `  runner: ${runner}\n` : ''}jobs:
  sales-report:
    image: registry.example.com/data/sales-report:14
    command: ["python", "script.py", "--input", "s3://bucket/sales.csv"]
    schedule: "0 6 * * *"
    timeout: 30m
${jobRunner ? `    runner: ${jobRunner}\n` : ''}`;

function manifests(text: string) {
  const config = parseConfig(text, 'kubescribe.yaml');
  const settings = config.kubernetes as KubernetesSettings;
  const definition = config.jobs.get('sales-report') as JobDefinition;
  const job = runJobManifest({ definition, settings, runId: RUN, params: {} });
  const cron = cronJobManifest(definition, settings, null);
  return { job, cron, pods: [job.spec!.template.spec!, cron.spec!.jobTemplate.spec!.template.spec!] as V1PodSpec[] };
}

describe('runner: inject (the default)', () => {
  const { job, cron, pods } = manifests(yaml(''));

  it('validates against the official schemas, Job and CronJob, and holds no credential', () => {
    assert.deepEqual(validateManifest(job), []);
    assert.deepEqual(validateManifest(cron), []);
    for (const pod of pods) assert.deepEqual(podCredentialProblems(pod), []);
  });

  it('keeps the job\'s own image and runs its unchanged command behind the injected runner', () => {
    for (const pod of pods) {
      const [container] = pod.containers;
      assert.equal(container?.image, 'registry.example.com/data/sales-report:14');
      assert.deepEqual(container?.command, [RUNNER_PATH, 'run', '--timeout', '30m', '--grace', '10s', '--', 'python', 'script.py', '--input', 's3://bucket/sales.csv']);
      assert.deepEqual(container?.volumeMounts?.find((m) => m.name === RUNNER_VOLUME), { name: RUNNER_VOLUME, mountPath: '/kubescribe', readOnly: true });
    }
  });

  it('copies the runner from the KubeScribe image into an emptyDir, as a small, hardened init container', () => {
    for (const pod of pods) {
      assert.deepEqual(pod.initContainers, [{
        name: RUNNER_INIT_CONTAINER,
        image: 'registry.example.com/kubescribe:0.2.0',
        imagePullPolicy: 'IfNotPresent',
        command: ['cp', RUNNER_IMAGE_PATH, RUNNER_PATH],
        volumeMounts: [{ name: RUNNER_VOLUME, mountPath: '/kubescribe' }],
        resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
        securityContext: {
          runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001,
          allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        },
      }]);
      assert.deepEqual(pod.volumes?.find((v) => v.name === RUNNER_VOLUME), { name: RUNNER_VOLUME, emptyDir: { sizeLimit: '256Mi' } });
    }
  });
});

describe('runner: image', () => {
  const image = manifests(yaml('image'));
  const inject = manifests(yaml(''));

  it('is the pod as before injection: no init container, no volume, `kubescribe` from the image\'s PATH', () => {
    for (const pod of image.pods) {
      assert.equal(pod.initContainers, undefined);
      assert.equal(pod.volumes?.some((v) => v.name === RUNNER_VOLUME), false);
      assert.equal(pod.containers[0]?.volumeMounts?.some((m) => m.name === RUNNER_VOLUME), false);
      assert.equal(pod.containers[0]?.command?.[0], 'kubescribe');
    }
    assert.deepEqual(validateManifest(image.job), []);
    assert.deepEqual(validateManifest(image.cron), []);
  });

  it('differs from inject only by the init container, its volume and mount, and the command\'s first word', () => {
    const strip = (pod: V1PodSpec) => {
      const copy = structuredClone(pod);
      delete copy.initContainers;
      copy.volumes = copy.volumes?.filter((v) => v.name !== RUNNER_VOLUME);
      copy.containers[0]!.volumeMounts = copy.containers[0]!.volumeMounts?.filter((m) => m.name !== RUNNER_VOLUME);
      copy.containers[0]!.command = ['kubescribe', ...copy.containers[0]!.command!.slice(1)];
      return copy;
    };
    assert.deepEqual(strip(inject.pods[0]!), image.pods[0]);
    assert.deepEqual(strip(inject.pods[1]!), image.pods[1]);
  });

  it('a job\'s own runner: replaces kubernetes.runner, both ways', () => {
    assert.equal(manifests(yaml('image', 'inject')).pods[0]!.initContainers?.length, 1);
    assert.equal(manifests(yaml('inject', 'image')).pods[0]!.initContainers, undefined);
  });

  it('any other value is a config error at its line', () => {
    for (const [text, line, path] of [[yaml('sidecar'), 7, 'kubernetes.runner'], [yaml('', 'copy'), 13, 'jobs.sales-report.runner']] as const) {
      assert.throws(() => parseConfig(text, 'kubescribe.yaml'), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.issues.map((i) => [i.line, i.path]), [[line, path]]);
        assert.match(error.message, /inject|image/);
        return true;
      });
    }
  });
});
