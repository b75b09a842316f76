// The whole server as `serve` builds it (every API route group and the web UI) for UI tests, with a
// sign-in code store the test can issue one-time links from.
import { uiRoutes } from '../../src/ui/ui-routes.ts';
import { SignInCodes } from '../../src/ui/sign-in-codes.ts';
import type { KubescribeConfig } from '../../src/config/job-definition.ts';
import type { Executor } from '../../src/executors/executor.ts';
import { startTestApi, type TestApi } from './api.ts';
import { ALL_ROUTES } from './full-api.ts';
import type { Engine } from './runlog-engines.ts';
import type { Db } from '../../src/runlog/db.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import type { RunStatus, Trigger } from '../../src/runlog/types.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';

export interface TestUi extends TestApi {
  signInCodes: SignInCodes;
}

/** The API and the UI on one app over real HTTP, on `engine`. */
export async function startTestUi(engine: Engine, options: { config?: KubescribeConfig; executor?: Executor } = {}): Promise<TestUi> {
  const signInCodes = new SignInCodes();
  const api = await startTestApi(engine, { ...options, routes: [...ALL_ROUTES, uiRoutes], deps: { signInCodes } });
  return { ...api, signInCodes };
}

/** A run to seed straight into the RunLog, as a runner would have recorded it. */
export interface SeedRun {
  job: string;
  status?: RunStatus;
  trigger?: Trigger;
  labels?: Record<string, string>;
  created_at: Date;
  /** How long it ran (default 1.5 s). */
  duration_ms?: number;
}

/** Inserts a run as `running` (or `queued`), then moves it to its final status; returns its id. */
export async function seedRun(db: Db, seed: SeedRun): Promise<string> {
  const runId = uuidv7();
  await ensureUndeclaredJob(db, seed.job);
  const status = seed.status ?? 'running';
  await insertRun(
    db,
    {
      run_id: runId, job: seed.job, job_content_hash: null, trigger: seed.trigger ?? 'manual', triggered_by: 'test',
      params: {}, status: status === 'queued' ? 'queued' : 'running', executor: 'local',
      labels: seed.labels ?? {}, created_at: seed.created_at,
    },
    { event_id: uuidv7(), at: seed.created_at, type: 'created', actor: 'test' },
  );
  if (status !== 'queued' && status !== 'running') await finishSeededRun(db, runId, status, seed.created_at, seed.duration_ms);
  return runId;
}

/** Moves a seeded running run to `status`, as its runner would. */
export async function finishSeededRun(db: Db, runId: string, status: RunStatus, startedAt: Date, durationMs = 1500): Promise<void> {
  const finishedAt = new Date(startedAt.getTime() + durationMs);
  const result = await transitionRun(db, runId, ['running'], status, {
    started_at: startedAt, finished_at: finishedAt, exit_code: status === 'succeeded' ? 0 : 1,
  }, { event_id: uuidv7(), at: finishedAt, type: status, actor: 'test' });
  if (!result.changed) throw new Error(`run ${runId} was not running`);
}
