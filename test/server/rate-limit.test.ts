// Per-token rate limits over real HTTP: 429 with Retry-After in the API's one error shape, counted per
// token (another token is unaffected), never for an exempt token or a health probe, and a bad token
// still learns nothing but 401.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { runsReadRoutes } from '../../src/api/routes/runs-read.ts';
import { runsWriteRoutes } from '../../src/api/routes/runs-write.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { RecordingExecutor } from '../../src/executors/executor.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { createToken } from '../../src/runlog/sql/tokens.ts';
import { syncJobs } from '../../src/runlog/sync-jobs.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

// The limiter does not touch the RunLog: one engine is enough (PostgreSQL when there is one).
const engine = ENGINES.at(-1)!;

describe(`per-token rate limits (${engine})`, () => {
  let runlog: TestRunLog;
  let db: Db;
  let app: FastifyInstance;
  let url: string;
  const tokens: Record<string, string> = {};

  before(async () => {
    runlog = await createTestRunLog(engine);
    db = await openRunLogDb(runlog.location);
    const config = parseConfig('jobs:\n  hello:\n    command: ["true"]\n', 'kubescribe.yaml');
    await syncJobs(db, config);
    for (const name of ['first', 'second', 'local-admin']) {
      tokens[name] = (await createToken(db, { name, scope: 'admin', expires_at: null, created_by: 'test' })).token;
    }
    app = await buildApp({
      db, config, executor: new RecordingExecutor(),
      rateLimit: { max: 3, per_ms: 60_000, exemptTokens: () => [tokens['local-admin']!] },
    }, [runsReadRoutes, runsWriteRoutes]);
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app.close();
    await db.close();
    await runlog.cleanup();
  });

  const call = (path: string, token: string | null, init: RequestInit = {}) =>
    fetch(`${url}${path}`, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string>) } });

  test('the request over the limit gets 429, Retry-After and the one error shape; another token is unaffected', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await call('/runs', tokens.first!)).status, 200);
    const refused = await call('/runs', tokens.first!);
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${refused.headers.get('retry-after')}`);
    const body = (await refused.json()) as { error: { code: string; message: string; details: Record<string, unknown> } };
    assert.equal(body.error.code, 'rate_limited');
    assert.match(body.error.message, /more than 3 requests in 1 min from this token; retry in \d+ s/);
    assert.deepEqual(Object.keys(body).sort(), ['error']);
    assert.equal(body.error.details.retry_after_seconds, retryAfter);
    // Writes count against the same token.
    const trigger = await call('/runs/trigger', tokens.first!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"job":"hello"}' });
    assert.equal(trigger.status, 429);
    assert.equal((await call('/runs', tokens.second!)).status, 200);
  });

  test('the exempt token (the local admin token of kubescribe dev) is never limited', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await call('/runs', tokens['local-admin']!)).status, 200);
  });

  test('a bad token gets 401, never 429; the health probes are never limited', async () => {
    for (let i = 0; i < 5; i++) {
      const bad = await call('/runs/trigger', 'ksk_not_a_real_token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"job":"hello"}' });
      assert.equal(bad.status, 401);
    }
    for (let i = 0; i < 6; i++) assert.equal((await call('/healthz', null)).status, 200);
  });
});
