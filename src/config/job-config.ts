// Loads kubescribe.yaml into typed job definitions. The file is walked as a YAML node tree rather than
// as plain JS so that every complaint can point at the line the user has to edit, and every check runs
// to the end so one pass over the file reports everything that is wrong with it.

import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { Cron } from 'croner';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { splitCommandLine } from './command-line.ts';
import { jobNameProblem } from './job-name.ts';
import { describeValue, formatDuration, parseByteSize } from './durations.ts';
import { readLocal } from './local-config.ts';
import { readApi } from './api-config.ts';
import { readRetention } from './retention-config.ts';
import {
  CATCH_UP_POLICIES,
  CONCURRENCY_POLICIES,
  ConfigError,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_LOG_CAP_BYTES,
  emptyConfig,
  NOTIFY_EVENTS,
  type ConfigIssue,
  type JobDefinition,
  type KubescribeConfig,
  type RunLogSettings,
} from './job-definition.ts';
import { didYouMean, join, Reader, type Entry } from './yaml-reader.ts';
import {
  defaultKubernetesSettings, labelKeyProblem, labelValueProblem, readExecutor, readKubernetes, readNodeSelector, readPullPolicy, readResources, readServiceAccount,
  readTolerations, RUNNER_MODES,
} from './kubernetes-config.ts';
import { mergePodOptions, POD_OPTION_KEYS, readEnv, readPodOption, type PodOptions } from './pod-options-config.ts';
import { checkChannelRefs, JOB_NOTIFY_OPTION_KEYS, noteChannelRef, readJobNotifyOption, readNotifySettings, type JobNotify } from './notify-config.ts';

// Callers that already parse YAML get the whole config API from here.
export * from './job-definition.ts';

const DEFAULT_GRACE_PERIOD_MS = 10_000;
const DEFAULT_BACKOFF_MS = 10_000;
const CRON_NICKNAMES = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

const TOP_KEYS = ['version', 'runlog', 'jobs', 'local', 'executor', 'kubernetes', 'notify', 'api', 'retention'];
const RUNLOG_KEYS = ['log_cap', 'heartbeat', 'lost_after'];
const RETRIES_KEYS = ['limit', 'backoff'];
const NOTIFY_KEYS = ['on', 'channels'];
const JOB_KEYS = [
  'description', 'command', 'image', 'env', 'params', 'schedule', 'time_zone', 'timeout', 'grace_period', 'retries',
  'concurrency_policy', 'catch_up', 'expected_duration', 'starting_deadline', 'labels', 'tenant', 'notify',
  'resources', 'runner', 'service_account', 'image_pull_policy', 'node_selector', 'tolerations', ...POD_OPTION_KEYS,
];

function readRunLog(r: Reader, e: Entry): RunLogSettings {
  const settings: RunLogSettings = { log_cap_bytes: DEFAULT_LOG_CAP_BYTES, heartbeat_ms: DEFAULT_HEARTBEAT_MS };
  let lostAfter: Entry | undefined;
  for (const entry of r.entries(e.value, e.path, e.line, RUNLOG_KEYS) ?? []) {
    if (entry.key === 'log_cap') {
      settings.log_cap_bytes = r.attempt(entry, () => parseByteSize(r.plain(entry.value))) ?? settings.log_cap_bytes;
    } else if (entry.key === 'lost_after') {
      lostAfter = entry;
      settings.lost_after_ms = r.duration(entry);
    } else {
      settings.heartbeat_ms = r.duration(entry) ?? settings.heartbeat_ms;
    }
  }
  // One late heartbeat (a busy runner, a slow write) must not make a live run lost.
  if (lostAfter && settings.lost_after_ms !== undefined && settings.lost_after_ms < 2 * settings.heartbeat_ms) {
    r.report(lostAfter.line, lostAfter.path, `must be at least twice runlog.heartbeat (${formatDuration(settings.heartbeat_ms)}), `
      + `or a live run could be marked lost between two heartbeats; got ${formatDuration(settings.lost_after_ms)}`);
    delete settings.lost_after_ms;
  }
  return settings;
}

function readCommand(r: Reader, e: Entry): string[] {
  let argv: string[] = [];
  if (isScalar(e.value) && typeof e.value.value === 'string') {
    const text = e.value.value;
    const split = r.attempt(e, () => splitCommandLine(text));
    if (!split) return [];
    argv = split;
  } else if (isSeq(e.value)) {
    for (const item of r.items(e.value, e.path, e.line, 'a list') ?? []) {
      const text = r.scalarText(item.node);
      if (text === undefined) r.report(item.line, item.path, `expected a string, got ${describeValue(r.plain(item.node))}`);
      else argv.push(text);
    }
    if (argv.length < e.value.items.length) return argv;
  } else {
    r.report(e.line, e.path, `expected a list of strings or a command string, got ${describeValue(r.plain(e.value))}`);
    return [];
  }
  if (argv.length === 0) r.report(e.line, e.path, 'must not be empty: give the program to run and its arguments');
  else if (argv[0] === '') r.report(e.line, e.path, 'the program (first element) must not be empty');
  return argv;
}

function readParams(r: Reader, e: Entry): Record<string, unknown> {
  const node = e.value;
  if (!isMap(node)) {
    r.report(e.line, e.path, `expected a JSON Schema map with type: object, got ${describeValue(r.plain(node))}`);
    return {};
  }
  const schema = r.plain(node) as Record<string, unknown>;
  const lineAt = (segments: string[]) => r.lineOf(node.getIn(segments, true)) ?? e.line;
  if (schema.type !== 'object') {
    r.report(lineAt(['type']), join(e.path, 'type'), `the params schema must have type: object, got ${describeValue(schema.type)}`);
  }
  // A fresh instance per job: two jobs may legitimately reuse the same $id.
  const ajv = new Ajv({ strict: false, logger: false });
  if (!ajv.validateSchema(schema)) {
    const first = ajv.errors?.[0];
    const segments = (first?.instancePath ?? '').split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const allowed = first?.params && 'allowedValues' in first.params ? ` (${(first.params.allowedValues as unknown[]).join(', ')})` : '';
    const where = segments.reduce<string>((path, s) => join(path, s), e.path);
    r.report(lineAt(segments), where, `not a valid JSON Schema: ${first?.message ?? 'rejected by the meta-schema'}${allowed}`);
    return schema;
  }
  try {
    ajv.compile(schema);
  } catch (err) {
    r.report(e.line, e.path, `not a valid JSON Schema: ${(err as Error).message}`);
  }
  return schema;
}

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function checkSchedule(r: Reader, e: Entry, expression: string, timezone: string): void {
  const trimmed = expression.trim();
  const fields = trimmed.split(/\s+/).length;
  // Croner also takes a 7th (year) field; Kubernetes and most readers of the file do not.
  if (!CRON_NICKNAMES.has(trimmed) && fields !== 5 && fields !== 6) {
    r.report(e.line, e.path, `expected a cron expression with 5 fields (or 6 with seconds first), got ${describeValue(expression)}`);
    return;
  }
  try {
    new Cron(trimmed, { timezone, paused: true }).stop();
  } catch (err) {
    const reason = (err as Error).message.replace(/^CronPattern:\s*/, '');
    r.report(e.line, e.path, `invalid cron expression ${describeValue(expression)}: ${reason}`);
  }
}

function readNotify(r: Reader, e: Entry): JobNotify {
  const notify: JobNotify = { on: [] as string[] };
  const entries = r.entries(e.value, e.path, e.line, [...NOTIFY_KEYS, ...JOB_NOTIFY_OPTION_KEYS]);
  if (!entries) return notify;
  // Without `channels` a job alerts the default channels: nowhere until the environment configures one,
  // so that the example starts clean. A channel it names must exist (a failed delivery otherwise).
  if (!entries.some((entry) => entry.key === 'on')) r.report(e.line, join(e.path, 'on'), 'required key is missing');
  for (const entry of entries) {
    if (JOB_NOTIFY_OPTION_KEYS.includes(entry.key)) {
      readJobNotifyOption(r, entry, notify);
      continue;
    }
    const list = entry.key === 'on' ? notify.on : (notify.channels = []);
    const items = r.items(entry.value, entry.path, entry.line, 'a list of strings');
    if (!items) continue;
    if (items.length === 0) r.report(entry.line, entry.path, 'must list at least one entry');
    for (const item of items) {
      const value = r.plain(item.node);
      if (typeof value !== 'string' || value.trim() === '') {
        r.report(item.line, item.path, `expected a non-empty string, got ${describeValue(value)}`);
      } else if (entry.key === 'on' && !(NOTIFY_EVENTS as readonly string[]).includes(value)) {
        r.report(item.line, item.path, `unknown event "${value}", expected one of ${NOTIFY_EVENTS.join(', ')}${didYouMean(value, NOTIFY_EVENTS)}`);
      } else if (!list.includes(value)) {
        list.push(value);
        if (entry.key === 'channels') noteChannelRef(r, value, item.line, item.path);
      }
    }
  }
  return notify;
}

function readJob(r: Reader, name: string, e: Entry): JobDefinition {
  const job: JobDefinition = {
    name,
    command: [],
    env: {},
    params: { type: 'object', properties: {} },
    time_zone: 'UTC',
    grace_period_ms: DEFAULT_GRACE_PERIOD_MS,
    retries: { limit: 0, backoff_ms: DEFAULT_BACKOFF_MS },
    concurrency_policy: 'Allow',
    catch_up: 'latest',
    labels: {},
  };
  const entries = r.entries(e.value, e.path, e.line, JOB_KEYS, 'a map describing the job') ?? [];
  if (!entries.some((entry) => entry.key === 'command')) r.report(e.keyLine, join(e.path, 'command'), 'required key is missing');
  let scheduleEntry: Entry | undefined;
  let zoneEntry: Entry | undefined;
  const pod: PodOptions = {};
  for (const entry of entries) {
    switch (entry.key) {
      case 'description': job.description = r.string(entry, false); break;
      case 'image': job.image = r.string(entry); break;
      case 'tenant': job.tenant = r.string(entry); break;
      case 'command': job.command = readCommand(r, entry); break;
      case 'params': job.params = readParams(r, entry); break;
      case 'timeout': job.timeout_ms = r.duration(entry); break;
      case 'expected_duration': job.expected_duration_ms = r.duration(entry); break;
      case 'starting_deadline': job.starting_deadline_ms = r.duration(entry); break;
      case 'grace_period': job.grace_period_ms = r.duration(entry, { allowZero: true }) ?? job.grace_period_ms; break;
      case 'notify': job.notify = readNotify(r, entry); break;
      case 'resources': job.resources = readResources(r, entry); break;
      case 'runner': job.runner = r.oneOf(entry, RUNNER_MODES); break;
      case 'env': {
        const { env, refs } = readEnv(r, entry);
        job.env = env;
        if (Object.keys(refs).length > 0) pod.env_refs = refs;
        break;
      }
      case 'service_account': pod.service_account = readServiceAccount(r, entry); break;
      case 'image_pull_policy': pod.image_pull_policy = readPullPolicy(r, entry); break;
      case 'node_selector': pod.node_selector = readNodeSelector(r, entry); break;
      case 'tolerations': pod.tolerations = readTolerations(r, entry); break;
      default:
        if (POD_OPTION_KEYS.includes(entry.key)) readPodOption(r, entry, pod, { labelKey: labelKeyProblem, labelValue: labelValueProblem });
        break;
      case 'labels':
        job.labels = r.stringMap(entry, (key) => (key.trim() === '' ? 'label names must not be empty' : null));
        break;
      case 'schedule': scheduleEntry = entry; break;
      case 'time_zone': zoneEntry = entry; break;
      case 'concurrency_policy': job.concurrency_policy = r.oneOf(entry, CONCURRENCY_POLICIES) ?? job.concurrency_policy; break;
      case 'catch_up': job.catch_up = r.oneOf(entry, CATCH_UP_POLICIES) ?? job.catch_up; break;
      case 'retries':
        for (const retry of r.entries(entry.value, entry.path, entry.line, RETRIES_KEYS) ?? []) {
          if (retry.key === 'backoff') {
            job.retries.backoff_ms = r.duration(retry, { allowZero: true }) ?? job.retries.backoff_ms;
            continue;
          }
          const limit = r.plain(retry.value);
          if (typeof limit === 'number' && Number.isInteger(limit) && limit >= 0 && limit <= 100) job.retries.limit = limit;
          else r.report(retry.line, retry.path, `expected an integer from 0 to 100, got ${describeValue(limit)}`);
        }
        break;
    }
  }
  for (const key of Object.keys(pod) as (keyof PodOptions)[]) if (pod[key] === undefined) delete pod[key];
  if (Object.keys(pod).length > 0) job.pod = pod;
  // After the loop so the zone is known whichever order the keys were written in.
  const zone = zoneEntry && r.string(zoneEntry);
  if (zoneEntry && zone !== undefined) {
    if (validTimeZone(zone)) job.time_zone = zone;
    else r.report(zoneEntry.line, zoneEntry.path, `unknown time zone ${describeValue(zone)}: use an IANA name such as "Europe/Berlin" or "UTC"`);
  }
  const schedule = scheduleEntry && r.string(scheduleEntry)?.trim();
  if (scheduleEntry && schedule) {
    job.schedule = schedule;
    checkSchedule(r, scheduleEntry, schedule, job.time_zone);
  }
  return job;
}

function readJobs(r: Reader, e: Entry): Map<string, JobDefinition> {
  const jobs = new Map<string, JobDefinition>();
  for (const entry of r.entries(e.value, e.path, e.line, undefined, 'a map of job name to job definition') ?? []) {
    const name = entry.key;
    const problem = jobNameProblem(name);
    if (problem) r.report(entry.keyLine, entry.path, problem);
    // Still read the body so its problems are reported in the same pass as the name's.
    const job = readJob(r, name, entry);
    if (!problem) jobs.set(name, job);
  }
  return jobs;
}

/**
 * What only the whole file can tell: every volume mount of a job names a volume the job (or the
 * `kubernetes:` defaults) declares, and no job pod is given KubeScribe's own credentials — the
 * database, SMTP or Slack Secret, or DATABASE_URL — which would let any job touch every run.
 */
function checkPodOptions(r: Reader, doc: ReturnType<typeof parseDocument>, config: KubescribeConfig): void {
  const settings = config.kubernetes ?? defaultKubernetesSettings();
  const defaults = settings.pod;
  const own = new Set([settings.database_secret.name, settings.smtp_secret, settings.slack_secret,
    ...(settings.migration_database_secret ? [settings.migration_database_secret.name] : [])]);
  const at = (job: JobDefinition, key: string, fromJob: boolean, ...more: string[]) => {
    const where = [...(fromJob ? ['jobs', job.name, key] : ['kubernetes', key]), ...more];
    return { line: r.lineOf(doc.getIn(where, true)) ?? r.lineOf(doc.getIn(where.slice(0, -1), true)), path: where.join('.') };
  };
  for (const job of config.jobs.values()) {
    const pod = mergePodOptions(defaults, job.pod);
    const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
    for (const mount of pod.volume_mounts ?? []) {
      if (volumes.has(mount.name)) continue;
      const where = at(job, 'volume_mounts', (job.pod?.volume_mounts ?? []).includes(mount));
      r.report(where.line, where.path, `mount of volume "${mount.name}" at ${mount.path} (job ${job.name}): no volume of that name; declare it under volumes`);
    }
    const hint = 'it holds KubeScribe\'s own credentials, which reach every run; give the job a Secret of its own';
    const refused = (key: string, fromJob: boolean, what: string, ...more: string[]) => {
      const where = at(job, key, fromJob, ...more);
      r.report(where.line, where.path, `${what} (job ${job.name}): ${hint}`);
    };
    const databaseUrl = 'DATABASE_URL is the variable KubeScribe reads for the RunLog, and job pods must not hold the RunLog\'s credentials; '
      + 'name your database URL differently (e.g. WAREHOUSE_URL) and take it from a Secret';
    for (const [name, ref] of Object.entries(pod.env_refs ?? {})) {
      const fromJob = job.pod?.env_refs?.[name] === ref;
      if (name === 'DATABASE_URL') {
        const where = at(job, 'env', fromJob, name);
        r.report(where.line, where.path, databaseUrl);
      } else if (ref.secret !== undefined && own.has(ref.secret)) refused('env', fromJob, `env ${name} from Secret ${ref.secret}`, name);
    }
    if ('DATABASE_URL' in { ...settings.env, ...job.env }) {
      const where = at(job, 'env', 'DATABASE_URL' in job.env, 'DATABASE_URL');
      r.report(where.line, where.path, databaseUrl);
    }
    for (const from of pod.env_from ?? []) {
      if (from.secret !== undefined && own.has(from.secret)) refused('env_from', (job.pod?.env_from ?? []).includes(from), `env_from Secret ${from.secret}`);
    }
    for (const volume of pod.volumes ?? []) {
      if (volume.secret !== undefined && own.has(volume.secret)) refused('volumes', (job.pod?.volumes ?? []).includes(volume), `volume ${volume.name} of Secret ${volume.secret}`);
    }
  }
}

/** Parses and validates kubescribe.yaml text; throws ConfigError listing every issue found. */
export function parseConfig(text: string, file: string): KubescribeConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((err) => ({
      line: lines.linePos(err.pos[0]).line,
      path: '',
      message: err.code === 'MULTIPLE_DOCS' ? 'the file must contain a single YAML document (remove the extra "---")' : err.message,
    })));
  }
  const r = new Reader(doc, lines);
  const config: KubescribeConfig = { ...emptyConfig(), file };
  const root = r.resolve(doc.contents);
  for (const e of r.entries(root, '', r.lineOf(root), TOP_KEYS, 'a map with a "jobs" key at the top level') ?? []) {
    if (e.key === 'version') {
      const version = r.plain(e.value);
      if (version !== 1) r.report(e.line, e.path, `unsupported config version ${describeValue(version)}: only 1 is supported`);
    } else if (e.key === 'runlog') {
      config.runlog = readRunLog(r, e);
    } else if (e.key === 'local') {
      config.local = readLocal(r, e);
    } else if (e.key === 'executor') {
      config.executor = readExecutor(r, e);
    } else if (e.key === 'kubernetes') {
      config.kubernetes = readKubernetes(r, e);
    } else if (e.key === 'notify') {
      config.notify = readNotifySettings(r, e);
    } else if (e.key === 'api') {
      config.api = readApi(r, e);
    } else if (e.key === 'retention') {
      config.retention = readRetention(r, e);
    } else {
      config.jobs = readJobs(r, e);
    }
  }
  checkChannelRefs(r, config.notify);
  checkPodOptions(r, doc, config);
  if (r.issues.length > 0) {
    // Stable sort: issues on one line keep the order they were found in.
    const order = (line: number | null) => line ?? Number.MAX_SAFE_INTEGER;
    throw new ConfigError(file, [...r.issues].sort((a, b) => order(a.line) - order(b.line)));
  }
  return config;
}

/** Reads and parses a config file; a missing or unreadable file is a ConfigError too. */
export function loadConfig(file: string): KubescribeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? 'config file not found' : `cannot read config file: ${(err as Error).message}`;
    throw new ConfigError(file, [{ line: null, path: '', message }]);
  }
  return parseConfig(text, file);
}
