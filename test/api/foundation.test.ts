// The API's foundation over real HTTP: health, auth and scopes, the error shape, the OpenAPI document.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ENGINES } from '../support/runlog-engines.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createToken, findLiveToken, revokeToken, touchToken } from '../../src/runlog/sql/tokens.ts';

// A stand-in route group with one route per scope, to exercise the auth rules on their own.
async function probeRoutes(app: FastifyInstance): Promise<void> {
  for (const scope of ['read', 'trigger', 'admin'] as const) {
    app.get(`/probe/${scope}`, { config: { scope } }, async (request) => ({ actor: request.actor }));
  }
  app.post('/probe/body', {
    config: { scope: 'read' },
    schema: { body: Type.Object({ name: Type.String({ minLength: 1 }), count: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }) },
  }, async (request) => request.body);
  app.get('/probe/unannotated', async () => ({ ok: true }));
  app.get('/probe/crash', { config: { scope: 'read' } }, async () => {
    throw new Error('secret internals at /srv/app.ts:42');
  });
}

for (const engine of ENGINES) {
  describe(`API foundation (${engine})`, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(engine, { routes: [probeRoutes] });
    });
    after(() => api.close());

    test('/healthz and /readyz need no token; readyz checks the RunLog schema', async () => {
      const health = await api.call('GET', '/healthz', { scope: null });
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const ready = await api.call('GET', '/readyz', { scope: null });
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: 'ready', checks: { runlog: 'ok' } });
    });

    test('no token → 401, unknown token → 401, with the error shape', async () => {
      const none = await api.call('GET', '/probe/read', { scope: null });
      assert.equal(none.status, 401);
      const body = (await none.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'unauthorized');
      assert.match(body.error.message, /Authorization: Bearer/);
      const bogus = await api.call('GET', '/probe/read', { scope: null, headers: { authorization: 'Bearer ksk_nope' } });
      assert.equal(bogus.status, 401);
    });

    test('scopes nest: read < trigger < admin; too small a scope → 403 naming both', async () => {
      const expectations: [string, 'read' | 'trigger' | 'admin', number][] = [
        ['/probe/read', 'read', 200], ['/probe/trigger', 'read', 403], ['/probe/trigger', 'trigger', 200],
        ['/probe/admin', 'trigger', 403], ['/probe/admin', 'admin', 200], ['/probe/read', 'admin', 200],
      ];
      for (const [path, scope, status] of expectations) {
        const response = await api.call('GET', path, { scope });
        assert.equal(response.status, status, `${scope} on ${path}`);
        if (status === 403) {
          const body = (await response.json()) as { error: { code: string; details: { scope: string; required: string } } };
          assert.equal(body.error.code, 'forbidden');
          assert.equal(body.error.details.scope, scope);
        } else {
          assert.deepEqual(await response.json(), { actor: `token:test-${scope}` });
        }
      }
    });

    test('a route without a declared scope is admin-only', async () => {
      assert.equal((await api.call('GET', '/probe/unannotated', { scope: 'trigger' })).status, 403);
      assert.equal((await api.call('GET', '/probe/unannotated', { scope: 'admin' })).status, 200);
    });

    test('revoked and expired tokens stop working; only a hash is stored and last use is recorded', async () => {
      const { token } = await createToken(api.db, { name: 'short-lived', scope: 'read', expires_at: new Date(Date.now() + 60_000), created_by: 'test' });
      const headers = { authorization: `Bearer ${token}` };
      assert.equal((await api.call('GET', '/probe/read', { scope: null, headers })).status, 200);
      const [stored] = await api.db.query<{ token_hash: string; last_used_at: Date | null }>("SELECT token_hash, last_used_at FROM api_tokens WHERE name = 'short-lived'");
      assert.notEqual(stored!.token_hash, token);
      assert.match(stored!.token_hash, /^[0-9a-f]{64}$/);
      assert.ok(stored!.last_used_at);
      await revokeToken(api.db, 'short-lived');
      assert.equal((await api.call('GET', '/probe/read', { scope: null, headers })).status, 401);
      const { token: old } = await createToken(api.db, { name: 'expired', scope: 'read', expires_at: new Date(Date.now() - 1000), created_by: 'test' });
      assert.equal((await api.call('GET', '/probe/read', { scope: null, headers: { authorization: `Bearer ${old}` } })).status, 401);
    });

    test('a token use is recorded at most once a minute', async () => {
      const { token } = await createToken(api.db, { name: 'touchy', scope: 'read', expires_at: null, created_by: 'test' });
      const lastUsed = async () => (await findLiveToken(api.db, token))!.last_used_at!.getTime();
      const t0 = new Date('2030-01-01T00:00:00Z');
      await touchToken(api.db, (await findLiveToken(api.db, token))!, t0);
      assert.equal(await lastUsed(), t0.getTime());
      await touchToken(api.db, (await findLiveToken(api.db, token))!, new Date(t0.getTime() + 30_000));
      assert.equal(await lastUsed(), t0.getTime(), 'within the minute: unchanged');
      const later = new Date(t0.getTime() + 61_000);
      await touchToken(api.db, (await findLiveToken(api.db, token))!, later);
      assert.equal(await lastUsed(), later.getTime());
    });

    test('bad bodies → 400 naming the field; unknown fields are rejected, not dropped', async () => {
      const unknown = await api.call('POST', '/probe/body', { scope: 'read', body: { name: 'x', colour: 'red' } });
      assert.equal(unknown.status, 400);
      const body = (await unknown.json()) as { error: { code: string; message: string; details: { field: string; reason: string }[] } };
      assert.equal(body.error.code, 'invalid_request');
      assert.deepEqual(body.error.details, [{ field: 'body.colour', reason: 'is not a known field' }]);
      const wrong = await api.call('POST', '/probe/body', { scope: 'read', body: { count: 0 } });
      const details = ((await wrong.json()) as { error: { details: { field: string }[] } }).error.details.map((detail) => detail.field).sort();
      assert.deepEqual(details, ['body.count', 'body.name']);
      const malformed = await api.call('POST', '/probe/body', { scope: 'read', body: '{"name": ' });
      assert.equal(malformed.status, 400);
      assert.ok(((await malformed.json()) as { error: unknown }).error);
    });

    test('an oversized body → 413; an unknown route → 404; a crash → 500 without internals', async () => {
      const big = await api.call('POST', '/probe/body', { scope: 'read', body: { name: 'x'.repeat(2 * 1024 * 1024) } });
      assert.equal(big.status, 413);
      assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'body_too_large');
      const missing = await api.call('GET', '/nowhere');
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'route_not_found');
      const crash = await api.call('GET', '/probe/crash', { scope: 'read' });
      assert.equal(crash.status, 500);
      const text = await crash.text();
      assert.doesNotMatch(text, /secret internals|app\.ts|stack/);
    });

    test('/openapi.json is public and a valid OpenAPI 3 document; /docs serves the interactive docs', async () => {
      const response = await api.call('GET', '/openapi.json', { scope: null });
      assert.equal(response.status, 200);
      const document = await response.json();
      const result = await new Validator().validate(document as Parameters<Validator["validate"]>[0]);
      assert.equal(result.valid, true, JSON.stringify(result.errors));
      const docs = await api.call('GET', '/docs/', { scope: null });
      assert.equal(docs.status, 200);
      assert.match(await docs.text(), /swagger/i);
    });
  });
}
