import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { ApiDeps } from '../app.ts';
import type { Executor } from '../../executors/executor.ts';
import { loadMigrations, schemaVersion } from '../../runlog/migrate.ts';

const Health = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) });

// The rendered Deployment's readiness probe gives up after 3 s; answering sooner keeps the reason
// (a probe that times out records none).
const EXECUTOR_CHECK_TIMEOUT_MS = 2000;

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
      if (runlog !== null || (executor !== undefined && executor !== null)) return reply.code(503).send({ status: 'not ready', checks });
      return { status: 'ready', checks };
    },
  );
}

async function runlogProblem(deps: ApiDeps, expected: number): Promise<string | null> {
  try {
    const version = await schemaVersion(deps.db);
    return version === expected ? null : `schema version ${version}, expected ${expected}`;
  } catch (error) {
    return `unreachable: ${(error as Error).message}`;
  }
}

/** undefined: the executor has no readiness check; null: ready; else the reason. */
async function executorProblem(executor: Executor): Promise<string | null | undefined> {
  if (!executor.readiness) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${EXECUTOR_CHECK_TIMEOUT_MS} ms`), EXECUTOR_CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([executor.readiness().catch((error: unknown) => (error instanceof Error ? error.message : String(error))), late]);
  } finally {
    clearTimeout(timer);
  }
}
