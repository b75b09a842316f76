import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/app.ts';
import { jobsRoutes } from '../api/routes/jobs.ts';
import { runsReadRoutes } from '../api/routes/runs-read.ts';
import { runsWriteRoutes } from '../api/routes/runs-write.ts';
import { tokensRoutes } from '../api/routes/tokens.ts';
import { runnerRoutes } from '../api/routes/runner.ts';
import { metricsRoutes } from '../api/routes/metrics.ts';
import { statsRoutes } from '../api/routes/stats.ts';
import { uiRoutes } from '../ui/ui-routes.ts';
import { SignInCodes } from '../ui/sign-in-codes.ts';
import { spoolDirectory } from '../runner/recorder.ts';
import { flushSpools } from '../runner/runlog-sink.ts';
import { PeriodicLoop } from '../util/periodic-loop.ts';
import type { RunnerAuthenticator } from '../api/runner-auth.ts';
import type { KubescribeConfig } from '../config/job-definition.ts';
import type { Environment } from '../config/environment.ts';
import { LocalExecutor } from '../executors/local-executor.ts';
import { RecordingExecutor, type Executor } from '../executors/executor.ts';
import type { Db } from '../runlog/db.ts';
import { openRunLogDb } from '../runlog/open-runlog.ts';
import { syncJobs } from '../runlog/sync-jobs.ts';
import { lostAfterMs } from '../config/lost-after.ts';
import { Reaper } from '../runs/reaper.ts';
import { Retrier } from '../runs/retrier.ts';
import { Retention } from '../runlog/retention.ts';
import { triggerRun } from '../runs/trigger-run.ts';
import { Scheduler } from '../scheduler/scheduler.ts';
import { Notifier } from '../notify/notifier.ts';
import { applyTimeouts, capConnectionsPerClient } from './http-guards.ts';
import { logServerEvents, ServerEvents } from './server-events.ts';
import { serverSettings, type ServerSettings } from './server-settings.ts';

// Spools left by runners are flushed this often: a runner that exits during an outage leaves one.
const SPOOL_FLUSH_MS = 5_000;

export interface ServerOptions {
  env: Environment;
  config: KubescribeConfig;
  host: string;
  port: number;
  executor: 'local' | 'none';
  scheduler: boolean;
  /** The --max-concurrent-runs flag; unset: the config's `local.max_concurrent_runs`, else 4. */
  maxConcurrentRuns?: number;
  cwd: string;
  logger: boolean | Record<string, unknown>;
  /** The --shutdown-grace flag; unset: the config's `api.shutdown_grace`, else 25 s. */
  shutdownGraceMs?: number;
  /** Tokens the rate limit does not count (the local admin token of `kubescribe dev`). */
  rateLimitExempt?: () => Iterable<string>;
  /** How often the server flushes spools runners left in its home (default 5 s). */
  spoolFlushMs?: number;
  /** Runner credentials the runner endpoints accept besides admin tokens and run tokens (src/api/runner-auth.ts). */
  runnerAuthenticators?: RunnerAuthenticator[];
}

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  db: Db;
  /** The executor it chose: `--executor`, and the config's `executor: kubernetes`. */
  executor: Executor;
  /** Problems of the configuration worth saying at start (a job's alert channel that is not configured). */
  warnings: string[];
  /** The `api:` settings in force (defaults filled in). */
  settings: ServerSettings;
  /** The web UI's one-time sign-in codes (`kubescribe dev` prints one). */
  signInCodes: SignInCodes;
  /** Each declared job's revision in the RunLog, as synced at start. */
  revisions: { name: string; revision: number }[];
  /** What the scheduler, reaper, retrier, notifier and Kubernetes executor report (also written to the log). */
  events: ServerEvents;
  /**
   * Stops the server; the first call wins. With drain (the default), live runs and requests get the
   * shutdown grace to finish; then connections are cut and runs cancelled. Log streams end at once.
   */
  close(options?: { drain?: boolean }): Promise<void>;
  /**
   * "Stop now" (a second signal): live local runs are cancelled at once, their process groups killed
   * rather than given their grace period, and recorded `cancelled`; nothing else is waited for.
   */
  stopNow(): Promise<void>;
  /**
   * Takes a reloaded config: its jobs are synced (a changed job gets a new revision) and the API,
   * executor, scheduler and notifier use it from now on; runs in progress keep the one they started
   * with. The Kubernetes executor keeps its CronJobs as they are (`kubescribe apply` changes them).
   */
  reload(config: KubescribeConfig): Promise<{ name: string; revision: number }[]>;
}

/** Starts the API with its executor and scheduler on one RunLog: `kubescribe dev` and `kubescribe serve`. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  // Threaded PGlite: in-process runners read their children's pipes on this event loop.
  const db = await openRunLogDb(options.env, { threaded: true });
  // What has started so far, stopped newest first if a later step fails (the port is taken, the
  // cluster refuses): a failed start leaves nothing running that would keep the process alive.
  const started: (() => Promise<unknown>)[] = [];
  try {
    // Spools first (said once the log exists): a run spooled before kubescribe.yaml changed syncs the
    // definition it ran with, and imported after this sync it would make that older definition current.
    const early: string[] = [];
    await flushSpools(db, spoolDirectory(options.env.home), (line) => early.push(line.replace(/^kubescribe: /, '')));
    const revisions = await syncJobs(db, options.config);
    // `executor: kubernetes`: runs are Jobs and schedules CronJobs, so the in-process scheduler stays off.
    const kubernetes = options.executor !== 'none' && options.config.executor === 'kubernetes';
    // Components report here from the start; the log joins once the app (and its logger) exists.
    const events = new ServerEvents();
    // The Kubernetes modules (the client library: ~0.6 s of CPU to load) only when they are used.
    const k8s = kubernetes
      ? await Promise.all([import('../kubernetes/kubernetes-executor.ts'), import('../kubernetes/token-review.ts')])
      : null;
    const executor: Executor = k8s
      ? k8s[0].createKubernetesExecutor(db, options.config, events.reporter('kubernetes'))
      : options.executor === 'local'
        ? new LocalExecutor({
            db, config: options.config, home: options.env.home, cwd: options.cwd, passEnv: options.env.passEnv,
            maxConcurrentRuns: options.maxConcurrentRuns ?? options.config.local?.max_concurrent_runs,
          })
        : new RecordingExecutor();
    const settings = serverSettings(options.config, { shutdownGraceMs: options.shutdownGraceMs });
    const deps = {
      db, config: options.config, executor, logger: options.logger,
      // A quiet follower's keep-alive must come well within the idle timeout that would close it.
      logStream: { keepAliveMs: Math.min(15_000, Math.floor(settings.idleTimeoutMs / 3)) },
      rateLimit: settings.rateLimit ? { ...settings.rateLimit, exemptTokens: options.rateLimitExempt } : undefined,
      // The caller's, then (executor: kubernetes) job pods' projected ServiceAccount tokens, checked with TokenReview.
      runnerAuthenticators: [
        ...(options.runnerAuthenticators ?? []),
        ...(k8s ? k8s[1].kubernetesRunnerAuthenticators(options.config, events.reporter('kubernetes')) : []),
      ],
      signInCodes: new SignInCodes(),
    };
    const app = await buildApp(deps, [runsReadRoutes, runsWriteRoutes, jobsRoutes, tokensRoutes, runnerRoutes, statsRoutes, metricsRoutes, uiRoutes]);
    started.push(() => app.close());
    logServerEvents(events, app.log);
    for (const line of early) app.log.info(line);
    started.push(() => executor.stop({ drain: false }));
    await executor.start();
    const scheduler = options.scheduler && !kubernetes
      ? new Scheduler({
          db,
          config: options.config,
          fire: async (job, scheduledFor) => {
            // The slot's idempotency key makes a re-fired slot (a crash between run and slot) the same run.
            const outcome = await triggerRun(deps, {
              job: job.name,
              trigger: 'schedule',
              triggered_by: `scheduler@${hostname()}`,
              reason: `schedule slot ${scheduledFor.toISOString()}`,
              idempotency_key: `schedule:${job.name}:${scheduledFor.toISOString()}`,
            });
            return outcome.run!.run_id;
          },
          onEvent: events.reporter('scheduler'),
        })
      : null;
    if (scheduler) started.push(() => scheduler.stop());
    await scheduler?.start();
    // Started after the executor has reconciled the runs it left behind, which it knows more about.
    const reaper = new Reaper({
      db,
      lostAfterMs: lostAfterMs(options.config.runlog),
      isSupervised: executor instanceof LocalExecutor ? (runId) => executor.supervises(runId) : undefined,
      onEvent: events.reporter('reaper'),
    });
    started.push(() => reaper.stop());
    await reaper.start();
    // Automatic retries of every executor's runs, decided from their terminal transitions (docs/runner.md#retries).
    const retrier = executor.name === 'none' ? null : new Retrier({
      db, config: options.config, executor, onEvent: events.reporter('retrier'),
    });
    if (retrier) started.push(() => retrier.stop());
    await retrier?.start();
    // Prunes logs and the notification outbox past `retention:` (nothing without it), one replica at a time.
    const retention = new Retention({ db, config: options.config, onEvent: events.reporter('retention') });
    started.push(() => retention.stop());
    void retention.start();
    applyTimeouts(app.server, settings);
    capConnectionsPerClient(app.server, settings.maxConnectionsPerClient);
    const url = await app.listen({ host: options.host, port: options.port });
    // Every replica runs one: outbox rows are claimed with SKIP LOCKED and leases (docs/notifications.md).
    const notifier = new Notifier({
      db,
      config: options.config,
      env: options.env,
      cwd: options.cwd,
      // Links in messages point at this server unless notify.public_url / KUBESCRIBE_PUBLIC_URL say otherwise.
      fallbackPublicUrl: ['0.0.0.0', '::'].includes(options.host) ? null : url,
      onEvent: events.reporter('notifier'),
    });
    const warnings = notifier.unconfiguredChannels().map(({ job, channel }) =>
      `job ${job} notifies channel "${channel}", which is not configured: its alerts will be recorded as failed `
        + `(set ${channel === 'slack' ? 'SLACK_WEBHOOK_URL' : 'SMTP_URL and NOTIFY_EMAIL_TO'}, or define it under notify.channels)`);
    void notifier.start();
    // Spools that runners left in this server's home when they exited while the API (or the RunLog)
    // was away: written now and every few seconds, without waiting for a later command. A spool
    // whose writer still runs is its writer's (recorder.ts).
    const spoolDir = spoolDirectory(options.env.home);
    const spools = new PeriodicLoop({
      pass: () => flushSpools(db, spoolDir, (line) => app.log.info(line.replace(/^kubescribe: /, ''))),
      intervalMs: options.spoolFlushMs ?? SPOOL_FLUSH_MS,
      onError: (error) => app.log.warn({ err: { message: error.message } }, 'flushing runner spools failed; retrying'),
      unref: true,
    });
    await spools.start();
    let closing: Promise<void> | null = null;
    return {
      url,
      warnings,
      app,
      db,
      executor,
      settings,
      events,
      revisions,
      signInCodes: deps.signInCodes,
      async reload(config) {
        const synced = await syncJobs(db, config);
        deps.config = config;
        if (executor instanceof LocalExecutor) executor.setConfig(config);
        scheduler?.setConfig(config);
        retrier?.setConfig(config);
        retention.setConfig(config);
        notifier.setConfig(config);
        return synced;
      },
      async stopNow() {
        app.server.closeAllConnections();
        if (executor instanceof LocalExecutor) await executor.stopNow();
        else await executor.stop({ drain: false });
      },
      close({ drain = true } = {}) {
        closing ??= (async () => {
          await scheduler?.stop();
          await reaper.stop();
          await retrier?.stop();
          await retention.stop();
          // No new connections from here; idle ones close, log streams end (preClose), and requests in
          // flight and live runs get the grace to finish, side by side.
          const http = app.close();
          const runs = executor.stop({ drain });
          let timer: NodeJS.Timeout | undefined;
          const graceOver = new Promise<true>((resolve) => {
            timer = setTimeout(() => resolve(true), drain ? settings.shutdownGraceMs : 0);
          });
          const late = await Promise.race([Promise.all([http, runs]).then(() => false), graceOver]);
          clearTimeout(timer);
          if (late) {
            app.log.warn({ live_runs: executor instanceof LocalExecutor ? executor.liveRunIds : undefined }, 'shutdown grace over: cutting connections, cancelling live runs');
            app.server.closeAllConnections();
            // Cancels what still runs: the runner signals the job and records it cancelled.
            await executor.stop({ drain: false });
          }
          await http;
          await runs;
          await spools.stop();
          // What is still pending stays in the outbox for the next start or another replica.
          await notifier.stop();
          await db.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    for (const stop of started.reverse()) await stop().catch(() => {});
    await db.close().catch(() => {});
    throw error;
  }
}
