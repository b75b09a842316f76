// The notification settings in effect: kubescribe.yaml's `notify:` section on top of the channels the
// environment defines (SMTP_URL + NOTIFY_EMAIL_TO → "email", SLACK_WEBHOOK_URL → "slack"), and the
// rules of one job (its own `notify:` keys over the defaults).
import type { Environment } from '../config/environment.ts';
import type { KubescribeConfig } from '../config/job-definition.ts';
import {
  defaultNotifySettings,
  splitAddresses,
  type AbnormalRule,
  type ChannelSpec,
  type MaintenanceWindow,
  type NotifySettings,
  type QuietHours,
} from '../config/notify-config.ts';

/** Settings with the environment's channels merged in (a channel of the same name in the file wins). */
export interface EffectiveSettings extends NotifySettings {
  /** Channels used when neither the job nor `notify.defaults` names any. */
  default_channels: string[];
}

/** The rules that apply to one job. */
export interface JobRules {
  on: string[];
  channels: string[];
  throttle_ms: number;
  quiet_hours: QuietHours | null;
  maintenance: MaintenanceWindow[];
  abnormal: AbnormalRule;
  /** The zone clock times (quiet hours, "since 09:00") are read in. */
  time_zone: string;
}

/** Channels from the environment alone. */
export function environmentChannels(env: Pick<Environment, 'notify'>): ChannelSpec[] {
  const channels: ChannelSpec[] = [];
  const { smtpUrlSet, emailTo, emailFrom, slackWebhookUrlSet } = env.notify;
  if (smtpUrlSet && emailTo) {
    channels.push({ name: 'email', type: 'email', smtp_url: { env: 'SMTP_URL' }, from: emailFrom ?? 'kubescribe@localhost', to: splitAddresses(emailTo) });
  }
  if (slackWebhookUrlSet) channels.push({ name: 'slack', type: 'slack', url: { env: 'SLACK_WEBHOOK_URL' } });
  return channels;
}

/** Merges the environment's channels into the config's `notify:` section. */
export function effectiveSettings(config: KubescribeConfig, env: Pick<Environment, 'notify'>): EffectiveSettings {
  const base = config.notify ?? defaultNotifySettings();
  const fromEnv = environmentChannels(env);
  const channels = new Map<string, ChannelSpec>(fromEnv.map((spec) => [spec.name, spec]));
  for (const [name, spec] of base.channels) channels.set(name, spec);
  const envNames = fromEnv.map((spec) => spec.name);
  return {
    ...base,
    channels,
    public_url: base.public_url ?? env.notify.publicUrl?.replace(/\/+$/, '') ?? null,
    default_channels: base.defaults.channels ?? (envNames.length ? envNames : [...base.channels.keys()]),
  };
}

/** The rules of `job` (a job unknown to the config gets the defaults). */
export function jobRules(settings: EffectiveSettings, config: KubescribeConfig, job: string): JobRules {
  const definition = config.jobs.get(job);
  const own = definition?.notify;
  const defaults = settings.defaults;
  const quiet = own?.quiet_hours ?? defaults.quiet_hours;
  return {
    on: own?.on ?? defaults.on,
    channels: own?.channels ?? settings.default_channels,
    throttle_ms: own?.throttle_ms ?? defaults.throttle_ms,
    quiet_hours: quiet,
    maintenance: own?.maintenance ?? defaults.maintenance,
    abnormal: own?.abnormal ?? defaults.abnormal,
    time_zone: quiet?.time_zone ?? definition?.time_zone ?? 'UTC',
  };
}
