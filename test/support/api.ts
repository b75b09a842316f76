// Starts the real API over real HTTP on loopback against an isolated RunLog, with tokens of each scope.
import type { FastifyInstance } from 'fastify';
import { buildApp, type ApiDeps, type RouteGroup } from '../../src/api/app.ts';
import { emptyConfig, type KubescribeConfig } from '../../src/config/job-definition.ts';
import { RecordingExecutor, type Executor } from '../../src/executors/executor.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { createToken, type TokenScope } from '../../src/runlog/sql/tokens.ts';
import { createTestRunLog, type Engine, type TestRunLog } from './runlog-engines.ts';

export interface TestApi {
  url: string;
  app: FastifyInstance;
  db: Db;
  runlog: TestRunLog;
  /** A live token of each scope. */
  tokens: Record<TokenScope, string>;
  /** fetch() against the API with the given scope's token (or none). */
  call(method: string, path: string, options?: { scope?: TokenScope | null; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  close(): Promise<void>;
}

export interface TestApiOptions {
  config?: KubescribeConfig;
  executor?: Executor;
  routes?: RouteGroup[];
  /** More dependencies (the UI's sign-in codes). */
  deps?: Partial<ApiDeps>;
}

/** Opens a RunLog on `engine`, builds the app with `routes`, and listens on 127.0.0.1:<free port>. */
export async function startTestApi(engine: Engine, options: TestApiOptions = {}): Promise<TestApi> {
  const runlog = await createTestRunLog(engine);
  // The API holds the RunLog open for the whole test file, as `kubescribe dev` does.
  const db = await openRunLogDb(runlog.location);
  const tokens = {} as Record<TokenScope, string>;
  for (const scope of ['read', 'trigger', 'admin'] as const) {
    tokens[scope] = (await createToken(db, { name: `test-${scope}`, scope, expires_at: null, created_by: 'test' })).token;
  }
  const app = await buildApp({ db, config: options.config ?? emptyConfig(), executor: options.executor ?? new RecordingExecutor(), ...options.deps }, options.routes ?? []);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    app,
    db,
    runlog,
    tokens,
    call(method, path, { scope = 'admin', body, headers = {} } = {}) {
      return fetch(`${url}${path}`, {
        method,
        headers: {
          ...(scope ? { authorization: `Bearer ${tokens[scope]}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
    },
    async close() {
      await app.close();
      await db.close();
      await runlog.cleanup();
    },
  };
}
