import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { ApiDeps } from '../app.ts';
import type { Executor } from '../../executors/executor.ts';
import { loadMigrations, schemaVersion } from '../../runlog/migrate.ts';
import { RETRY_AFTER_SECONDS } from '../../runlog/connectivity.ts';

const Health = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) });

// The rendered Deployment's readiness probe gives up after 3 s; answering sooner keeps the reason
// (a probe that times out records none).
const EXECUTOR_CHECK_TIMEOUT_MS = 2000;
// The same for the RunLog: a database that went silent (TCP open, no answer) must turn /readyz to 503
// within seconds, not after the pool's own query timeout.
const RUNLOG_CHECK_TIMEOUT_MS = 2000;

/**
 * `/healthz`: the process lives. `/readyz`: the RunLog answers and its schema is current, and the
 * executor can take work (with `executor: kubernetes`: the cluster answers and RBAC allows what KubeScribe does).
 */
export async function healthRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const expected = loadMigrations().length;
  app.get('/healthz', { config: { scope: 'public' }, schema: { tags: ['health'], response: { 200: Health } } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { config: { scope: 'public' }, schema: { tags: ['health'], response: { 200: Health, 503: Health } } },
    async (_request, reply) => {
      const [runlog, executor] = await Promise.all([runlogProblem(deps, expected), executorProblem(deps.executor)]);
      const checks: Record<string, string> = { runlog: runlog ?? 'ok' };
      if (executor !== undefined) checks[deps.executor.name] = executor ?? 'ok';
      // Retry-After as on every 503 of the API: a client (not the kubelet) learns when to ask again.
      if (runlog !== null || (executor !== undefined && executor !== null)) {
        return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send({ status: 'not ready', checks });
      }
      return { status: 'ready', checks };
    },
  );
}

/** null when a real query answered with the current schema version, else the reason. */
async function runlogProblem(deps: ApiDeps, expected: number): Promise<string | null> {
  const check = async () => {
    try {
      const version = await schemaVersion(deps.db);
      return version === expected ? null : `schema version ${version}, expected ${expected}`;
    } catch (error) {
      return `unreachable: ${(error as Error).message}`;
    }
  };
  return withDeadline(check(), RUNLOG_CHECK_TIMEOUT_MS);
}

/** undefined: the executor has no readiness check; null: ready; else the reason. */
async function executorProblem(executor: Executor): Promise<string | null | undefined> {
  if (!executor.readiness) return undefined;
  return withDeadline(executor.readiness().catch((error: unknown) => (error instanceof Error ? error.message : String(error))), EXECUTOR_CHECK_TIMEOUT_MS);
}

/** The check's answer, or "no answer within …" once `ms` pass (the check itself runs on, unawaited). */
async function withDeadline(check: Promise<string | null>, ms: number): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${ms} ms`), ms);
  });
  try {
    return await Promise.race([check, late]);
  } finally {
    clearTimeout(timer);
  }
}
