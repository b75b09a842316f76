// The notifier loop of `kubescribe dev` and `kubescribe serve` (every replica runs one): monitors,
// then dispatch, then delivery, every second. Each step is safe to run in many processes at once
// (advisory lock, SKIP LOCKED, leases), so no replica is special. Failures are reported through
// onEvent and never stop the loop or touch a run's own record.
import { hostname } from 'node:os';
import type { Environment } from '../config/environment.ts';
import type { KubescribeConfig } from '../config/job-definition.ts';
import type { Db } from '../runlog/db.ts';
import { guardListener, PeriodicLoop } from '../util/periodic-loop.ts';
import { configDir, type Channel } from './channels/channel.ts';
import { deliverDue, type AttemptOutcome } from './deliverer.ts';
import { dispatchPending } from './dispatcher.ts';
import { runMonitors } from './monitors.ts';
import { effectiveSettings, jobRules, type EffectiveSettings } from './settings.ts';

export interface NotifierOptions {
  db: Db;
  config: KubescribeConfig;
  env: Pick<Environment, 'notify' | 'secret'>;
  cwd: string;
  /** Default 1 s: the outbox query is one index probe, and an alert a second late is fine. */
  pollMs?: number;
  /** Default 5 s. */
  monitorMs?: number;
  /** Public URL for links when neither the config nor KUBESCRIBE_PUBLIC_URL gives one (the server's own). */
  fallbackPublicUrl?: string | null;
  owner?: string;
  channelFor?: (name: string) => Channel;
  onEvent?: (event: NotifierEvent) => void;
}

export type NotifierEvent =
  | { type: 'attempt'; outcome: AttemptOutcome }
  | { type: 'monitor'; late: number; missed: number; swept: number }
  | { type: 'pass_failed'; error: Error };

/** Counts of one pass. */
export interface PassResult { dispatched: number; attempts: AttemptOutcome[] }

function settingsOf(options: NotifierOptions): EffectiveSettings {
  const settings = effectiveSettings(options.config, options.env);
  return settings.public_url || !options.fallbackPublicUrl ? settings : { ...settings, public_url: options.fallbackPublicUrl };
}

/** Monitors, dispatches and delivers notifications on a timer until stopped. */
export class Notifier {
  settings: EffectiveSettings;
  private readonly loop: PeriodicLoop<PassResult>;
  private readonly emit: (event: NotifierEvent) => void;
  private lastMonitor = 0;

  constructor(private readonly options: NotifierOptions) {
    this.settings = settingsOf(options);
    // A listener's bug must not end a pass halfway, between an attempt and the next.
    this.emit = guardListener(options.onEvent);
    this.loop = new PeriodicLoop({
      pass: () => this.runOnce(),
      intervalMs: options.pollMs ?? 1000,
      onError: (error) => this.emit({ type: 'pass_failed', error }),
      // Pending deliveries stay in the outbox: this loop alone never keeps a process alive.
      unref: true,
    });
  }

  /** Uses a reloaded config (jobs' rules, channels) from the next pass on. */
  setConfig(config: KubescribeConfig): void {
    this.options.config = config;
    this.settings = settingsOf(this.options);
  }

  /** Channels jobs name that neither the file nor the environment defines (their deliveries will fail). */
  unconfiguredChannels(): { job: string; channel: string }[] {
    const missing: { job: string; channel: string }[] = [];
    for (const job of this.options.config.jobs.keys()) {
      for (const channel of jobRules(this.settings, this.options.config, job).channels) {
        if (!this.settings.channels.has(channel)) missing.push({ job, channel });
      }
    }
    return missing;
  }

  /** Starts the loop; the first pass runs at once, and the returned promise resolves when it is done. Never rejects. */
  start(): Promise<void> {
    return this.loop.start();
  }

  /** Stops the loop and waits for a pass in progress. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One pass: monitors (when due), dispatch, delivery. Throws what fails; the loop reports it instead. */
  async runOnce({ monitors = true }: { monitors?: boolean } = {}): Promise<PassResult> {
    const { db, config } = this.options;
    if (monitors && Date.now() - this.lastMonitor >= (this.options.monitorMs ?? 5000)) {
      this.lastMonitor = Date.now();
      const found = await runMonitors(db, config);
      if (found.late || found.missed || found.swept) this.emit({ type: 'monitor', late: found.late, missed: found.missed, swept: found.swept });
    }
    const dispatched = await dispatchPending(db, { config, settings: this.settings });
    const attempts = await deliverDue(db, {
      config,
      settings: this.settings,
      secrets: { env: this.options.env, baseDir: configDir(config.file, this.options.cwd) },
      owner: this.options.owner ?? `${hostname()}:${process.pid}`,
      channelFor: this.options.channelFor,
    });
    for (const outcome of attempts) this.emit({ type: 'attempt', outcome });
    return { dispatched, attempts };
  }
}
