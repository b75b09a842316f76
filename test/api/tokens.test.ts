// Tokens over real HTTP on each engine: create (the value once, created_by = the calling token), list
// (never a value or hash), revoke (idempotent, 404 for an unknown name), admin scope only, bad input
// rejected with the field named and nothing written. Every response is checked against /openapi.json.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tokensRoutes } from '../../src/api/routes/tokens.ts';
import { listTokens } from '../../src/runlog/sql/tokens.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { checkResponse, fetchOpenApi, type OpenApiDocument } from '../support/openapi-contract.ts';
import { ENGINES } from '../support/runlog-engines.ts';

const HOUR = 3_600_000;

for (const engine of ENGINES) {
  describe(`API: tokens (${engine})`, () => {
    let api: TestApi;
    let doc: OpenApiDocument;

    /** Calls the API and checks the answer against the document; `token` overrides the scope's token. */
    async function call(method: string, path: string, template: string, options: { scope?: 'read' | 'trigger' | 'admin' | null; body?: unknown; token?: string } = {}) {
      const response = options.token
        ? await fetch(`${api.url}${path}`, {
            method,
            headers: { authorization: `Bearer ${options.token}`, ...(options.body ? { 'content-type': 'application/json' } : {}) },
            body: options.body ? JSON.stringify(options.body) : undefined,
          })
        : await api.call(method, path, { scope: options.scope === undefined ? 'admin' : options.scope, body: options.body });
      const text = await response.text();
      const body = JSON.parse(text);
      checkResponse(doc, method, template, response.status, body);
      return { status: response.status, body, text };
    }
    const names = async () => (await listTokens(api.db)).map((token) => token.name);

    before(async () => {
      api = await startTestApi(engine, { routes: [tokensRoutes] });
      doc = await fetchOpenApi(api.url);
    });
    after(() => api.close());

    test('POST /tokens → 201 with the token once, created_by the calling token; the token works with its scope', async () => {
      const started = Date.now();
      const created = await call('POST', '/tokens', '/tokens', { body: { name: 'ci', scope: 'read', expires_in: '90d' } });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.name, 'ci');
      assert.equal(created.body.scope, 'read');
      assert.equal(created.body.status, 'active');
      assert.equal(created.body.created_by, 'token:test-admin');
      assert.match(created.body.token, /^ksk_[A-Za-z0-9_-]{43}$/);
      const expires = new Date(created.body.expires_at).getTime();
      assert.ok(expires >= started + 90 * 24 * HOUR && expires <= Date.now() + 90 * 24 * HOUR, created.body.expires_at);
      const [row] = (await listTokens(api.db)).filter((token) => token.name === 'ci');
      assert.equal(row!.created_by, 'token:test-admin', 'the actor is recorded in the RunLog');
      // A read token may not manage tokens: the new one authenticates (403, not 401) with its scope.
      const denied = await call('GET', '/tokens', '/tokens', { token: created.body.token });
      assert.equal(denied.status, 403);
      assert.match(denied.body.error.message, /token ci has scope read; this endpoint needs admin/);

      const admin = await call('POST', '/tokens', '/tokens', { body: { name: 'ops@example.com', scope: 'admin' } });
      assert.equal(admin.status, 201, admin.text);
      assert.equal(admin.body.expires_at, null);
      const listed = await call('GET', '/tokens', '/tokens', { token: admin.body.token });
      assert.equal(listed.status, 200);
      assert.ok(listed.body.tokens.some((token: { name: string }) => token.name === 'ci'));
    });

    test('GET /tokens lists every token with status and dates, never a value or hash', async () => {
      const listed = await call('GET', '/tokens', '/tokens');
      assert.equal(listed.status, 200);
      const rows = listed.body.tokens as Record<string, unknown>[];
      assert.deepEqual(rows.map((row) => row.name), ['test-read', 'test-trigger', 'test-admin', 'ci', 'ops@example.com']);
      assert.deepEqual(Object.keys(rows[0]!).sort(), ['created_at', 'created_by', 'expires_at', 'last_used_at', 'name', 'revoked_at', 'revoked_by', 'scope', 'status']);
      assert.ok(rows.find((row) => row.name === 'test-admin')!.last_used_at, 'last use of the calling token is shown');
      const hashes = await api.db.query<{ token_hash: string }>('SELECT token_hash FROM api_tokens');
      for (const secret of [...Object.values(api.tokens), ...hashes.map((row) => row.token_hash)]) {
        assert.ok(!listed.text.includes(secret), 'a token value or hash was returned');
      }
      assert.doesNotMatch(listed.text, /ksk_|token_hash/);
    });

    test('DELETE /tokens/{name} revokes at once; again is 200 with revoked_now false; an unknown name is 404', async () => {
      const created = await call('POST', '/tokens', '/tokens', { body: { name: 'doomed', scope: 'trigger' } });
      assert.equal(created.status, 201, created.text);
      assert.equal((await call('GET', '/tokens', '/tokens', { token: created.body.token })).status, 403, 'works before the revoke');
      const revoked = await call('DELETE', '/tokens/doomed', '/tokens/{name}');
      assert.equal(revoked.status, 200, revoked.text);
      assert.equal(revoked.body.revoked_now, true);
      assert.equal(revoked.body.status, 'revoked');
      assert.ok(revoked.body.revoked_at);
      assert.equal(revoked.body.revoked_by, 'token:test-admin', 'who revoked it is recorded');
      const after = await call('GET', '/tokens', '/tokens', { token: created.body.token });
      assert.equal(after.status, 401, 'a revoked token is refused on its next request');
      const again = await call('DELETE', '/tokens/doomed', '/tokens/{name}');
      assert.equal(again.status, 200);
      assert.equal(again.body.revoked_now, false);
      assert.equal(again.body.revoked_at, revoked.body.revoked_at, 'the first revoke time stays');
      assert.equal(again.body.revoked_by, 'token:test-admin');
      const unknown = await call('DELETE', '/tokens/nobody', '/tokens/{name}');
      assert.equal(unknown.status, 404);
      assert.deepEqual(unknown.body.error, { code: 'token_not_found', message: 'no token nobody', details: { token: 'nobody' } });
    });

    test('only admin tokens manage tokens: read and trigger get 403, no token 401; nothing changes', async () => {
      const before = await names();
      for (const scope of ['read', 'trigger'] as const) {
        assert.equal((await call('POST', '/tokens', '/tokens', { scope, body: { name: `by-${scope}`, scope: 'admin' } })).status, 403);
        assert.equal((await call('GET', '/tokens', '/tokens', { scope })).status, 403);
        assert.equal((await call('DELETE', '/tokens/ci', '/tokens/{name}', { scope })).status, 403);
      }
      assert.equal((await call('POST', '/tokens', '/tokens', { scope: null, body: { name: 'anon', scope: 'admin' } })).status, 401);
      assert.equal((await call('GET', '/tokens', '/tokens', { scope: null })).status, 401);
      assert.equal((await call('DELETE', '/tokens/ci', '/tokens/{name}', { scope: null })).status, 401);
      assert.deepEqual(await names(), before);
      assert.equal((await listTokens(api.db)).find((token) => token.name === 'ci')!.revoked_at, null);
    });

    test('bad input → 400 naming the field, a taken name → 409; nothing is created', async () => {
      const before = await names();
      const cases: [unknown, string, RegExp][] = [
        [{ name: 'two words', scope: 'read' }, 'body.name', /must match pattern/],
        [{ name: 'x', scope: 'root' }, 'body.scope', /must be one of \["read","trigger","admin"\]/],
        [{ scope: 'read' }, 'body.name', /is required/],
        [{ name: 'x', scope: 'read', expires_in: 'soon' }, 'body.expires_in', /expected a duration such as "15m", got "soon"/],
        [{ name: 'x', scope: 'read', expires_in: '0s' }, 'body.expires_in', /greater than zero/],
        [{ name: 'x', scope: 'read', token: 'ksk_mine' }, 'body.token', /is not a known field/],
      ];
      for (const [body, field, reason] of cases) {
        const answer = await call('POST', '/tokens', '/tokens', { body });
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(answer.body.error.code, 'invalid_request');
        const detail = (answer.body.error.details as { field: string; reason: string }[]).find((d) => d.field === field);
        assert.ok(detail, `${JSON.stringify(body)}: no detail for ${field} in ${answer.text}`);
        assert.match(detail.reason, reason);
      }
      for (const name of ['ci', 'doomed']) {
        const taken = await call('POST', '/tokens', '/tokens', { body: { name, scope: 'read' } });
        assert.equal(taken.status, 409);
        assert.equal(taken.body.error.code, 'token_name_taken');
        assert.match(taken.body.error.message, new RegExp(`a token named ${name} already exists`));
      }
      assert.deepEqual(await names(), before);
    });
  });
}
