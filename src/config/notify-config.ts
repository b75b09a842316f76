// The notification part of kubescribe.yaml: the top-level `notify:` section (channels, default rules,
// delivery) and the rule keys a job's own `notify:` may add (docs/notifications.md). Secrets are never
// in the file: a channel names the environment variable or the file that holds each one.
import { Cron } from 'croner';
import { describeValue } from './durations.ts';
import { NOTIFY_EVENTS } from './job-definition.ts';
import { didYouMean, join, Reader, type Entry } from './yaml-reader.ts';

export const CHANNEL_TYPES = ['email', 'slack', 'webhook'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** Where a secret lives: an environment variable or a file (its content, trimmed). */
export type SecretRef = { env: string } | { file: string };

export interface EmailChannelSpec { name: string; type: 'email'; smtp_url: SecretRef; from: string; to: string[] }
export interface SlackChannelSpec { name: string; type: 'slack'; url: SecretRef }
/** A webhook URL is not necessarily secret (`url:`), its signing secret always is. */
export interface WebhookChannelSpec { name: string; type: 'webhook'; url: SecretRef | { value: string }; secret: SecretRef | null }
export type ChannelSpec = EmailChannelSpec | SlackChannelSpec | WebhookChannelSpec;

/** Daily quiet hours, minutes after midnight in `time_zone` (`from` > `to` spans midnight). */
export interface QuietHours { from: number; to: number; time_zone: string | null }
/** A one-off window (`from`..`to`, ISO strings so a job's definition hash sees them) or a recurring one (`schedule` fires, lasting `duration_ms`). */
export type MaintenanceWindow =
  | { from: string; to: string }
  | { schedule: string; duration_ms: number; time_zone: string | null };
/** Which finished runs count as abnormal: outside the [low, high] percentiles of the recent successes. */
export interface AbnormalRule { metrics: string[]; window: number; min_samples: number; low: number; high: number }

/** The rule keys a job may set besides `on` and `channels` (absent when not given). */
export interface JobNotifyOptions {
  throttle_ms?: number;
  quiet_hours?: QuietHours;
  maintenance?: MaintenanceWindow[];
  abnormal?: AbnormalRule;
}

/**
 * A job's `notify:`: the events (required), the channels (absent: the defaults, which are the
 * environment's channels when no `notify.defaults.channels` says otherwise) and optional rule overrides.
 */
export interface JobNotify extends JobNotifyOptions { on: string[]; channels?: string[] }

/** The default rules, for jobs without their own `notify:` and for the keys a job's leaves out. */
export interface NotifyRules {
  on: string[];
  /** null: the channels the environment defines (email, slack), else every configured channel. */
  channels: string[] | null;
  throttle_ms: number;
  quiet_hours: QuietHours | null;
  maintenance: MaintenanceWindow[];
  abnormal: AbnormalRule;
}

/** Retries of a failing delivery: `max_attempts` in all, backoff doubling from `backoff_ms` (capped at 10 min). */
export interface DeliverySettings { max_attempts: number; backoff_ms: number; timeout_ms: number }

/** The top-level `notify:` section. */
export interface NotifySettings {
  channels: Map<string, ChannelSpec>;
  defaults: NotifyRules;
  /** Base URL of the API/UI for the links in messages, e.g. https://kubescribe.example.com. */
  public_url: string | null;
  delivery: DeliverySettings;
}

export const DEFAULT_NOTIFY_ON = ['failed', 'timed_out', 'lost', 'recovered'];
export const DEFAULT_THROTTLE_MS = 3_600_000;

/** The section as it is with no `notify:` in the file. */
export function defaultNotifySettings(): NotifySettings {
  return {
    channels: new Map(),
    defaults: {
      on: [...DEFAULT_NOTIFY_ON],
      channels: null,
      throttle_ms: DEFAULT_THROTTLE_MS,
      quiet_hours: null,
      maintenance: [],
      abnormal: { metrics: ['duration'], window: 30, min_samples: 10, low: 5, high: 95 },
    },
    public_url: null,
    delivery: { max_attempts: 5, backoff_ms: 10_000, timeout_ms: 10_000 },
  };
}

const TOP_KEYS = ['channels', 'defaults', 'public_url', 'delivery'];
const DEFAULTS_KEYS = ['on', 'channels', 'throttle', 'quiet_hours', 'maintenance', 'abnormal'];
/** Keys a job's `notify:` accepts besides `on` and `channels`. */
export const JOB_NOTIFY_OPTION_KEYS = ['throttle', 'quiet_hours', 'maintenance', 'abnormal'];
const DELIVERY_KEYS = ['max_attempts', 'backoff', 'timeout'];
const QUIET_KEYS = ['from', 'to', 'time_zone'];
const ABNORMAL_KEYS = ['metrics', 'window', 'min_samples', 'percentiles'];
const CHANNEL_KEYS: Record<ChannelType, string[]> = {
  email: ['type', 'smtp_url_env', 'smtp_url_file', 'from', 'to'],
  slack: ['type', 'url_env', 'url_file'],
  webhook: ['type', 'url', 'url_env', 'url_file', 'secret_env', 'secret_file'],
};
const CHANNEL_NAME = /^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CLOCK = /^([01]?\d|2[0-3]):([0-5]\d)$/;

// The channel names jobs refer to, checked once the whole file (whose `notify:` may come last) is read.
const channelRefs = new WeakMap<Reader, { name: string; line: number | null; path: string }[]>();
// Every channel name under notify.channels, valid or not: a broken channel is reported once, at itself.
const declaredChannels = new WeakMap<Reader, Set<string>>();

/** Remembers a channel named by a job's `notify.channels`, to check against the defined ones. */
export function noteChannelRef(r: Reader, name: string, line: number | null, path: string): void {
  const refs = channelRefs.get(r) ?? [];
  refs.push({ name, line, path });
  channelRefs.set(r, refs);
}

/** Reports each channel a job names that is neither defined in `notify.channels` nor an environment default. */
export function checkChannelRefs(r: Reader, settings: NotifySettings | undefined): void {
  const known = new Set(['email', 'slack', ...(settings?.channels.keys() ?? []), ...(declaredChannels.get(r) ?? [])]);
  for (const ref of channelRefs.get(r) ?? []) {
    if (!known.has(ref.name)) {
      r.report(ref.line, ref.path, `unknown channel "${ref.name}": define it under notify.channels, or use "email" or "slack" `
        + `(from SMTP_URL / SLACK_WEBHOOK_URL)${didYouMean(ref.name, [...known])}`);
    }
  }
}

function readSecret(r: Reader, entries: Entry[], base: string, path: string, line: number | null, required: boolean): SecretRef | null {
  const env = entries.find((e) => e.key === `${base}_env`);
  const file = entries.find((e) => e.key === `${base}_file`);
  if (env && file) {
    r.report(file.keyLine, file.path, `give either ${base}_env or ${base}_file, not both`);
    return null;
  }
  if (env) {
    const name = r.string(env);
    if (name === undefined) return null;
    if (!ENV_NAME.test(name)) {
      r.report(env.line, env.path, `expected the name of an environment variable, got ${describeValue(name)}`);
      return null;
    }
    return { env: name };
  }
  if (file) {
    const name = r.string(file);
    return name === undefined ? null : { file: name };
  }
  if (required) r.report(line, join(path, `${base}_env`), `required: the environment variable (${base}_env) or file (${base}_file) holding it; secrets are never written in kubescribe.yaml`);
  return null;
}

function readChannel(r: Reader, e: Entry): ChannelSpec | null {
  if (!CHANNEL_NAME.test(e.key)) {
    r.report(e.keyLine, e.path, `invalid channel name ${describeValue(e.key)}: use lowercase letters, digits, "-" and "_"`);
  }
  const all = r.entries(e.value, e.path, e.line, undefined, 'a map describing the channel');
  if (!all) return null;
  const typeEntry = all.find((entry) => entry.key === 'type');
  if (!typeEntry) {
    r.report(e.keyLine, join(e.path, 'type'), `required key is missing: one of ${CHANNEL_TYPES.join(', ')}`);
    return null;
  }
  const type = r.oneOf(typeEntry, CHANNEL_TYPES);
  if (!type) return null;
  const known = CHANNEL_KEYS[type];
  const entries = all.filter((entry) => {
    if (known.includes(entry.key)) return true;
    const secretKeys = [`${entry.key}_env`, `${entry.key}_file`];
    if (secretKeys.every((key) => known.includes(key))) {
      r.report(entry.keyLine, entry.path, `secrets are never written in kubescribe.yaml: use ${secretKeys.join(' or ')} to name the environment variable or file that holds it`);
    } else {
      r.report(entry.keyLine, entry.path, `unknown key "${entry.key}" for a ${type} channel${didYouMean(entry.key, known)}`);
    }
    return false;
  });
  const value = (key: string) => entries.find((entry) => entry.key === key);
  if (type === 'email') {
    const smtp = readSecret(r, entries, 'smtp_url', e.path, e.keyLine, true);
    const fromEntry = value('from');
    const toEntry = value('to');
    const from = fromEntry ? r.string(fromEntry) : undefined;
    if (!fromEntry) r.report(e.keyLine, join(e.path, 'from'), 'required key is missing: the sender address');
    const to: string[] = [];
    if (!toEntry) r.report(e.keyLine, join(e.path, 'to'), 'required key is missing: a list of recipient addresses');
    else {
      const scalar = r.plain(toEntry.value);
      if (typeof scalar === 'string') to.push(...splitAddresses(scalar));
      else for (const item of r.items(toEntry.value, toEntry.path, toEntry.line, 'an address or a list of addresses') ?? []) {
        const text = r.plain(item.node);
        if (typeof text === 'string' && text.includes('@')) to.push(text.trim());
        else r.report(item.line, item.path, `expected an email address, got ${describeValue(text)}`);
      }
      if (to.length === 0) r.report(toEntry.line, toEntry.path, 'must list at least one recipient');
    }
    return smtp && from && to.length ? { name: e.key, type, smtp_url: smtp, from, to } : null;
  }
  if (type === 'slack') {
    const url = readSecret(r, entries, 'url', e.path, e.keyLine, true);
    return url ? { name: e.key, type, url } : null;
  }
  const plainUrl = value('url');
  let url: WebhookChannelSpec['url'] | null = null;
  if (plainUrl && (value('url_env') || value('url_file'))) {
    r.report(plainUrl.keyLine, plainUrl.path, 'give one of url, url_env or url_file');
  } else if (plainUrl) {
    const text = r.string(plainUrl);
    if (text !== undefined) {
      if (/^https?:\/\/[^/\s]+/.test(text)) url = { value: text };
      else r.report(plainUrl.line, plainUrl.path, `expected an http(s) URL, got ${describeValue(text)}`);
    }
  } else {
    url = readSecret(r, entries, 'url', e.path, e.keyLine, true);
  }
  const secret = readSecret(r, entries, 'secret', e.path, e.keyLine, false);
  return url ? { name: e.key, type, url, secret } : null;
}

/** Splits a comma-separated address list (NOTIFY_EMAIL_TO, `to: "a@x, b@x"`). */
export function splitAddresses(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

function minutesOf(r: Reader, e: Entry): number | undefined {
  const text = r.plain(e.value);
  const match = typeof text === 'string' ? CLOCK.exec(text.trim()) : null;
  if (!match) {
    r.report(e.line, e.path, `expected a time of day such as "22:00", got ${describeValue(text)}`);
    return undefined;
  }
  return Number(match[1]) * 60 + Number(match[2]);
}

function validZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function readZone(r: Reader, e: Entry): string | null {
  const zone = r.string(e);
  if (zone === undefined) return null;
  if (validZone(zone)) return zone;
  r.report(e.line, e.path, `unknown time zone ${describeValue(zone)}: use an IANA name such as "Europe/Berlin" or "UTC"`);
  return null;
}

function readQuietHours(r: Reader, e: Entry): QuietHours | undefined {
  const entries = r.entries(e.value, e.path, e.line, QUIET_KEYS, 'a map with from, to and optionally time_zone');
  if (!entries) return undefined;
  const quiet: Partial<QuietHours> = { time_zone: null };
  for (const key of ['from', 'to']) {
    if (!entries.some((entry) => entry.key === key)) r.report(e.line, join(e.path, key), 'required key is missing');
  }
  for (const entry of entries) {
    if (entry.key === 'time_zone') quiet.time_zone = readZone(r, entry);
    else quiet[entry.key as 'from' | 'to'] = minutesOf(r, entry);
  }
  if (quiet.from === undefined || quiet.to === undefined) return undefined;
  if (quiet.from === quiet.to) {
    r.report(e.line, e.path, 'from and to are the same time: the quiet hours would be empty');
    return undefined;
  }
  return quiet as QuietHours;
}

function readTimestamp(r: Reader, e: Entry): Date | undefined {
  const value = r.plain(e.value);
  const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value) ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime()) || !/(Z|[+-]\d{2}:?\d{2})$/.test(String(value))) {
    r.report(e.line, e.path, `expected an ISO 8601 time with its offset such as "2026-12-01T22:00:00Z", got ${describeValue(value)}`);
    return undefined;
  }
  return date;
}

function readMaintenance(r: Reader, e: Entry): MaintenanceWindow[] {
  const windows: MaintenanceWindow[] = [];
  for (const item of r.items(e.value, e.path, e.line, 'a list of windows ({from, to} or {schedule, duration})') ?? []) {
    const entries = r.entries(item.node, item.path, item.line, ['from', 'to', 'schedule', 'duration', 'time_zone']);
    if (!entries) continue;
    const get = (key: string) => entries.find((entry) => entry.key === key);
    const schedule = get('schedule');
    if (schedule) {
      const expression = r.string(schedule);
      const duration = get('duration');
      if (!duration) r.report(item.line, join(item.path, 'duration'), 'required key is missing: how long each window lasts');
      const zoneEntry = get('time_zone');
      const zone = zoneEntry ? readZone(r, zoneEntry) : null;
      const ms = duration ? r.duration(duration) : undefined;
      if (expression === undefined) continue;
      const checked = r.attempt(schedule, () => {
        new Cron(expression, { timezone: zone ?? undefined, paused: true }).stop();
        return true;
      });
      if (checked && ms !== undefined) windows.push({ schedule: expression, duration_ms: ms, time_zone: zone });
      continue;
    }
    const fromEntry = get('from');
    const toEntry = get('to');
    if (!fromEntry || !toEntry) {
      r.report(item.line, item.path, 'a window needs from and to (ISO 8601 times), or schedule and duration');
      continue;
    }
    const from = readTimestamp(r, fromEntry);
    const to = readTimestamp(r, toEntry);
    if (from && to && to <= from) r.report(toEntry.line, toEntry.path, 'must be after from');
    else if (from && to) windows.push({ from: from.toISOString(), to: to.toISOString() });
  }
  return windows;
}

function positiveInt(r: Reader, e: Entry, min: number, max: number): number | undefined {
  const value = r.plain(e.value);
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  r.report(e.line, e.path, `expected a whole number from ${min} to ${max}, got ${describeValue(value)}`);
  return undefined;
}

function readAbnormal(r: Reader, e: Entry, base: AbnormalRule): AbnormalRule {
  const rule = { ...base, metrics: [...base.metrics] };
  for (const entry of r.entries(e.value, e.path, e.line, ABNORMAL_KEYS) ?? []) {
    if (entry.key === 'metrics') {
      const names: string[] = [];
      for (const item of r.items(entry.value, entry.path, entry.line, 'a list of metric names ("duration" for the run time)') ?? []) {
        const name = r.plain(item.node);
        if (typeof name === 'string' && name.trim()) names.push(name.trim());
        else r.report(item.line, item.path, `expected a metric name, got ${describeValue(name)}`);
      }
      rule.metrics = names;
    } else if (entry.key === 'window') {
      rule.window = positiveInt(r, entry, 2, 1000) ?? rule.window;
    } else if (entry.key === 'min_samples') {
      rule.min_samples = positiveInt(r, entry, 2, 1000) ?? rule.min_samples;
    } else {
      const pair = r.plain(entry.value);
      if (Array.isArray(pair) && pair.length === 2 && pair.every((p) => typeof p === 'number' && p >= 0 && p <= 100) && pair[0] < pair[1]) {
        [rule.low, rule.high] = pair as [number, number];
      } else {
        r.report(entry.line, entry.path, `expected [low, high] percentiles such as [5, 95], got ${describeValue(pair)}`);
      }
    }
  }
  if (rule.min_samples > rule.window) r.report(e.line, join(e.path, 'min_samples'), `must not exceed window (${rule.window})`);
  return rule;
}

/** Reads one of the rule keys a job's `notify:` may carry besides `on` and `channels`. */
export function readJobNotifyOption(r: Reader, e: Entry, into: JobNotifyOptions): void {
  if (e.key === 'throttle') into.throttle_ms = r.duration(e, { allowZero: true });
  else if (e.key === 'quiet_hours') into.quiet_hours = readQuietHours(r, e);
  else if (e.key === 'maintenance') into.maintenance = readMaintenance(r, e);
  else if (e.key === 'abnormal') into.abnormal = readAbnormal(r, e, defaultNotifySettings().defaults.abnormal);
}

function readEvents(r: Reader, e: Entry): string[] {
  const events: string[] = [];
  for (const item of r.items(e.value, e.path, e.line, 'a list of events') ?? []) {
    const value = r.plain(item.node);
    if (typeof value === 'string' && (NOTIFY_EVENTS as readonly string[]).includes(value)) {
      if (!events.includes(value)) events.push(value);
    } else {
      const hint = typeof value === 'string' ? didYouMean(value, NOTIFY_EVENTS) : '';
      r.report(item.line, item.path, `unknown event ${describeValue(value)}, expected one of ${NOTIFY_EVENTS.join(', ')}${hint}`);
    }
  }
  return events;
}

/** Parses the top-level `notify:` section. */
export function readNotifySettings(r: Reader, e: Entry): NotifySettings {
  const settings = defaultNotifySettings();
  for (const entry of r.entries(e.value, e.path, e.line, TOP_KEYS) ?? []) {
    switch (entry.key) {
      case 'channels':
        for (const channel of r.entries(entry.value, entry.path, entry.line, undefined, 'a map of channel name to channel') ?? []) {
          declaredChannels.set(r, (declaredChannels.get(r) ?? new Set()).add(channel.key));
          const spec = readChannel(r, channel);
          if (spec) settings.channels.set(spec.name, spec);
        }
        break;
      case 'public_url': {
        const url = r.string(entry);
        if (url !== undefined && !/^https?:\/\/[^/\s]+/.test(url)) r.report(entry.line, entry.path, `expected an http(s) URL, got ${describeValue(url)}`);
        else if (url !== undefined) settings.public_url = url.replace(/\/+$/, '');
        break;
      }
      case 'delivery':
        for (const d of r.entries(entry.value, entry.path, entry.line, DELIVERY_KEYS) ?? []) {
          if (d.key === 'max_attempts') settings.delivery.max_attempts = positiveInt(r, d, 1, 100) ?? settings.delivery.max_attempts;
          else if (d.key === 'backoff') settings.delivery.backoff_ms = r.duration(d) ?? settings.delivery.backoff_ms;
          else settings.delivery.timeout_ms = r.duration(d) ?? settings.delivery.timeout_ms;
        }
        break;
      case 'defaults': {
        const defaults = settings.defaults;
        for (const d of r.entries(entry.value, entry.path, entry.line, DEFAULTS_KEYS) ?? []) {
          if (d.key === 'on') defaults.on = readEvents(r, d);
          else if (d.key === 'channels') {
            defaults.channels = [];
            for (const item of r.items(d.value, d.path, d.line, 'a list of channel names') ?? []) {
              const name = r.plain(item.node);
              if (typeof name !== 'string' || !name.trim()) r.report(item.line, item.path, `expected a channel name, got ${describeValue(name)}`);
              else {
                defaults.channels.push(name);
                noteChannelRef(r, name, item.line, item.path);
              }
            }
          } else {
            const options: JobNotifyOptions = {};
            readJobNotifyOption(r, d, options);
            if (options.throttle_ms !== undefined) defaults.throttle_ms = options.throttle_ms;
            if (options.quiet_hours) defaults.quiet_hours = options.quiet_hours;
            if (options.maintenance) defaults.maintenance = options.maintenance;
            if (options.abnormal) defaults.abnormal = options.abnormal;
          }
        }
        break;
      }
    }
  }
  return settings;
}
