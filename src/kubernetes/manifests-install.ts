// What installs KubeScribe in a namespace, as `kubescribe render` prints it: the API's ServiceAccount with
// a least-privilege Role, the config as a ConfigMap, the API Deployment and Service, and a migration Job.
// Credentials are only ever Secret *references* (secretKeyRef / secretRef): the user creates the Secrets.
// None of these objects carries `app.kubernetes.io/managed-by: kubescribe`: that label marks the Jobs and
// CronJobs the executor owns and watches, and the API's own pods must never look like a run.
import type {
  V1ClusterRole, V1ClusterRoleBinding, V1ConfigMap, V1Container, V1Deployment, V1EnvVar, V1EnvFromSource, V1Job, V1ObjectMeta, V1PodSecurityContext,
  V1PodSpec, V1Role, V1RoleBinding, V1SecurityContext, V1Service, V1ServiceAccount,
} from '@kubernetes/client-node';
import type { KubernetesSettings, ResourceSettings } from '../config/kubernetes-config.ts';
import { API_NAME, CONFIG_DIR, CONFIG_PATH, contentHash, POD_ENV } from './manifests.ts';

export { API_NAME };
export const API_SERVICE_ACCOUNT = 'kubescribe';
export const CONFIG_HASH_ANNOTATION = 'kubescribe.io/config-hash';
// A fixed, non-zero uid that the Dockerfile's USER also names, so `runAsNonRoot` can be verified by the kubelet.
export const RUN_AS_USER = 10001;
/** Where the API pods find the first admin token (KUBESCRIBE_ADMIN_TOKEN_FILE), from an optional Secret. */
export const ADMIN_TOKEN_DIR = '/var/run/secrets/kubescribe-admin';
export const ADMIN_TOKEN_KEY = 'token';

const PART_OF = { 'app.kubernetes.io/name': 'kubescribe', 'app.kubernetes.io/part-of': 'kubescribe' };

/**
 * Least privilege for the API's executor: Jobs and CronJobs it creates, watches, patches (suspend) and
 * deletes (cancel, removed schedules); pods and their logs it only reads (phases, exit reasons, digests).
 */
export const API_RULES = [
  { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['create', 'get', 'list', 'watch', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
];

/**
 * What the API needs to check a job pod's token (`runner_runlog: api`): TokenReview, which Kubernetes
 * only grants cluster-wide. Its own ClusterRole rather than `system:auth-delegator`, which also grants
 * SubjectAccessReviews the API never makes. Reading the pod and its Job and CronJob is in API_RULES.
 */
export const TOKEN_REVIEW_RULES = [
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
];

function meta(name: string, namespace: string, component: string, extra: Partial<V1ObjectMeta> = {}): V1ObjectMeta {
  return { name, namespace, labels: { ...PART_OF, 'app.kubernetes.io/component': component }, ...extra };
}

function resources(settings: ResourceSettings): V1Container['resources'] {
  const out: NonNullable<V1Container['resources']> = {};
  if (Object.keys(settings.requests).length > 0) out.requests = { ...settings.requests };
  if (Object.keys(settings.limits).length > 0) out.limits = { ...settings.limits };
  return out;
}

const POD_SECURITY: V1PodSecurityContext = {
  runAsNonRoot: true, runAsUser: RUN_AS_USER, runAsGroup: RUN_AS_USER, fsGroup: RUN_AS_USER,
  seccompProfile: { type: 'RuntimeDefault' },
};
const CONTAINER_SECURITY: V1SecurityContext = {
  allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] },
};

/** The env of the API and migration pods: DATABASE_URL by reference, the mounted config, a writable home. */
function serverEnv(settings: KubernetesSettings, database = settings.database_secret): V1EnvVar[] {
  return [
    { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: database.name, key: database.key } } },
    { name: 'KUBESCRIBE_CONFIG', value: CONFIG_PATH },
    { name: 'KUBESCRIBE_HOME', value: '/tmp/kubescribe' },
    { name: POD_ENV.namespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: POD_ENV.pod, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  ];
}

// The read-only root filesystem needs somewhere to write: /tmp (KUBESCRIBE_HOME, Node's own temp files).
function serverPod(settings: KubernetesSettings, container: V1Container, extra: Partial<V1PodSpec>): V1PodSpec {
  const spec: V1PodSpec = {
    securityContext: POD_SECURITY,
    containers: [{
      ...container,
      securityContext: CONTAINER_SECURITY,
      volumeMounts: [{ name: 'config', mountPath: CONFIG_DIR, readOnly: true }, { name: 'tmp', mountPath: '/tmp' }],
    }],
    volumes: [{ name: 'config', configMap: { name: settings.config_map } }, { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }],
    ...extra,
  };
  if (settings.image_pull_secrets.length > 0) spec.imagePullSecrets = settings.image_pull_secrets.map((name) => ({ name }));
  return spec;
}

function image(settings: KubernetesSettings): Pick<V1Container, 'image' | 'imagePullPolicy'> {
  return { image: settings.api.image ?? settings.image, ...(settings.image_pull_policy ? { imagePullPolicy: settings.image_pull_policy } : {}) };
}

/** The API's identity, and (unless the user brings their own) the job pods' identity, which needs no API access. */
export function serviceAccountManifests(settings: KubernetesSettings, options: { runnerAccount: boolean }): V1ServiceAccount[] {
  const out: V1ServiceAccount[] = [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(API_SERVICE_ACCOUNT, settings.namespace, 'api') }];
  if (options.runnerAccount) {
    out.push({
      apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(settings.service_account, settings.namespace, 'runner'),
      automountServiceAccountToken: false,
    });
  }
  return out;
}

/** The Role and RoleBinding that give the API exactly API_RULES, in its own namespace only. */
export function rbacManifests(settings: KubernetesSettings): [V1Role, V1RoleBinding] {
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta('kubescribe-executor', settings.namespace, 'api'), rules: API_RULES },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta('kubescribe-executor', settings.namespace, 'api'),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kubescribe-executor' },
      subjects: [{ kind: 'ServiceAccount', name: API_SERVICE_ACCOUNT, namespace: settings.namespace }],
    },
  ];
}

/**
 * The ClusterRole and ClusterRoleBinding of TOKEN_REVIEW_RULES for the API's ServiceAccount; named after
 * the namespace, since cluster-scoped names are shared by every install in the cluster.
 */
export function tokenReviewRbacManifests(settings: KubernetesSettings): [V1ClusterRole, V1ClusterRoleBinding] {
  const name = `kubescribe-tokenreview-${settings.namespace}`;
  const metadata = (): V1ObjectMeta => ({ name, labels: { ...PART_OF, 'app.kubernetes.io/component': 'api' } });
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: metadata(), rules: TOKEN_REVIEW_RULES },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: metadata(),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: API_SERVICE_ACCOUNT, namespace: settings.namespace }],
    },
  ];
}

/** kubescribe.yaml as a ConfigMap: the API, the migration Job and every job pod read it from CONFIG_PATH. */
export function configMapManifest(settings: KubernetesSettings, configText: string): V1ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(settings.config_map, settings.namespace, 'config'), data: { 'kubescribe.yaml': configText } };
}

/**
 * The Grafana dashboard (deploy/grafana/kubescribe.json) as a ConfigMap that Grafana's dashboard
 * sidecar (kiwigrid k8s-sidecar, as in the Grafana and kube-prometheus-stack Helm charts) picks up
 * by its default label, `grafana_dashboard: "1"`.
 */
export function grafanaDashboardManifest(settings: KubernetesSettings, dashboardJson: string): V1ConfigMap {
  const metadata = meta('kubescribe-grafana-dashboard', settings.namespace, 'grafana-dashboard');
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { ...metadata, labels: { ...metadata.labels, grafana_dashboard: '1' } }, data: { 'kubescribe.json': dashboardJson } };
}

/** The API server: 2 replicas by default, probes on /healthz and /readyz, non-root, read-only root filesystem. */
export function apiDeploymentManifest(settings: KubernetesSettings, configText: string): V1Deployment {
  const selector = { 'app.kubernetes.io/name': 'kubescribe', 'app.kubernetes.io/component': 'api' };
  // SMTP and Slack credentials, when their Secrets exist: issue 5's server-side alerting reads SMTP_URL,
  // NOTIFY_EMAIL_FROM/TO and SLACK_WEBHOOK_URL from the environment.
  const envFrom: V1EnvFromSource[] = [
    { secretRef: { name: settings.smtp_secret, optional: true } },
    { secretRef: { name: settings.slack_secret, optional: true } },
  ];
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'http' }, periodSeconds, failureThreshold, timeoutSeconds: 3,
  });
  const container: V1Container = {
    name: 'api',
    ...image(settings),
    // serve listens on loopback unless told otherwise; in a pod the Service and probes come from outside.
    command: ['kubescribe', 'serve', '--host', '0.0.0.0', '--port', String(settings.api.port)],
    ports: [{ name: 'http', containerPort: settings.api.port }],
    env: serverEnv(settings),
    envFrom,
    resources: resources(settings.api.resources),
    // Migrations and the first connection may take a while; liveness only counts once started.
    startupProbe: probe('/healthz', 2, 60),
    livenessProbe: probe('/healthz', 10, 3),
    readinessProbe: probe('/readyz', 5, 2),
  };
  const spec = serverPod(settings, container, { serviceAccountName: API_SERVICE_ACCOUNT, terminationGracePeriodSeconds: 30 });
  // The first admin token (docs/kubernetes.md, "The first admin token"): optional, so an install that
  // makes its tokens with `tokens create` needs no such Secret. Every replica ensures the same one row.
  spec.volumes!.push({ name: 'admin-token', secret: { secretName: settings.admin_token_secret, optional: true } });
  const api = spec.containers[0]!;
  api.volumeMounts!.push({ name: 'admin-token', mountPath: ADMIN_TOKEN_DIR, readOnly: true });
  api.env!.push({ name: 'KUBESCRIBE_ADMIN_TOKEN_FILE', value: `${ADMIN_TOKEN_DIR}/${ADMIN_TOKEN_KEY}` });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(API_NAME, settings.namespace, 'api'),
    spec: {
      replicas: settings.api.replicas,
      selector: { matchLabels: selector },
      template: {
        // A changed kubescribe.yaml changes the hash and so rolls the pods, which read the file at start.
        metadata: { labels: { ...PART_OF, ...selector }, annotations: { [CONFIG_HASH_ANNOTATION]: contentHash(configText) } },
        spec,
      },
    },
  };
}

/** The API's ClusterIP Service on port 80. */
export function apiServiceManifest(settings: KubernetesSettings): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(API_NAME, settings.namespace, 'api'),
    spec: {
      selector: { 'app.kubernetes.io/name': 'kubescribe', 'app.kubernetes.io/component': 'api' },
      ports: [{ name: 'http', port: 80, targetPort: 'http' }],
    },
  };
}

/**
 * `kubescribe migrate` as a Job: upgrades the RunLog schema and records the job revisions. A Job's pod
 * template is immutable, so the name carries a hash of image and config: a new release is a new Job,
 * and re-applying the same release leaves the finished one alone. No TTL, for the same reason.
 */
export function migrationJobManifest(settings: KubernetesSettings, configText: string): V1Job {
  const container: V1Container = {
    // The schema owner's role when `migration_database_secret` names one; the API keeps a row-only role.
    name: 'migrate', ...image(settings), command: ['kubescribe', 'migrate'], env: serverEnv(settings, settings.migration_database_secret ?? settings.database_secret),
    resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '256Mi' } },
  };
  const spec = serverPod(settings, container, { restartPolicy: 'Never', serviceAccountName: settings.service_account, automountServiceAccountToken: false });
  const name = `kubescribe-migrate-${contentHash({ spec, configText })}`;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta(name, settings.namespace, 'migration'),
    spec: { backoffLimit: 3, template: { metadata: { labels: { ...PART_OF, 'app.kubernetes.io/component': 'migration' } }, spec } },
  };
}
