// The few Kubernetes API calls KubeScribe makes, over the official client (@kubernetes/client-node
// 1.4), with one error type that carries what a run error and a log line need: the HTTP code, the
// Status reason, the verb and resource (for 403: the RBAC rule that is missing) and the invalid fields.
import {
  ApiException,
  AuthenticationV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  Observable,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
  Watch,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type V1CronJob,
  type V1Job,
  type V1Pod,
  type V1TokenReview,
} from '@kubernetes/client-node';

export type KubeResource = 'jobs' | 'cronjobs' | 'pods' | 'tokenreviews';
export type KubeVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

const GROUPS: Record<KubeResource, string> = { jobs: 'batch', cronjobs: 'batch', pods: '', tokenreviews: 'authentication.k8s.io' };
const PATHS: Record<'jobs' | 'pods', (namespace: string) => string> = {
  jobs: (namespace) => `/apis/batch/v1/namespaces/${namespace}/jobs`,
  pods: (namespace) => `/api/v1/namespaces/${namespace}/pods`,
};

/** A failed Kubernetes API call. `code` 0: no answer (unreachable, or timed out). */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly verb: KubeVerb,
    readonly resource: KubeResource,
    readonly objectName: string | null,
    readonly causes: { field: string; message: string }[],
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }

  /** Worth retrying: no answer, a server error, or throttling. */
  get retryable(): boolean {
    return this.code === 0 || this.code === 429 || this.code >= 500;
  }
}

export interface KubeClientOptions {
  /** Namespace of every Job, CronJob and Pod KubeScribe touches. */
  namespace: string;
  /** An API server URL with no credentials (tests); otherwise in-cluster service account or KUBECONFIG. */
  server?: string;
  /** Gives up on a request (and retries it, where the caller retries) after this long (default 10 s). */
  requestTimeoutMs?: number;
}

/** Loads the cluster credentials: `server` if given, else the pod's service account, else KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(server?: string): KubeConfig {
  const kc = new KubeConfig();
  if (server) {
    kc.loadFromOptions({
      // client-node refuses plain http unless TLS verification is off; there is no TLS to verify.
      clusters: [{ name: 'kubescribe', server, skipTLSVerify: server.startsWith('http:') }],
      users: [{ name: 'kubescribe' }],
      contexts: [{ name: 'kubescribe', cluster: 'kubescribe', user: 'kubescribe' }],
      currentContext: 'kubescribe',
    });
  } else {
    // loadFromDefault tries KUBECONFIG, ~/.kube/config, then the in-cluster service account.
    kc.loadFromDefault();
  }
  return kc;
}

/** Kubernetes API calls in one namespace, each answering with the object or a KubeApiError. */
export class KubeClient {
  readonly namespace: string;
  readonly kubeConfig: KubeConfig;
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly authentication: AuthenticationV1Api;
  private readonly versionApi: VersionApi;
  private readonly timeoutMs: number;

  constructor(options: KubeClientOptions, kubeConfig: KubeConfig = loadKubeConfig(options.server)) {
    this.namespace = options.namespace;
    this.kubeConfig = kubeConfig;
    this.batch = kubeConfig.makeApiClient(BatchV1Api);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.authentication = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.versionApi = kubeConfig.makeApiClient(VersionApi);
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /** The API server's URL, for messages. */
  get server(): string {
    return this.kubeConfig.getCurrentCluster()?.server ?? '(no cluster)';
  }

  /** The API server's version (`/version`): the cheapest "can we reach it" call. */
  async version(): Promise<string> {
    return this.call('get', 'pods', null, async (options) => (await this.versionApi.getCode(options)).gitVersion);
  }

  createJob(job: V1Job): Promise<V1Job> {
    return this.call('create', 'jobs', job.metadata?.name ?? null, (options) =>
      this.batch.createNamespacedJob({ namespace: this.namespace, body: job }, options));
  }

  /** The Job, or null when there is none. */
  async getJob(name: string): Promise<V1Job | null> {
    try {
      return await this.call('get', 'jobs', name, (options) => this.batch.readNamespacedJob({ name, namespace: this.namespace }, options));
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return null;
      throw error;
    }
  }

  /** Deletes a Job and (Background) its pods; false when it was already gone. */
  async deleteJob(name: string, propagationPolicy: 'Background' | 'Foreground' = 'Background'): Promise<boolean> {
    try {
      await this.call('delete', 'jobs', name, (options) =>
        this.batch.deleteNamespacedJob({ name, namespace: this.namespace, propagationPolicy }, options));
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return false;
      throw error;
    }
  }

  /** The Pod, or null when there is none. */
  async getPod(name: string): Promise<V1Pod | null> {
    try {
      return await this.call('get', 'pods', name, (options) => this.core.readNamespacedPod({ name, namespace: this.namespace }, options));
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return null;
      throw error;
    }
  }

  /** The CronJob, or null when there is none. */
  async getCronJob(name: string): Promise<V1CronJob | null> {
    try {
      return await this.call('get', 'cronjobs', name, (options) => this.batch.readNamespacedCronJob({ name, namespace: this.namespace }, options));
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return null;
      throw error;
    }
  }

  /**
   * Asks the API server who a bearer token belongs to (TokenReview, cluster-scoped), for these audiences.
   * Strict field validation: a field this client misspelt is an error rather than silently dropped.
   */
  reviewToken(token: string, audiences: string[]): Promise<V1TokenReview> {
    return this.call('create', 'tokenreviews', null, (options) => this.authentication.createTokenReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } },
      fieldValidation: 'Strict',
    }, options));
  }

  async listJobs(labelSelector: string): Promise<{ items: V1Job[]; resourceVersion: string }> {
    const list = await this.call('list', 'jobs', null, (options) => this.batch.listNamespacedJob({ namespace: this.namespace, labelSelector }, options));
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  async listPods(labelSelector: string): Promise<{ items: V1Pod[]; resourceVersion: string }> {
    const list = await this.call('list', 'pods', null, (options) => this.core.listNamespacedPod({ namespace: this.namespace, labelSelector }, options));
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  async listCronJobs(labelSelector: string): Promise<V1CronJob[]> {
    const list = await this.call('list', 'cronjobs', null, (options) => this.batch.listNamespacedCronJob({ namespace: this.namespace, labelSelector }, options));
    return list.items;
  }

  createCronJob(cronJob: V1CronJob): Promise<V1CronJob> {
    return this.call('create', 'cronjobs', cronJob.metadata?.name ?? null, (options) =>
      this.batch.createNamespacedCronJob({ namespace: this.namespace, body: cronJob }, options));
  }

  /** Replaces a CronJob; `cronJob.metadata.resourceVersion` makes it a compare-and-set (409 Conflict when it moved). */
  replaceCronJob(cronJob: V1CronJob): Promise<V1CronJob> {
    const name = cronJob.metadata!.name!;
    return this.call('update', 'cronjobs', name, (options) =>
      this.batch.replaceNamespacedCronJob({ name, namespace: this.namespace, body: cronJob }, options));
  }

  /** Applies an RFC 7386 merge patch to a CronJob (e.g. `{spec: {suspend: true}}`). */
  patchCronJob(name: string, patch: Record<string, unknown>): Promise<V1CronJob> {
    return this.call('patch', 'cronjobs', name, (options) =>
      this.batch.patchNamespacedCronJob({ name, namespace: this.namespace, body: patch }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch, options)));
  }

  async deleteCronJob(name: string): Promise<boolean> {
    try {
      // Background: the Jobs it started go too, as `kubectl delete cronjob` does.
      await this.call('delete', 'cronjobs', name, (options) =>
        this.batch.deleteNamespacedCronJob({ name, namespace: this.namespace, propagationPolicy: 'Background' }, options));
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return false;
      throw error;
    }
  }

  /**
   * Watches Jobs or Pods from `resourceVersion`. `onEvent` gets ADDED/MODIFIED/DELETED/BOOKMARK and
   * ERROR (a Status, e.g. 410 Expired); `onDone` is called once when the stream ends, for any reason.
   */
  async watch(
    resource: 'jobs' | 'pods',
    labelSelector: string,
    resourceVersion: string,
    onEvent: (type: string, object: Record<string, unknown>) => void,
    onDone: (error: unknown) => void,
  ): Promise<AbortController> {
    return new Watch(this.kubeConfig).watch(
      PATHS[resource](this.namespace),
      // The server ends the watch after 5 minutes and the watcher resumes it: a connection that died
      // silently (no RST through a proxy) is noticed within that time.
      { labelSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 },
      (type, object) => onEvent(type, object as Record<string, unknown>),
      onDone,
    );
  }

  private async call<T>(verb: KubeVerb, resource: KubeResource, name: string | null, fn: (options: ConfigurationOptions<ObservableMiddleware>) => Promise<T>): Promise<T> {
    // The generated client has no timeout of its own; a request to a hung API server would wait forever.
    const signal = AbortSignal.timeout(this.timeoutMs);
    const options: ConfigurationOptions<ObservableMiddleware> = {
      middleware: [{
        pre: (context) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (response) => new Observable(Promise.resolve(response)),
      }],
      middlewareMergeStrategy: 'append',
    };
    try {
      return await fn(options);
    } catch (error) {
      throw toKubeApiError(error, verb, resource, name, this.namespace, this.timeoutMs, signal.aborted);
    }
  }
}

function toKubeApiError(
  error: unknown, verb: KubeVerb, resource: KubeResource, name: string | null, namespace: string, timeoutMs: number, timedOut: boolean,
): KubeApiError {
  const group = GROUPS[resource];
  const what = `${resource}${group ? `.${group}` : ''}${name ? ` ${name}` : ''}`;
  if (!(error instanceof ApiException)) {
    const detail = timedOut ? `no answer within ${timeoutMs} ms` : (error as Error).message;
    return new KubeApiError(0, timedOut ? 'Timeout' : 'Unreachable', verb, resource, name, [], `Kubernetes API: ${verb} ${what}: ${detail}`);
  }
  const status = parseStatus(error.body);
  const code = error.code;
  const reason = status?.reason ?? (code === 401 ? 'Unauthorized' : 'Unknown');
  const serverMessage = status?.message ?? error.message;
  const causes = (status?.details?.causes ?? []).map((cause) => ({ field: cause.field ?? '', message: cause.message ?? '' }));
  let message: string;
  if (code === 403 && resource === 'tokenreviews') {
    message = `Kubernetes denied "create" on "tokenreviews" (API group "authentication.k8s.io"): the API's service account needs ` +
      `the cluster-scoped grant \`kubescribe render\` prints (ClusterRole kubescribe-tokenreview-${namespace}) to check job pods' tokens (${serverMessage})`;
  } else if (code === 403) {
    message = `Kubernetes denied "${verb}" on "${resource}"${group ? ` (API group "${group}")` : ''} in namespace ${namespace}: ` +
      `the service account's Role must grant verb "${verb}" on resource "${resource}" (${serverMessage})`;
  } else if (code === 422) {
    const fields = causes.length > 0 ? causes.map((cause) => `${cause.field}: ${cause.message}`).join('; ') : serverMessage;
    message = `Kubernetes rejected ${what} as invalid: ${fields}`;
  } else {
    message = `Kubernetes API: ${verb} ${what}: ${code} ${reason}: ${serverMessage}`;
  }
  return new KubeApiError(code, reason, verb, resource, name, causes, message);
}

interface StatusBody {
  reason?: string;
  message?: string;
  code?: number;
  details?: { causes?: { field?: string; message?: string }[] };
}

function parseStatus(body: unknown): StatusBody | null {
  if (body && typeof body === 'object') return body as StatusBody;
  if (typeof body !== 'string') return null;
  try {
    return JSON.parse(body) as StatusBody;
  } catch {
    return null;
  }
}
