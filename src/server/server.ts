import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/app.ts';
import { jobsRoutes } from '../api/routes/jobs.ts';
import { runsReadRoutes } from '../api/routes/runs-read.ts';
import { runsWriteRoutes } from '../api/routes/runs-write.ts';
import type { KubescribeConfig } from '../config/job-definition.ts';
import type { Environment } from '../config/environment.ts';
import { LocalExecutor } from '../executors/local-executor.ts';
import { RecordingExecutor, type Executor } from '../executors/executor.ts';
import type { Db } from '../runlog/db.ts';
import { openRunLogDb } from '../runlog/open-runlog.ts';
import { syncJobs } from '../runlog/sync-jobs.ts';
import { triggerRun } from '../runs/trigger-run.ts';
import { Scheduler } from '../scheduler/scheduler.ts';

export interface ServerOptions {
  env: Environment;
  config: KubescribeConfig;
  host: string;
  port: number;
  executor: 'local' | 'none';
  scheduler: boolean;
  maxConcurrentRuns: number;
  cwd: string;
  logger: boolean | Record<string, unknown>;
}

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  db: Db;
  /** First call drains: live runs finish, the scheduler stops, then the RunLog closes. */
  close(options?: { drain?: boolean }): Promise<void>;
}

/** Starts the API with its executor and scheduler on one RunLog: `kubescribe dev` and `kubescribe serve`. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  // Threaded PGlite: in-process runners read their children's pipes on this event loop.
  const db = await openRunLogDb(options.env, { threaded: true });
  try {
    await syncJobs(db, options.config);
    const executor: Executor =
      options.executor === 'local'
        ? new LocalExecutor({ db, config: options.config, home: options.env.home, cwd: options.cwd, maxConcurrentRuns: options.maxConcurrentRuns })
        : new RecordingExecutor();
    const deps = { db, config: options.config, executor, logger: options.logger };
    const app = await buildApp(deps, [runsReadRoutes, runsWriteRoutes, jobsRoutes]);
    await executor.start();
    const scheduler = options.scheduler
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
          onEvent: (event) =>
            event.type === 'tick_failed'
              ? app.log.error({ err: event.error }, 'scheduler tick failed')
              : app.log.info({ scheduler: event }, 'scheduler'),
        })
      : null;
    await scheduler?.start();
    const url = await app.listen({ host: options.host, port: options.port });
    let closing: Promise<void> | null = null;
    return {
      url,
      app,
      db,
      close({ drain = true } = {}) {
        closing ??= (async () => {
          await scheduler?.stop();
          await app.close();
          await executor.stop({ drain });
          await db.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
}
