// The `kubernetes:` section of kubescribe.yaml: where and how the Kubernetes executor runs jobs, and
// what `kubescribe render` puts in the manifests. Every value that ends up in a manifest is checked here
// against the rule the API server would apply, so a typo is a file:line error before anything is sent.
import { describeValue } from './durations.ts';
import { join, type Entry, type Reader } from './yaml-reader.ts';
import { POD_OPTION_KEYS, readEnv, readPodOption, type PodOptions } from './pod-options-config.ts';

/** Where runs execute: child processes on this machine, or Jobs and CronJobs in a cluster. */
export type ExecutorKind = 'local' | 'kubernetes';
export const EXECUTORS: readonly ExecutorKind[] = ['local', 'kubernetes'];

/** Kubernetes resource quantities ("500m", "1Gi") per resource name, as in a container's resources. */
export interface ResourceSettings { requests: Record<string, string>; limits: Record<string, string> }

/** A pod toleration; keys as in Kubernetes, snake_case in the YAML. */
export interface TolerationSettings {
  key?: string; operator?: 'Exists' | 'Equal'; value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute'; toleration_seconds?: number;
}

/** A key of a Secret; only the reference ever appears in a manifest, never the value. */
export interface SecretKeySettings { name: string; key: string }

/** The API server's Deployment, as `kubescribe render` prints it. */
export interface ApiDeploymentSettings { image: string | null; replicas: number; port: number; resources: ResourceSettings }

export interface KubernetesSettings {
  /** Namespace of the CronJobs, Jobs and everything `render` prints. */
  namespace: string;
  /** The KubeScribe image (API and runner); also the default image of jobs that name none. */
  image: string;
  image_pull_policy: 'Always' | 'IfNotPresent' | 'Never' | null;
  /** Service account of the job pods (the API Deployment uses `kubescribe`, created by render). */
  service_account: string;
  image_pull_secrets: string[];
  /** Default resources of job containers; a job's own `resources` replaces them. */
  resources: ResourceSettings;
  node_selector: Record<string, string>;
  tolerations: TolerationSettings[];
  /** Finished Jobs are deleted after this long (the RunLog keeps the history); null keeps them. */
  ttl_seconds_after_finished: number | null;
  successful_jobs_history_limit: number;
  failed_jobs_history_limit: number;
  /** Where DATABASE_URL comes from in the API and migration pods (and job pods with `runner_runlog: direct`). */
  database_secret: SecretKeySettings;
  /** DATABASE_URL of the migration Job only (a role that may change the schema); null: `database_secret`. */
  migration_database_secret: SecretKeySettings | null;
  /**
   * How the runner in a job pod records its run: `api` (default) through the KubeScribe API with the
   * pod's projected ServiceAccount token, so job pods hold no database credentials; `direct` straight in
   * the RunLog with DATABASE_URL, for clusters where job pods cannot reach the API.
   */
  runner_runlog: RunnerRunlog;
  /**
   * Where a job pod's runner comes from: `inject` (default) — an init container copies the single-file
   * runner from the KubeScribe image into the pod, so the job keeps its own unchanged image; `image` —
   * the job's image has `kubescribe` on its PATH. A job's own `runner:` replaces it.
   */
  runner: RunnerMode;
  /** The API URL job pods record through; null: the Service `kubescribe render` creates (`http://kubescribe-api.<namespace>.svc`). */
  api_url: string | null;
  /** Secrets loaded whole into the API pods' environment (SMTP_URL..., SLACK_WEBHOOK_URL), optional. */
  smtp_secret: string;
  slack_secret: string;
  /** Optional Secret whose key `token` holds the first admin token of the API (KUBESCRIBE_ADMIN_TOKEN_FILE). */
  admin_token_secret: string;
  /** ConfigMap holding kubescribe.yaml, mounted into the API and job pods. */
  config_map: string;
  /** `kubescribe serve` creates or updates the CronJobs at start (as `kubescribe apply` does). */
  apply_on_start: boolean;
  /** A pod that has not started this long after its Job was created (unschedulable, image pull) fails the run. */
  start_timeout_seconds: number;
  api: ApiDeploymentSettings;
  /** Plain env of every job pod (`kubernetes.env`); a job's own `env` wins per variable. */
  env: Record<string, string>;
  /** Pod option defaults of every job (src/config/pod-options-config.ts); the top-level keys above are the rest. */
  pod: PodOptions;
}

/** Where a job pod's runner writes its run: through the API (no database credentials in the pod) or straight in the RunLog. */
export type RunnerRunlog = 'api' | 'direct';
export const RUNNER_RUNLOGS: readonly RunnerRunlog[] = ['api', 'direct'];

/** Where a job pod's runner comes from: injected by an init container, or already in the job's image. */
export type RunnerMode = 'inject' | 'image';
export const RUNNER_MODES: readonly RunnerMode[] = ['inject', 'image'];

export const DEFAULT_KUBERNETES_IMAGE = 'kubescribe:0.1.0';

/** The settings with no `kubernetes:` section. */
export function defaultKubernetesSettings(): KubernetesSettings {
  return {
    namespace: 'default',
    image: DEFAULT_KUBERNETES_IMAGE,
    image_pull_policy: null,
    service_account: 'kubescribe-runner',
    image_pull_secrets: [],
    resources: { requests: {}, limits: {} },
    node_selector: {},
    tolerations: [],
    // One day: long enough to `kubectl describe` a failed Job the morning after, short enough not to pile up.
    ttl_seconds_after_finished: 86_400,
    successful_jobs_history_limit: 3,
    failed_jobs_history_limit: 1,
    database_secret: { name: 'kubescribe-database', key: 'DATABASE_URL' },
    migration_database_secret: null,
    runner_runlog: 'api',
    runner: 'inject',
    api_url: null,
    smtp_secret: 'kubescribe-smtp',
    slack_secret: 'kubescribe-slack',
    admin_token_secret: 'kubescribe-admin-token',
    config_map: 'kubescribe-config',
    apply_on_start: true,
    start_timeout_seconds: 600,
    api: { image: null, replicas: 2, port: 8080, resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } } },
    env: {},
    pod: {},
  };
}

export const KUBERNETES_KEYS = [
  'namespace', 'image', 'image_pull_policy', 'service_account', 'image_pull_secrets', 'resources', 'node_selector',
  'tolerations', 'ttl_after_finished', 'successful_jobs_history_limit', 'failed_jobs_history_limit', 'database_secret',
  'smtp_secret', 'slack_secret', 'config_map', 'apply_on_start', 'start_timeout', 'api', 'runner_runlog', 'api_url',
  'runner', 'env', 'admin_token_secret', 'migration_database_secret', ...POD_OPTION_KEYS,
];
const API_KEYS = ['image', 'replicas', 'port', 'resources'];
const RESOURCE_KEYS = ['requests', 'limits'];
const RESOURCE_NAMES = ['cpu', 'memory', 'ephemeral-storage'];
const TOLERATION_KEYS = ['key', 'operator', 'value', 'effect', 'toleration_seconds'];
const SECRET_KEYS = ['name', 'key'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
const OPERATORS = ['Exists', 'Equal'] as const;
const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// apimachinery's resource.Quantity grammar: a decimal number with a binary (Ki..Ei), decimal (n..E) or exponent suffix.
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
// Label keys: an optional DNS-subdomain prefix and a name of at most 63 alphanumerics, "-", "_", ".".
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Why `name` is not a DNS-1123 label (namespaces, Services), or null when it is one. */
export function dnsLabelProblem(name: string, max = 63): string | null {
  if (name.length > max) return `must be at most ${max} characters, got ${name.length}`;
  return DNS_LABEL.test(name) ? null : 'must be lowercase letters, digits and "-", starting and ending with a letter or digit';
}

/** Why `name` is not a DNS-1123 subdomain (most object names), or null when it is one. */
export function dnsSubdomainProblem(name: string): string | null {
  if (name.length > 253) return `must be at most 253 characters, got ${name.length}`;
  return DNS_SUBDOMAIN.test(name) ? null : 'must be lowercase letters, digits, "-" and ".", starting and ending with a letter or digit';
}

/** Why `key` is not a valid label (or node selector) key, or null. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : null;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== null && dnsSubdomainProblem(prefix)) return `the prefix "${prefix}" must be a DNS subdomain such as example.com`;
  if (name.length > 63 || !LABEL_NAME.test(name)) {
    return 'the name must be at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  }
  return null;
}

/** Why `value` is not a valid label value, or null. */
export function labelValueProblem(value: string): string | null {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    return 'must be at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  }
  return null;
}

/** Why `text` is not a Kubernetes quantity ("500m", "1.5", "2Gi"), or null. */
export function quantityProblem(text: string): string | null {
  return QUANTITY.test(text) ? null : `expected a Kubernetes quantity such as "500m", "2" or "1Gi", got ${JSON.stringify(text)}`;
}

function name(r: Reader, e: Entry, check: (value: string) => string | null): string | undefined {
  const value = r.string(e);
  if (value === undefined) return undefined;
  const problem = check(value);
  if (problem) {
    r.report(e.line, e.path, `invalid name ${describeValue(value)}: ${problem}`);
    return undefined;
  }
  return value;
}

function integer(r: Reader, e: Entry, min: number, max: number): number | undefined {
  const value = r.plain(e.value);
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  r.report(e.line, e.path, `expected an integer from ${min} to ${max}, got ${describeValue(value)}`);
  return undefined;
}

function boolean(r: Reader, e: Entry): boolean | undefined {
  const value = r.plain(e.value);
  if (typeof value === 'boolean') return value;
  r.report(e.line, e.path, `expected true or false, got ${describeValue(value)}`);
  return undefined;
}

function seconds(r: Reader, e: Entry, allowZero: boolean): number | undefined {
  const ms = r.duration(e, { allowZero });
  if (ms === undefined) return undefined;
  if (ms % 1000 !== 0) {
    r.report(e.line, e.path, `Kubernetes counts this in whole seconds, got ${describeValue(r.plain(e.value))}`);
    return undefined;
  }
  return ms / 1000;
}

/** Reads a `resources:` map (requests/limits of cpu, memory, ephemeral-storage), also used per job. */
export function readResources(r: Reader, e: Entry): ResourceSettings {
  const out: ResourceSettings = { requests: {}, limits: {} };
  for (const part of r.entries(e.value, e.path, e.line, RESOURCE_KEYS) ?? []) {
    const target = part.key === 'requests' ? out.requests : out.limits;
    for (const entry of r.entries(part.value, part.path, part.line, RESOURCE_NAMES) ?? []) {
      const text = r.scalarText(entry.value);
      const problem = text === undefined ? `expected a quantity, got ${describeValue(r.plain(entry.value))}` : quantityProblem(text);
      if (problem) r.report(entry.line, entry.path, problem);
      else target[entry.key] = text as string;
    }
  }
  return out;
}

function readSecretKey(r: Reader, e: Entry, current: SecretKeySettings): SecretKeySettings {
  const out = { ...current };
  for (const entry of r.entries(e.value, e.path, e.line, SECRET_KEYS) ?? []) {
    if (entry.key === 'name') out.name = name(r, entry, dnsSubdomainProblem) ?? out.name;
    else {
      const key = r.string(entry);
      if (key !== undefined && !SECRET_KEY.test(key)) r.report(entry.line, entry.path, `invalid Secret key ${describeValue(key)}: use letters, digits, "-", "_" and "."`);
      else if (key !== undefined) out.key = key;
    }
  }
  return out;
}

export function readTolerations(r: Reader, e: Entry): TolerationSettings[] {
  const out: TolerationSettings[] = [];
  for (const item of r.items(e.value, e.path, e.line, 'a list of tolerations') ?? []) {
    const toleration: TolerationSettings = {};
    for (const entry of r.entries(item.node, item.path, item.line, TOLERATION_KEYS, 'a toleration map') ?? []) {
      switch (entry.key) {
        case 'key': toleration.key = r.string(entry); break;
        case 'value': toleration.value = r.scalarText(entry.value) ?? r.string(entry); break;
        case 'operator': toleration.operator = r.oneOf(entry, OPERATORS); break;
        case 'effect': toleration.effect = r.oneOf(entry, EFFECTS); break;
        case 'toleration_seconds': toleration.toleration_seconds = seconds(r, entry, true); break;
      }
    }
    if (toleration.operator === 'Exists' && toleration.value !== undefined) {
      r.report(item.line, join(item.path, 'value'), 'a toleration with operator Exists takes no value');
    }
    out.push(toleration);
  }
  return out;
}

function readApi(r: Reader, e: Entry, api: ApiDeploymentSettings): ApiDeploymentSettings {
  const out = { ...api };
  for (const entry of r.entries(e.value, e.path, e.line, API_KEYS) ?? []) {
    switch (entry.key) {
      case 'image': out.image = r.string(entry) ?? out.image; break;
      case 'replicas': out.replicas = integer(r, entry, 0, 100) ?? out.replicas; break;
      case 'port': out.port = integer(r, entry, 1, 65535) ?? out.port; break;
      case 'resources': out.resources = readResources(r, entry); break;
    }
  }
  return out;
}

export function readServiceAccount(r: Reader, e: Entry): string | undefined {
  return name(r, e, dnsSubdomainProblem);
}

export function readPullPolicy(r: Reader, e: Entry): 'Always' | 'IfNotPresent' | 'Never' | undefined {
  return r.oneOf(e, PULL_POLICIES);
}

export function readNodeSelector(r: Reader, e: Entry): Record<string, string> {
  const selector = r.stringMap(e, labelKeyProblem);
  for (const [key, value] of Object.entries(selector)) {
    const problem = labelValueProblem(value);
    if (problem) r.report(e.line, join(e.path, key), `invalid label value ${describeValue(value)}: ${problem}`);
  }
  return selector;
}

/** Why `text` cannot be the API URL job pods use, or null: http(s), a host, no credentials, query or fragment. */
export function apiUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `expected an http:// or https:// URL such as "http://kubescribe-api.batch.svc", got ${JSON.stringify(text)}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `expected an http:// or https:// URL, got ${JSON.stringify(text)}`;
  // It ends up in every job pod's env, readable by the job: a password there would be one for every job.
  if (url.username || url.password) return 'must not hold credentials: job pods authenticate with their ServiceAccount token';
  if (url.search || url.hash) return 'must not have a query or fragment: the runner appends its own paths';
  return null;
}

/** Parses the top-level `kubernetes:` section; problems go to the reader with their lines. */
export function readKubernetes(r: Reader, e: Entry): KubernetesSettings {
  const s = defaultKubernetesSettings();
  for (const entry of r.entries(e.value, e.path, e.line, KUBERNETES_KEYS) ?? []) {
    switch (entry.key) {
      case 'namespace': s.namespace = name(r, entry, (v) => dnsLabelProblem(v)) ?? s.namespace; break;
      case 'image': s.image = r.string(entry) ?? s.image; break;
      case 'image_pull_policy': s.image_pull_policy = r.oneOf(entry, PULL_POLICIES) ?? s.image_pull_policy; break;
      case 'service_account': s.service_account = name(r, entry, dnsSubdomainProblem) ?? s.service_account; break;
      case 'image_pull_secrets':
        s.image_pull_secrets = [];
        for (const item of r.items(entry.value, entry.path, entry.line, 'a list of Secret names') ?? []) {
          const value = name(r, { key: '', path: item.path, value: item.node, keyLine: item.line, line: item.line }, dnsSubdomainProblem);
          if (value !== undefined) s.image_pull_secrets.push(value);
        }
        break;
      case 'resources': s.resources = readResources(r, entry); break;
      case 'node_selector': s.node_selector = readNodeSelector(r, entry); break;
      case 'tolerations': s.tolerations = readTolerations(r, entry); break;
      case 'ttl_after_finished': {
        // "never" keeps finished Jobs, for clusters where something else cleans up.
        const plain = r.plain(entry.value);
        s.ttl_seconds_after_finished = plain === 'never' ? null : (seconds(r, entry, true) ?? s.ttl_seconds_after_finished);
        break;
      }
      case 'successful_jobs_history_limit': s.successful_jobs_history_limit = integer(r, entry, 0, 100) ?? s.successful_jobs_history_limit; break;
      case 'failed_jobs_history_limit': s.failed_jobs_history_limit = integer(r, entry, 0, 100) ?? s.failed_jobs_history_limit; break;
      case 'database_secret': s.database_secret = readSecretKey(r, entry, s.database_secret); break;
      case 'migration_database_secret':
        s.migration_database_secret = readSecretKey(r, entry, { name: 'kubescribe-database-migrate', key: 'DATABASE_URL' });
        break;
      case 'smtp_secret': s.smtp_secret = name(r, entry, dnsSubdomainProblem) ?? s.smtp_secret; break;
      case 'slack_secret': s.slack_secret = name(r, entry, dnsSubdomainProblem) ?? s.slack_secret; break;
      case 'admin_token_secret': s.admin_token_secret = name(r, entry, dnsSubdomainProblem) ?? s.admin_token_secret; break;
      case 'config_map': s.config_map = name(r, entry, dnsSubdomainProblem) ?? s.config_map; break;
      case 'apply_on_start': s.apply_on_start = boolean(r, entry) ?? s.apply_on_start; break;
      case 'start_timeout': s.start_timeout_seconds = seconds(r, entry, false) ?? s.start_timeout_seconds; break;
      case 'api': s.api = readApi(r, entry, s.api); break;
      case 'runner_runlog': s.runner_runlog = r.oneOf(entry, RUNNER_RUNLOGS) ?? s.runner_runlog; break;
      case 'runner': s.runner = r.oneOf(entry, RUNNER_MODES) ?? s.runner; break;
      case 'env': {
        const { env, refs } = readEnv(r, entry);
        s.env = env;
        if (Object.keys(refs).length > 0) s.pod.env_refs = refs;
        break;
      }
      case 'api_url': {
        const value = r.string(entry);
        const problem = value === undefined ? null : apiUrlProblem(value);
        if (problem) r.report(entry.line, entry.path, problem);
        else if (value !== undefined) s.api_url = value.replace(/\/+$/, '');
        break;
      }
      default: readPodOption(r, entry, s.pod, { labelKey: labelKeyProblem, labelValue: labelValueProblem });
    }
  }
  return s;
}

/** Parses the top-level `executor:` key. */
export function readExecutor(r: Reader, e: Entry): ExecutorKind | undefined {
  return r.oneOf(e, EXECUTORS);
}
