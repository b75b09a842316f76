// The objects the Kubernetes executor sends: one batch/v1 CronJob per scheduled job, and one batch/v1
// Job per triggered run built from the same pod template (what `kubectl create job --from=cronjob/X`
// does, plus the run id and params). Pure functions of the job definition and the settings, so the
// executor, `kubescribe render` and `?dry_run=true` all print exactly what is created.
import { createHash } from 'node:crypto';
import type {
  V1Affinity, V1EnvFromSource, V1PodSecurityContext, V1SecurityContext, V1Volume, V1VolumeMount,
  V1Container, V1CronJob, V1CronJobSpec, V1EnvVar, V1EnvVarSource, V1Job, V1JobSpec, V1ObjectMeta, V1PodSpec, V1PodTemplateSpec, V1ResourceRequirements,
} from '@kubernetes/client-node';
import { formatDuration } from '../config/durations.ts';
import { jobDefinitionHash, type JobDefinition } from '../config/job-definition.ts';
import type { KubernetesSettings, ResourceSettings } from '../config/kubernetes-config.ts';
import { injectRunner } from './runner-injection.ts';
import { mergePodOptions, type PodOptions } from '../config/pod-options-config.ts';
import { isDeniedEnv } from '../runner/child-env.ts';

/** Labels and annotations KubeScribe puts on what it creates, and selects what it owns by. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'kubescribe';
export const JOB_LABEL = 'kubescribe.io/job';
export const RUN_ID_LABEL = 'kubescribe.io/run-id';
export const REVISION_ANNOTATION = 'kubescribe.io/job-revision';
/** SHA-256 of the job definition a CronJob was built from: `apply` updates only what changed. */
export const DEFINITION_HASH_ANNOTATION = 'kubescribe.io/job-hash';
/** Set by the CronJob controller (Kubernetes 1.28+) on the Jobs it creates. */
export const SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** Set by the Job controller (Kubernetes 1.27+) on its pods. */
export const POD_JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
/** The container that runs the runner in every job pod. */
export const JOB_CONTAINER = 'job';
/** Where the config ConfigMap is mounted in every KubeScribe pod. */
export const CONFIG_DIR = '/etc/kubescribe';
export const CONFIG_PATH = `${CONFIG_DIR}/kubescribe.yaml`;
/** The API's Deployment and Service (rendered by manifests-install.ts); job pods reach the API through it. */
export const API_NAME = 'kubescribe-api';

/**
 * How a job pod proves which run it is (`runner_runlog: api`): a projected ServiceAccount token for this
 * audience only, which the API checks with TokenReview and maps to the pod's Job and run
 * (src/kubernetes/token-review.ts). The kubelet rewrites the file at 80 % of the token's life (after
 * ~48 min for 3600 s; Kubernetes accepts 600 s at least), so the runner re-reads it on a 401. A stolen
 * token is bound to its pod: it stops working when the pod is deleted, and the API refuses it once the pod has ended.
 */
export const RUNNER_TOKEN_AUDIENCE = 'kubescribe';
export const RUNNER_TOKEN_DIR = '/var/run/secrets/kubescribe';
export const RUNNER_TOKEN_PATH = `${RUNNER_TOKEN_DIR}/token`;
export const RUNNER_TOKEN_EXPIRATION_S = 3600;
const TOKEN_VOLUME = 'kubescribe-token';

/** The URL job pods record through: `kubernetes.api_url`, else the in-cluster Service `kubescribe render` creates (port 80). */
export function runnerApiUrl(settings: KubernetesSettings): string {
  return settings.api_url ?? `http://${API_NAME}.${settings.namespace}.svc`;
}

/**
 * What a job pod learns about itself through the downward API, so the runner can record where it ran
 * (executor_ref {namespace, job, pod}) and the revision it ran, without any access to the Kubernetes API.
 */
export const POD_ENV = {
  namespace: 'KUBESCRIBE_NAMESPACE',
  pod: 'KUBESCRIBE_POD_NAME',
  node: 'KUBESCRIBE_NODE_NAME',
  k8sJob: 'KUBESCRIBE_K8S_JOB',
  revision: 'KUBESCRIBE_JOB_REVISION',
} as const;

/** A job definition that cannot become a Kubernetes object, e.g. a cron expression with seconds. */
export class ManifestError extends Error {
  constructor(readonly job: string, readonly field: string, readonly reason: string) {
    super(`jobs.${job}.${field}: ${reason}`);
    this.name = 'ManifestError';
  }
}

// 63 (DNS-1123 label: the Job name is also its pods' `batch.kubernetes.io/job-name` label value)
// minus "-" and a 20-character run suffix leaves 42 characters of the job name.
const RUN_SUFFIX = 20;
const MAX_NAME = 63;
// Kubernetes' CronJob controller checks every 10 s; a shorter startingDeadlineSeconds can skip every slot.
const MIN_STARTING_DEADLINE_S = 10;
// Between the runner's own timeout (+ its grace) and the Job's hard deadline: time to record `timed_out`.
const DEADLINE_MARGIN_S = 30;
// Beyond the runner's grace, so the runner can still write its last record after its child exits.
const TERMINATION_MARGIN_S = 15;

/**
 * The Job name of a run: the job name (trimmed to fit) and 20 hex of the run id — its first 8 (the
 * millisecond time, the prefix the CLI shows) and its last 12 (random) — so retried dispatches of one run
 * always collide (`409 AlreadyExists` = already done) and two runs never do.
 */
export function runJobName(job: string, runId: string): string {
  const hex = runId.toLowerCase().replace(/[^0-9a-z]/g, '');
  const suffix = hex.length > RUN_SUFFIX ? `${hex.slice(0, 8)}${hex.slice(-12)}` : hex;
  const head = job.toLowerCase().replace(/[^-a-z0-9]/g, '-').slice(0, MAX_NAME - 1 - suffix.length).replace(/^-+|-+$/g, '');
  return head ? `${head}-${suffix}` : suffix;
}

// The runner reads the same names in a pod; the parser lives on its own for it.
export { scheduledTimeFromJobName } from './cronjob-job-name.ts';

function ownLabels(job: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY, [JOB_LABEL]: job };
}

function resourceRequirements(resources: ResourceSettings): V1ResourceRequirements | undefined {
  const out: V1ResourceRequirements = {};
  if (Object.keys(resources.requests).length > 0) out.requests = { ...resources.requests };
  if (Object.keys(resources.limits).length > 0) out.limits = { ...resources.limits };
  return out.requests || out.limits ? out : undefined;
}

const seconds = (ms: number) => Math.ceil(ms / 1000);

function runnerCommand(definition: JobDefinition): string[] {
  if (definition.command.length === 0) throw new ManifestError(definition.name, 'command', 'no command to run');
  // The runner's own timeout fires first and records `timed_out`; the Job's deadline is the backstop.
  const timeout = definition.timeout_ms === undefined ? [] : ['--timeout', formatDuration(definition.timeout_ms)];
  return ['kubescribe', 'run', ...timeout, '--grace', formatDuration(definition.grace_period_ms), '--', ...definition.command];
}

/** The env every job pod gets, in addition to the job's own env. */
function runnerEnv(definition: JobDefinition, settings: KubernetesSettings, revision: number | null | undefined, extra: V1EnvVar[]): V1EnvVar[] {
  const field = (fieldPath: string): V1EnvVarSource => ({ fieldRef: { fieldPath } });
  const ours: V1EnvVar[] = [
    { name: 'KUBESCRIBE_JOB', value: definition.name },
    ...extra,
    ...(revision === null || revision === undefined ? [] : [{ name: POD_ENV.revision, value: String(revision) }]),
    { name: 'KUBESCRIBE_CONFIG', value: CONFIG_PATH },
    // The image's working directory may be read-only; the runner's offline buffer only has to outlive the pod's runner.
    { name: 'KUBESCRIBE_HOME', value: '/tmp/kubescribe' },
    // `api`: the runner records through the API with the pod's own token, which can touch this run only;
    // the RunLog's credentials (every team's runs) stay out of the pod. `direct` is the explicit opt-out.
    // KUBESCRIBE_RUNLOG says it outright, so the runner never falls back to another sink (an embedded
    // RunLog in the pod's /tmp would vanish with the pod).
    ...(settings.runner_runlog === 'direct'
      ? [
          { name: 'KUBESCRIBE_RUNLOG', value: 'direct' },
          { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: settings.database_secret.name, key: settings.database_secret.key } } },
        ]
      : [
          { name: 'KUBESCRIBE_RUNLOG', value: 'api' },
          { name: 'KUBESCRIBE_API_URL', value: runnerApiUrl(settings) },
          { name: 'KUBESCRIBE_TOKEN_FILE', value: RUNNER_TOKEN_PATH },
        ]),
    { name: POD_ENV.namespace, valueFrom: field('metadata.namespace') },
    { name: POD_ENV.pod, valueFrom: field('metadata.name') },
    { name: POD_ENV.node, valueFrom: field('spec.nodeName') },
    { name: POD_ENV.k8sJob, valueFrom: field(`metadata.labels['${POD_JOB_NAME_LABEL}']`) },
  ];
  const taken = new Set(ours.map((env) => env.name));
  // `kubernetes.env` first, then the job's own `env`: per variable, the job's entry (plain or reference) wins.
  const merged = new Map<string, V1EnvVar>();
  const add = (plain: Record<string, string>, refs: PodOptions['env_refs']) => {
    for (const [name, value] of Object.entries(plain)) merged.set(name, { name, value });
    for (const [name, ref] of Object.entries(refs ?? {})) {
      const optional = ref.optional === undefined ? {} : { optional: ref.optional };
      merged.set(name, {
        name,
        valueFrom: ref.secret !== undefined
          ? { secretKeyRef: { name: ref.secret, key: ref.key, ...optional } }
          : { configMapKeyRef: { name: ref.config_map as string, key: ref.key, ...optional } },
      });
    }
  };
  add(settings.env, settings.pod.env_refs);
  add(definition.env, definition.pod?.env_refs);
  // The runner drops deny-listed names (PG*, NOTIFY_*...) from the job's environment unless they are
  // the job's declared env; a Secret reference is declared too, so the runner is told to pass it on.
  const refNames = [...merged.values()].filter((env) => env.valueFrom && isDeniedEnv(env.name) && !env.name.startsWith('KUBESCRIBE_')).map((env) => env.name);
  if (refNames.length > 0) {
    const declared = merged.get('KUBESCRIBE_PASS_ENV')?.value;
    merged.set('KUBESCRIBE_PASS_ENV', { name: 'KUBESCRIBE_PASS_ENV', value: [...(declared ? [declared] : []), ...refNames].join(',') });
  }
  const user = [...merged.values()].filter((env) => !taken.has(env.name));
  return [...user, ...ours];
}

/** The job's pod options over the `kubernetes:` defaults, the older top-level settings included. */
export function podOptions(definition: JobDefinition, settings: KubernetesSettings): PodOptions {
  return mergePodOptions({
    ...settings.pod,
    service_account: settings.service_account,
    ...(settings.image_pull_policy ? { image_pull_policy: settings.image_pull_policy } : {}),
    node_selector: settings.node_selector,
    tolerations: settings.tolerations,
    resources: definition.resources ?? settings.resources,
  }, definition.pod);
}

// Job pods run the user's image, often as root (python:3.x): no runAsNonRoot by default, but never more
// privilege than that — no escalation, every capability dropped, the runtime's seccomp profile.
// `security_context` may set ids, run_as_non_root and a read-only root filesystem, nothing that adds privilege.
function securityContexts(options: PodOptions): { pod: V1PodSecurityContext; container: V1SecurityContext } {
  const sc = options.security_context ?? {};
  const pod: V1PodSecurityContext = { seccompProfile: { type: 'RuntimeDefault' } };
  if (sc.run_as_user !== undefined) pod.runAsUser = sc.run_as_user;
  if (sc.run_as_group !== undefined) pod.runAsGroup = sc.run_as_group;
  if (sc.fs_group !== undefined) pod.fsGroup = sc.fs_group;
  if (sc.run_as_non_root !== undefined) pod.runAsNonRoot = sc.run_as_non_root;
  const container: V1SecurityContext = { allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } };
  if (sc.read_only_root_filesystem !== undefined) container.readOnlyRootFilesystem = sc.read_only_root_filesystem;
  return { pod, container };
}

function userVolumes(options: PodOptions): V1Volume[] {
  return (options.volumes ?? []).map((v): V1Volume => {
    if (v.pvc !== undefined) return { name: v.name, persistentVolumeClaim: { claimName: v.pvc, ...(v.read_only ? { readOnly: true } : {}) } };
    if (v.secret !== undefined) return { name: v.name, secret: { secretName: v.secret, ...(v.optional === undefined ? {} : { optional: v.optional }) } };
    if (v.config_map !== undefined) return { name: v.name, configMap: { name: v.config_map, ...(v.optional === undefined ? {} : { optional: v.optional }) } };
    return { name: v.name, emptyDir: { ...(v.empty_dir?.medium ? { medium: v.empty_dir.medium } : {}), ...(v.empty_dir?.size_limit ? { sizeLimit: v.empty_dir.size_limit } : {}) } };
  });
}

function userMounts(options: PodOptions): V1VolumeMount[] {
  return (options.volume_mounts ?? []).map((m) => ({
    name: m.name, mountPath: m.path, ...(m.read_only ? { readOnly: true } : {}), ...(m.sub_path ? { subPath: m.sub_path } : {}),
  }));
}

function envFrom(options: PodOptions): V1EnvFromSource[] {
  return (options.env_from ?? []).map((f): V1EnvFromSource => {
    const ref = { name: (f.secret ?? f.config_map) as string, ...(f.optional === undefined ? {} : { optional: f.optional }) };
    return { ...(f.prefix ? { prefix: f.prefix } : {}), ...(f.secret !== undefined ? { secretRef: ref } : { configMapRef: ref }) };
  });
}

function podTemplate(input: {
  definition: JobDefinition; settings: KubernetesSettings; labels: Record<string, string>;
  annotations: Record<string, string>; revision: number | null | undefined; env: V1EnvVar[];
}): V1PodTemplateSpec {
  const { definition, settings } = input;
  const options = podOptions(definition, settings);
  const security = securityContexts(options);
  const container: V1Container = {
    name: JOB_CONTAINER,
    image: definition.image ?? settings.image,
    command: runnerCommand(definition),
    env: runnerEnv(definition, settings, input.revision, input.env),
    volumeMounts: [
      { name: 'kubescribe-config', mountPath: CONFIG_DIR, readOnly: true },
      ...(settings.runner_runlog === 'api' ? [{ name: TOKEN_VOLUME, mountPath: RUNNER_TOKEN_DIR, readOnly: true }] : []),
      ...userMounts(options),
    ],
    securityContext: security.container,
  };
  const from = envFrom(options);
  if (from.length > 0) container.envFrom = from;
  if (options.image_pull_policy) container.imagePullPolicy = options.image_pull_policy;
  const resources = options.resources && resourceRequirements(options.resources);
  if (resources) container.resources = resources;
  const spec: V1PodSpec = {
    restartPolicy: 'Never',
    serviceAccountName: options.service_account ?? settings.service_account,
    terminationGracePeriodSeconds: seconds(definition.grace_period_ms) + TERMINATION_MARGIN_S,
    securityContext: security.pod,
    containers: [container],
    // Optional: a pod without the ConfigMap still runs, the runner then knows only what its env says.
    volumes: [
      { name: 'kubescribe-config', configMap: { name: settings.config_map, optional: true } },
      // Projected even when the service account has automountServiceAccountToken: false (the rendered
      // runner account): that setting governs the API-audience token only. This one is good for KubeScribe only.
      ...(settings.runner_runlog === 'api'
        ? [{
            name: TOKEN_VOLUME,
            projected: { sources: [{ serviceAccountToken: { audience: RUNNER_TOKEN_AUDIENCE, expirationSeconds: RUNNER_TOKEN_EXPIRATION_S, path: 'token' } }] },
          }]
        : []),
      ...userVolumes(options),
    ],
  };
  // `runner: inject`: an init container brings the runner, the job keeps its own image (runner-injection.ts).
  injectRunner(spec, container, definition, settings);
  if (settings.image_pull_secrets.length > 0) spec.imagePullSecrets = settings.image_pull_secrets.map((name) => ({ name }));
  if (options.node_selector && Object.keys(options.node_selector).length > 0) spec.nodeSelector = { ...options.node_selector };
  if (options.tolerations && options.tolerations.length > 0) {
    spec.tolerations = options.tolerations.map((t) => ({
      ...(t.key === undefined ? {} : { key: t.key }),
      ...(t.operator === undefined ? {} : { operator: t.operator }),
      ...(t.value === undefined ? {} : { value: t.value }),
      ...(t.effect === undefined ? {} : { effect: t.effect }),
      ...(t.toleration_seconds === undefined ? {} : { tolerationSeconds: t.toleration_seconds }),
    }));
  }
  if (options.priority_class) spec.priorityClassName = options.priority_class;
  if (options.affinity) spec.affinity = structuredClone(options.affinity) as V1Affinity;
  // The user's labels first: KubeScribe's own (refused in the config anyway) always win.
  const metadata: V1ObjectMeta = { labels: { ...options.pod_labels, ...input.labels } };
  const annotations = { ...options.pod_annotations, ...input.annotations };
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  return { metadata, spec };
}

function jobSpec(definition: JobDefinition, settings: KubernetesSettings, template: V1PodTemplateSpec): V1JobSpec {
  // Every attempt is a run: KubeScribe retries with a new run, Kubernetes never retries a pod.
  const spec: V1JobSpec = { backoffLimit: 0, template };
  if (definition.timeout_ms !== undefined) {
    spec.activeDeadlineSeconds = seconds(definition.timeout_ms) + seconds(definition.grace_period_ms) + DEADLINE_MARGIN_S;
  }
  if (settings.ttl_seconds_after_finished !== null) spec.ttlSecondsAfterFinished = settings.ttl_seconds_after_finished;
  return spec;
}

function revisionAnnotations(revision: number | null | undefined): Record<string, string> {
  return revision === null || revision === undefined ? {} : { [REVISION_ANNOTATION]: String(revision) };
}

/** The Job of one triggered run: created after the run is recorded as `queued`; its runner adopts the run. */
export function runJobManifest(input: {
  definition: JobDefinition; settings: KubernetesSettings; runId: string;
  params: Record<string, unknown>; revision?: number | null;
}): V1Job {
  const { definition, settings, runId } = input;
  const labels = { ...ownLabels(definition.name), [RUN_ID_LABEL]: runId };
  const annotations = revisionAnnotations(input.revision);
  const template = podTemplate({
    definition, settings, labels, annotations, revision: input.revision,
    env: [{ name: 'KUBESCRIBE_RUN_ID', value: runId }, { name: 'KUBESCRIBE_PARAMS', value: JSON.stringify(input.params) }],
  });
  const metadata: V1ObjectMeta = { name: runJobName(definition.name, runId), namespace: settings.namespace, labels: { ...labels } };
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  return { apiVersion: 'batch/v1', kind: 'Job', metadata, spec: jobSpec(definition, settings, template) };
}

/** Why a cron expression cannot be a CronJob schedule (seconds, croner-only syntax), or null. */
export function kubernetesScheduleProblem(schedule: string): string | null {
  const trimmed = schedule.trim();
  if (trimmed.startsWith('@')) return null;
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 5) return `Kubernetes CronJobs take 5 cron fields (no seconds), got ${fields.length}: ${JSON.stringify(schedule)}`;
  // "5L" (last Friday), "15W" (nearest weekday), "5#2" (second Friday) are croner's, not Kubernetes'.
  if (/#|\bL\b|\bLW\b|\d+[LW]\b/i.test(trimmed)) return `"L", "W" and "#" are not supported by Kubernetes CronJobs: ${JSON.stringify(schedule)}`;
  return null;
}

/**
 * The CronJob of a scheduled job. `suspend` is the job's current suspension (the API's suspend/resume),
 * which an update must keep; `revision` null leaves the revision annotation out (render knows no RunLog). Its Jobs carry no run id: their runner creates a `schedule` run.
 */
export function cronJobManifest(definition: JobDefinition, settings: KubernetesSettings, revision: number | null | undefined, options: { suspend?: boolean } = {}): V1CronJob {
  if (!definition.schedule) throw new ManifestError(definition.name, 'schedule', 'the job has no schedule, so it has no CronJob');
  const problem = kubernetesScheduleProblem(definition.schedule);
  if (problem) throw new ManifestError(definition.name, 'schedule', problem);
  const labels = ownLabels(definition.name);
  const annotations = revisionAnnotations(revision);
  const template = podTemplate({
    definition, settings, labels, annotations, revision,
    env: [{ name: 'KUBESCRIBE_TRIGGER', value: 'schedule' }, { name: 'KUBESCRIBE_TRIGGERED_BY', value: `cronjob/${definition.name}` }],
  });
  const metadata: V1ObjectMeta = {
    name: definition.name, namespace: settings.namespace, labels: { ...labels },
    annotations: { ...annotations, [DEFINITION_HASH_ANNOTATION]: jobDefinitionHash(definition) },
  };
  const spec: V1CronJobSpec = {
    schedule: definition.schedule,
    timeZone: definition.time_zone,
    concurrencyPolicy: definition.concurrency_policy,
    successfulJobsHistoryLimit: settings.successful_jobs_history_limit,
    failedJobsHistoryLimit: settings.failed_jobs_history_limit,
    jobTemplate: {
      metadata: { labels: { ...labels }, ...(Object.keys(annotations).length > 0 ? { annotations: { ...annotations } } : {}) },
      spec: jobSpec(definition, settings, template),
    },
  };
  // Left out when not given, so a GitOps re-apply of rendered CronJobs never undoes a suspend made through the API.
  if (options.suspend !== undefined) spec.suspend = options.suspend;
  if (definition.starting_deadline_ms !== undefined) {
    spec.startingDeadlineSeconds = Math.max(MIN_STARTING_DEADLINE_S, seconds(definition.starting_deadline_ms));
  }
  return { apiVersion: 'batch/v1', kind: 'CronJob', metadata, spec };
}

/** A short, stable hash of any JSON value: names and annotations that change exactly when their content does. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 10);
}
