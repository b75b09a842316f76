// The shape of a parsed kubescribe.yaml and the few things that need no parser: kept apart from the
// loader so that a runner with no config file never loads yaml, ajv or croner (~70 ms of start-up).
import { createHash } from 'node:crypto';
import type { ExecutorKind, KubernetesSettings, ResourceSettings, RunnerMode } from './kubernetes-config.ts';
import type { JobNotify, NotifySettings } from './notify-config.ts';
import type { ApiSettings } from './api-config.ts';
import type { PodOptions } from './pod-options-config.ts';
import type { RetentionSettings } from './retention-config.ts';

export type ConcurrencyPolicy = 'Allow' | 'Forbid' | 'Replace';
/** What the scheduler does with the slots that came due while it was not running. */
export type CatchUpPolicy = 'none' | 'latest' | 'all';

export interface JobDefinition {
  name: string; description?: string; command: string[]; image?: string;
  env: Record<string, string>; params: Record<string, unknown>; // params: the JSON Schema of the run's params
  schedule?: string; time_zone: string; timeout_ms?: number; grace_period_ms: number;
  retries: { limit: number; backoff_ms: number }; concurrency_policy: ConcurrencyPolicy; catch_up: CatchUpPolicy;
  expected_duration_ms?: number; starting_deadline_ms?: number;
  labels: Record<string, string>; tenant?: string;
  notify?: JobNotify;
  /** Container resources on Kubernetes; replaces `kubernetes.resources` for this job. */
  resources?: ResourceSettings;
  /** Kubernetes: where the pod's runner comes from; replaces `kubernetes.runner` for this job. */
  runner?: RunnerMode;
  /** Kubernetes pod options of this job (env from Secrets, volumes, labels...); merged over `kubernetes:` defaults. */
  pod?: PodOptions;
}

export interface RunLogSettings {
  log_cap_bytes: number; heartbeat_ms: number;
  /** `runlog.lost_after`: a live run's heartbeat silent this long makes it `lost` (unset: see src/runs/reaper.ts). */
  lost_after_ms?: number;
}

/** The `local:` section: settings of the local executor. */
export interface LocalSettings { max_concurrent_runs?: number }

export interface KubescribeConfig {
  file: string | null; runlog: RunLogSettings; jobs: Map<string, JobDefinition>;
  local?: LocalSettings;
  /** `executor:` (default local) and the `kubernetes:` section (defaults when absent). */
  executor?: ExecutorKind; kubernetes?: KubernetesSettings;
  /** The top-level `notify:` section: channels, default rules, delivery (src/config/notify-config.ts). */
  notify?: NotifySettings;
  /** The `api:` section: rate limits, connection cap, HTTP timeouts, shutdown grace (src/config/api-config.ts). */
  api?: ApiSettings;
  /** The `retention:` section: how long run logs and the notification outbox are kept (src/config/retention-config.ts). */
  retention?: RetentionSettings;
}

export interface ConfigIssue {
  /** 1-based line of the offending value (of the key for unknown keys), null when not tied to a line. */
  line: number | null;
  /** Dotted path such as "jobs.report.timeout"; empty for problems with the file as a whole. */
  path: string;
  message: string;
}

/** A config file that cannot be used, with every issue found in it. */
export class ConfigError extends Error {
  readonly file: string;
  readonly issues: ConfigIssue[];

  constructor(file: string, issues: ConfigIssue[]) {
    super(issues.map((issue) => formatIssue(file, issue)).join('\n'));
    this.name = 'ConfigError';
    this.file = file;
    this.issues = issues;
  }
}

/** Allowed `concurrency_policy` values, and the `notify.on` events. */
export const CONCURRENCY_POLICIES: readonly ConcurrencyPolicy[] = ['Allow', 'Forbid', 'Replace'];
/** Allowed `catch_up` values. */
export const CATCH_UP_POLICIES: readonly CatchUpPolicy[] = ['none', 'latest', 'all'];
export const NOTIFY_EVENTS = ['failed', 'timed_out', 'lost', 'recovered', 'succeeded', 'missed', 'late', 'abnormal'] as const;

export const DEFAULT_LOG_CAP_BYTES = 10 * 1024 * 1024;
export const DEFAULT_HEARTBEAT_MS = 10_000;

function formatIssue(file: string, issue: ConfigIssue): string {
  const where = issue.line === null ? file : `${file}:${issue.line}`;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/** Defaults with no file and no jobs, for running without a kubescribe.yaml. */
export function emptyConfig(): KubescribeConfig {
  return { file: null, runlog: { log_cap_bytes: DEFAULT_LOG_CAP_BYTES, heartbeat_ms: DEFAULT_HEARTBEAT_MS }, jobs: new Map() };
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** SHA-256 (hex) of the job's canonical JSON: keys sorted at every level, so key order never changes it. */
export function jobDefinitionHash(job: JobDefinition): string {
  return createHash('sha256').update(canonicalJson(job)).digest('hex');
}
