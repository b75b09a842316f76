import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { ApiDeps } from '../app.ts';
import { loadMigrations, schemaVersion } from '../../runlog/migrate.ts';

const Health = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) });

/** `/healthz`: the process lives. `/readyz`: the RunLog answers and its schema is current. */
export async function healthRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const expected = loadMigrations().length;
  app.get('/healthz', { config: { scope: 'public' }, schema: { tags: ['health'], response: { 200: Health } } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { config: { scope: 'public' }, schema: { tags: ['health'], response: { 200: Health, 503: Health } } },
    async (_request, reply) => {
      try {
        const version = await schemaVersion(deps.db);
        if (version !== expected) {
          return reply.code(503).send({ status: 'not ready', checks: { runlog: `schema version ${version}, expected ${expected}` } });
        }
        return { status: 'ready', checks: { runlog: 'ok' } };
      } catch (error) {
        return reply.code(503).send({ status: 'not ready', checks: { runlog: `unreachable: ${(error as Error).message}` } });
      }
    },
  );
}
