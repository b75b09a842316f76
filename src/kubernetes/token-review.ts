// Job pods authenticate to the API with their own identity, the way Vault's Kubernetes auth method
// works: the runner sends the pod's projected ServiceAccount token (audience `kubescribe`), the API asks
// the cluster who it belongs to (TokenReview), then reads the pod the token is bound to and walks its
// owners to the run or job KubeScribe made it for:
//   pod (uid as in the token) → controller Job (uid as in the pod's ownerReference)
//     → label kubescribe.io/run-id R and the Job is named runJobName(job, R)   → exactly run R
//     → no run id, the Job's controller is the CronJob KubeScribe renders for J → create and write runs of J
// Everything else is refused with the reason (logged, never the token). A pod's labels alone prove
// nothing — whoever can edit a pod could write any run id on it — so the Job's name, derived from the
// run id, and the owner chain, which only the Job and CronJob controllers write, are what count.
import { createHash } from 'node:crypto';
import type { V1Job, V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { ApiError } from '../api/errors.ts';
import type { RunnerAuthenticator, RunnerIdentity } from '../api/runner-auth.ts';
import type { KubescribeConfig } from '../config/job-definition.ts';
import { defaultKubernetesSettings } from '../config/kubernetes-config.ts';
import { KubeApiError, KubeClient } from './client.ts';
import type { KubeLogEntry } from './kubernetes-executor.ts';
import { JOB_LABEL, MANAGED_BY, MANAGED_BY_LABEL, RUN_ID_LABEL, RUNNER_TOKEN_AUDIENCE, runJobName } from './manifests.ts';

/** The calls the authenticator makes, all in the namespace KubeScribe runs jobs in. */
export type PodTokenClient = Pick<KubeClient, 'namespace' | 'reviewToken' | 'getPod' | 'getJob' | 'getCronJob'>;

export interface PodTokenAuthOptions {
  client: PodTokenClient;
  /** The audience the token must be for (default `kubescribe`, what the job pods' projected volume asks for). */
  audience?: string;
  /**
   * When set, only tokens of this ServiceAccount, or these (the job pods' `kubernetes.service_account`
   * and the jobs' own `service_account`s), are accepted.
   */
  serviceAccount?: string | readonly string[] | null;
  /** The whole check (up to four Kubernetes calls) answers within this long, or 503 (default 5 s). */
  timeoutMs?: number;
  /** How long an accepted token is trusted without asking again, never past its own expiry (default 30 s). */
  cacheMs?: number;
  /** Accepted tokens remembered at most (default 10,000; the oldest go first). */
  maxCacheEntries?: number;
  log?: (entry: KubeLogEntry) => void;
  now?: () => number;
}

const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;
// Three base64url segments. KubeScribe's own credentials (ksk_…, ksr_…) never contain a dot.
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

interface Cached { identity: RunnerIdentity; until: number }

/** A refusal with its reason; `status` 401: the token itself is not good, 403: good, but not a KubeScribe job pod's. */
class Refusal extends Error {
  constructor(readonly status: 401 | 403, message: string, readonly detail: Record<string, unknown> = {}) {
    super(message);
  }
}

/**
 * The RunnerAuthenticator of job pods' ServiceAccount tokens. Null for a bearer that is no JWT (another
 * authenticator's); throws ApiError 401/403 with the reason for a JWT it refuses, and 503 when it cannot
 * decide (the Kubernetes API does not answer in time, or the API's RBAC lacks what it needs).
 */
export function podTokenAuthenticator(options: PodTokenAuthOptions): RunnerAuthenticator {
  const audience = options.audience ?? RUNNER_TOKEN_AUDIENCE;
  const timeoutMs = options.timeoutMs ?? 5000;
  // 30 s: a runner sends a batch every second or so, so this is one TokenReview per pod per 30 s instead
  // of one per batch; and an ended (or deleted) pod's token is refused at most 30 s later.
  const cacheMs = options.cacheMs ?? 30_000;
  const maxEntries = options.maxCacheEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const namespace = options.client.namespace;
  const cache = new Map<string, Cached>();
  const pending = new Map<string, Promise<RunnerIdentity>>();

  const remember = (key: string, identity: RunnerIdentity, token: string) => {
    const expiry = tokenExpiry(token);
    const until = Math.min(now() + cacheMs, expiry ?? Infinity);
    if (until <= now()) return;
    cache.delete(key);
    cache.set(key, { identity, until });
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
  };

  const decide = async (token: string): Promise<RunnerIdentity> => {
    const review = await options.client.reviewToken(token, [audience]);
    const status = review.status ?? {};
    if (status.authenticated !== true) {
      throw new Refusal(401, `the cluster did not authenticate the token${status.error ? `: ${status.error.slice(0, 300)}` : ''}`);
    }
    // An API server that ignores spec.audiences answers without status.audiences: that is no proof.
    if (!(status.audiences ?? []).includes(audience)) throw new Refusal(401, `the token is not for audience "${audience}"`);
    const username = status.user?.username ?? '';
    const account = SERVICE_ACCOUNT_USER.exec(username);
    if (!account) throw new Refusal(403, `the token belongs to ${JSON.stringify(username)}, not to a ServiceAccount`, { user: username });
    const [, accountNamespace, serviceAccount] = account as unknown as [string, string, string];
    const detail: Record<string, unknown> = { namespace: accountNamespace, service_account: serviceAccount };
    if (accountNamespace !== namespace) {
      throw new Refusal(403, `the token is of a ServiceAccount in namespace ${accountNamespace}; KubeScribe runs jobs in namespace ${namespace}`, detail);
    }
    const accounts = options.serviceAccount ? [options.serviceAccount].flat() : [];
    if (accounts.length > 0 && !accounts.includes(serviceAccount)) {
      throw new Refusal(403, `the token is of ServiceAccount ${serviceAccount}; job pods run as ${accounts.join(' or ')}`, detail);
    }
    const podName = single(status.user?.extra?.[POD_NAME_EXTRA]);
    const podUid = single(status.user?.extra?.[POD_UID_EXTRA]);
    if (!podName || !podUid) {
      throw new Refusal(403, 'the token is not bound to a pod: job pods send the projected token of their kubescribe-token volume', detail);
    }
    detail.pod = podName;
    const pod = await options.client.getPod(podName);
    if (!pod) throw new Refusal(403, `pod ${podName} no longer exists`, detail);
    if (pod.metadata?.uid !== podUid) throw new Refusal(403, `pod ${podName} is not the pod the token was issued to (its uid changed)`, detail);
    if ((pod.spec?.serviceAccountName ?? 'default') !== serviceAccount) {
      throw new Refusal(403, `pod ${podName} runs as ServiceAccount ${pod.spec?.serviceAccountName ?? 'default'}, not ${serviceAccount}`, detail);
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') throw new Refusal(403, `pod ${podName} has ended (${phase})`, detail);
    const labels = pod.metadata?.labels ?? {};
    const job = labels[JOB_LABEL];
    if (labels[MANAGED_BY_LABEL] !== MANAGED_BY || !job) throw new Refusal(403, `pod ${podName} is not a KubeScribe job pod (no ${JOB_LABEL} label)`, detail);
    const jobOwner = controllerOf(pod.metadata, 'Job');
    if (!jobOwner) throw new Refusal(403, `pod ${podName} is not controlled by a Job`, detail);
    detail.k8s_job = jobOwner.name;
    const k8sJob = await options.client.getJob(jobOwner.name);
    if (!k8sJob || k8sJob.metadata?.uid !== jobOwner.uid) throw new Refusal(403, `pod ${podName}'s Job ${jobOwner.name} no longer exists`, detail);
    if (k8sJob.metadata?.labels?.[JOB_LABEL] !== job) throw new Refusal(403, `Job ${jobOwner.name} is not a Job of ${job}`, detail);
    const actor = `k8s:${namespace}/${podName}`;
    const runId = labels[RUN_ID_LABEL];
    if (runId) return runIdentity(k8sJob, job, runId, actor, detail);
    return scheduledIdentity(k8sJob, job, actor, detail);
  };

  // A Job the executor created for one run: named after the job and that run, with the run's label.
  const runIdentity = (k8sJob: V1Job, job: string, runId: string, actor: string, detail: Record<string, unknown>): RunnerIdentity => {
    const name = k8sJob.metadata?.name ?? '';
    if (name !== runJobName(job, runId) || k8sJob.metadata?.labels?.[RUN_ID_LABEL] !== runId || controllerOf(k8sJob.metadata)) {
      throw new Refusal(403, `pod ${String(detail.pod)} claims run ${runId}, but its Job ${name} is not that run's Job (${runJobName(job, runId)})`, { ...detail, run_id: runId });
    }
    return { actor, runId, job: null };
  };

  // A Job the CronJob KubeScribe renders for `job` started (on schedule, or `kubectl create job --from=cronjob/…`).
  const scheduledIdentity = async (k8sJob: V1Job, job: string, actor: string, detail: Record<string, unknown>): Promise<RunnerIdentity> => {
    const cronOwner = controllerOf(k8sJob.metadata, 'CronJob');
    if (!cronOwner || cronOwner.name !== job) {
      throw new Refusal(403, `pod ${String(detail.pod)} has no run id and its Job ${k8sJob.metadata?.name} was not started by CronJob ${job}`, detail);
    }
    const cron = await options.client.getCronJob(cronOwner.name);
    if (!cron || cron.metadata?.uid !== cronOwner.uid || cron.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY || cron.metadata?.labels?.[JOB_LABEL] !== job) {
      throw new Refusal(403, `CronJob ${cronOwner.name} is not the CronJob KubeScribe keeps for ${job}`, detail);
    }
    return { actor, runId: null, job };
  };

  const withDeadline = (work: Promise<RunnerIdentity>): Promise<RunnerIdentity> => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KubeApiError(0, 'Timeout', 'create', 'tokenreviews', null, [], `no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  };

  return async (bearer) => {
    if (bearer.startsWith('ksk_') || bearer.startsWith('ksr_') || !JWT.test(bearer)) return null;
    const key = createHash('sha256').update(bearer).digest('hex');
    const hit = cache.get(key);
    if (hit && hit.until > now()) return hit.identity;
    if (hit) cache.delete(key);
    // Batches of one runner arrive together: they share one review.
    let work = pending.get(key);
    if (!work) {
      work = withDeadline(decide(bearer)).finally(() => pending.delete(key));
      pending.set(key, work);
      work.then((identity) => remember(key, identity, bearer), () => {});
    }
    try {
      return await work;
    } catch (error) {
      throw answerFor(error, options.log);
    }
  };
}

function answerFor(error: unknown, log: PodTokenAuthOptions['log']): ApiError {
  if (error instanceof Refusal) {
    log?.({ level: 'warn', message: `refused a job pod token: ${error.message}`, detail: error.detail });
    return new ApiError(error.status, error.status === 401 ? 'unauthorized' : 'forbidden', error.message);
  }
  if (error instanceof KubeApiError) {
    // Not the runner's fault: it keeps its records (spool) and retries; the operator reads the log.
    const rbac = error.code === 403;
    log?.({ level: 'error', message: `could not check a job pod token: ${error.message}`, detail: { code: error.code, reason: error.reason } });
    return new ApiError(503, 'kubernetes_unavailable', rbac
      ? `the API cannot check job pod tokens: ${error.message}`
      : `the Kubernetes API did not answer the token check (${error.reason}); retry later`);
  }
  return error instanceof ApiError ? error : new ApiError(500, 'internal', 'the job pod token could not be checked');
}

function single(values: string[] | undefined): string | null {
  return values?.length === 1 && values[0] ? values[0] : null;
}

function controllerOf(metadata: V1ObjectMeta | undefined, kind?: string): V1OwnerReference | null {
  const owner = (metadata?.ownerReferences ?? []).find((ref) => ref.controller === true);
  if (!owner) return null;
  return kind === undefined || (owner.kind === kind && owner.apiVersion === 'batch/v1') ? owner : null;
}

/** The token's own expiry (`exp`, unverified: it only bounds the cache; TokenReview did the verifying), in ms. */
function tokenExpiry(token: string): number | null {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : null;
  } catch {
    return null;
  }
}

/**
 * The server's authenticator of job pods (`executor: kubernetes`): in the namespace the executor runs
 * jobs in, for the job pods' ServiceAccount, with its own client whose requests give up after 3 s.
 */
export function kubernetesRunnerAuthenticators(config: KubescribeConfig, log?: (entry: KubeLogEntry) => void): RunnerAuthenticator[] {
  const settings = config.kubernetes ?? defaultKubernetesSettings();
  const client = new KubeClient({ namespace: settings.namespace, requestTimeoutMs: 3000 });
  return [podTokenAuthenticator({ client, serviceAccount: runnerServiceAccounts(config), log })];
}

/**
 * The ServiceAccounts job pods run as: `kubernetes.service_account` and every job's own
 * `service_account` (e.g. Kubeflow's default-editor). Read from the config the server started with:
 * an account first named by a reload is accepted after a restart.
 */
export function runnerServiceAccounts(config: KubescribeConfig): string[] {
  const settings = config.kubernetes ?? defaultKubernetesSettings();
  return [...new Set([settings.service_account, ...[...config.jobs.values()].flatMap((job) => job.pod?.service_account ?? [])])];
}
