// `runner: inject` (the default): the job keeps its own, unchanged image. An init container from the
// KubeScribe image copies the single-file runner (scripts/build-runner.mjs) into an emptyDir, and the
// job's container runs `/kubescribe/kubescribe run ... -- <its command>` — the pattern of Argo's
// emissary executor. The runner is a self-contained executable (Node.js inside), so the job's image
// needs no Node.js, no shell and no KubeScribe; it must be glibc-based (docs/kubernetes.md).
import type { V1Container, V1PodSpec, V1SecurityContext } from '@kubernetes/client-node';
import type { JobDefinition } from '../config/job-definition.ts';
import type { KubernetesSettings, RunnerMode } from '../config/kubernetes-config.ts';

/** Where the Dockerfile puts the single-file runner in the KubeScribe image. */
export const RUNNER_IMAGE_PATH = '/app/dist/runner/kubescribe';
/** Where job containers find it: the shared emptyDir. */
export const RUNNER_DIR = '/kubescribe';
export const RUNNER_PATH = `${RUNNER_DIR}/kubescribe`;
export const RUNNER_VOLUME = 'kubescribe-runner';
export const RUNNER_INIT_CONTAINER = 'kubescribe-runner';

// The executable is the node binary plus a ~0.5 MB bundle: ~99 MB (Node 20) to ~120 MB (Node 24).
// The volume counts against the pod's ephemeral storage; the limit leaves room for a bigger Node.
const VOLUME_SIZE_LIMIT = '256Mi';

// The uid of the KubeScribe image (Dockerfile); the copy needs no privilege and no writable root.
const INIT_SECURITY: V1SecurityContext = {
  runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001,
  allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** The job's `runner:`, else `kubernetes.runner`. */
export function runnerMode(definition: JobDefinition, settings: KubernetesSettings): RunnerMode {
  return definition.runner ?? settings.runner;
}

/**
 * With `runner: inject`, adds the init container and the volume to `spec` and points `container`'s
 * command at the injected runner (its first word, `kubescribe`, becomes RUNNER_PATH). `image` changes nothing.
 */
export function injectRunner(spec: V1PodSpec, container: V1Container, definition: JobDefinition, settings: KubernetesSettings): void {
  if (runnerMode(definition, settings) !== 'inject') return;
  const init: V1Container = {
    name: RUNNER_INIT_CONTAINER,
    image: settings.image,
    // cp keeps the mode (0755): the job's container may run as any uid and only needs to read and execute it.
    command: ['cp', RUNNER_IMAGE_PATH, RUNNER_PATH],
    volumeMounts: [{ name: RUNNER_VOLUME, mountPath: RUNNER_DIR }],
    // A copy of ~120 MB: little CPU; the page cache it fills is reclaimable, so a small memory limit holds.
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
    securityContext: INIT_SECURITY,
  };
  if (settings.image_pull_policy) init.imagePullPolicy = settings.image_pull_policy;
  spec.initContainers = [...(spec.initContainers ?? []), init];
  spec.volumes = [...(spec.volumes ?? []), { name: RUNNER_VOLUME, emptyDir: { sizeLimit: VOLUME_SIZE_LIMIT } }];
  container.volumeMounts = [...(container.volumeMounts ?? []), { name: RUNNER_VOLUME, mountPath: RUNNER_DIR, readOnly: true }];
  const [first, ...rest] = container.command ?? [];
  if (first === 'kubescribe') container.command = [RUNNER_PATH, ...rest];
}
