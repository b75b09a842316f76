// Hostile input found by the issue 9 test, each as a regression: every one answered 500 (or was
// accepted) and now answers 400 naming the field, in the one error shape, on both engines, and
// changes nothing in the RunLog. A dry run refuses exactly what the real trigger refuses.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { buildApp } from '../../src/api/app.ts';
import { RecordingExecutor } from '../../src/executors/executor.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { ALL_ROUTES, HOSTILE_CONFIG, rowCounts } from '../support/full-api.ts';
import { ENGINES } from '../support/runlog-engines.ts';

interface ErrorReply {
  error: { code: string; message: string; details: unknown };
}

const cursorOf = (createdAt: string) => Buffer.from(JSON.stringify([createdAt, uuidv7()])).toString('base64url');
const nested = (depth: number) => '['.repeat(depth) + '1' + ']'.repeat(depth);

for (const engine of ENGINES) {
  describe(`API: hostile input (${engine})`, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(engine, { config: HOSTILE_CONFIG, routes: ALL_ROUTES });
    });
    after(() => api.close());

    async function send(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
      const response = await fetch(`${api.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${api.tokens.admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body,
      });
      const text = await response.text();
      return { status: response.status, text, body: JSON.parse(text) as ErrorReply };
    }

    async function expect400(method: string, path: string, body: string | undefined, field: string, reason: RegExp, code = 'invalid_request') {
      const counts = await rowCounts(api.db);
      const answer = await send(method, path, body);
      assert.equal(answer.status, 400, `${method} ${path} ${body ?? ''}: ${answer.text}`);
      assert.equal(answer.body.error.code, code, answer.text);
      const details = answer.body.error.details as { field: string; reason: string }[];
      const detail = details.find((entry) => entry.field === field);
      assert.ok(detail, `${method} ${path}: no detail for ${field} in ${answer.text}`);
      assert.match(detail.reason, reason);
      assert.deepEqual(await rowCounts(api.db), counts, `${method} ${path} changed the RunLog`);
    }

    const NUL = /NUL character/;
    const SURROGATE = /lone UTF-16 surrogate/;

    test('NUL bytes in query values and path segments', async () => {
      await expect400('GET', '/runs?job=%00', undefined, 'querystring.job', NUL);
      await expect400('GET', '/runs?label=a%3Db%00', undefined, 'querystring.label', NUL);
      await expect400('GET', '/jobs/%00', undefined, 'params.name', NUL);
      await expect400('GET', '/jobs/a%00b', undefined, 'params.name', NUL);
      await expect400('DELETE', '/tokens/%00', undefined, 'params.name', NUL);
      await expect400('POST', '/jobs/%00/suspend', undefined, 'params.name', NUL);
    });

    for (const dryRun of [false, true]) {
      const trigger = `/runs/trigger${dryRun ? '?dry_run=true' : ''}`;
      test(`NUL bytes and lone surrogates in trigger bodies (${dryRun ? 'dry run' : 'real'})`, async () => {
        await expect400('POST', trigger, '{"job":"hello","params":{"a":"x\\u0000y"}}', 'body.params.a', NUL);
        await expect400('POST', trigger, '{"job":"hello","params":{"a":{"b":["\\u0000"]}}}', 'body.params.a.b.0', NUL);
        await expect400('POST', trigger, '{"job":"hello","reason":"\\u0000"}', 'body.reason', NUL);
        await expect400('POST', trigger, '{"job":"hello","idempotency_key":"k\\u0000"}', 'body.idempotency_key', NUL);
        await expect400('POST', trigger, '{"job":"hel\\u0000lo"}', 'body.job', NUL);
        await expect400('POST', trigger, '{"job":"hello","params":{"\\u0000":1}}', 'body.params.\\u0000', /key that contains a NUL/);
        await expect400('POST', trigger, '{"job":"hello","params":{"a":"\\ud800"}}', 'body.params.a', SURROGATE);
        await expect400('POST', trigger, '{"job":"hello","params":{"a":"\\udc00x"}}', 'body.params.a', SURROGATE);
        await expect400('POST', trigger, '{"job":"hello","params":{"\\ud800":1}}', 'body.params.\\ud800', /key that contains a lone UTF-16 surrogate/);
        await expect400('POST', trigger, '{"job":"hello","reason":"\\ud800"}', 'body.reason', SURROGATE);
        await expect400('POST', trigger, '{"job":"hello","idempotency_key":"\\udfff"}', 'body.idempotency_key', SURROGATE);
      });

      // The body itself is level 1, params level 2: params.a may hold 62 levels of arrays.
      test(`params nested 2,000 and 20,000 deep, and params over 64 KiB (${dryRun ? 'dry run' : 'real'})`, async () => {
        for (const depth of [65, 2000, 20_000]) {
          await expect400('POST', trigger, `{"job":"hello","params":{"a":${nested(depth)}}}`, `body.params.a${'.0'.repeat(62)}`, /nests deeper than 64 levels/);
        }
        const big = JSON.stringify({ job: 'hello', params: { blob: 'x'.repeat(64 * 1024) } });
        await expect400('POST', trigger, big, 'params', /bytes as JSON; the limit is 65536/, 'invalid_params');
      });
    }

    test('a valid pair of surrogates, 64 levels of nesting and 60 KiB of params are fine', async () => {
      const ok = await send('POST', '/runs/trigger', JSON.stringify({ job: 'hello', reason: 'emoji 😀', params: { a: JSON.parse(nested(61)), b: 'x'.repeat(60 * 1024) } }));
      assert.equal(ok.status, 202, ok.text);
      const dry = await send('POST', '/runs/trigger?dry_run=true', JSON.stringify({ job: 'hello', params: { a: JSON.parse(nested(61)) } }));
      assert.equal(dry.status, 200, dry.text);
    });

    test('impossible dates: cursors with 2026-02-30 and 0000-01-01, since with a leap second', async () => {
      const CURSOR = /is not a cursor returned by GET \/runs/;
      await expect400('GET', `/runs?cursor=${cursorOf('2026-02-30T00:00:00.000000Z')}`, undefined, 'querystring.cursor', CURSOR);
      await expect400('GET', `/runs?cursor=${cursorOf('0000-01-01T00:00:00.000000Z')}`, undefined, 'querystring.cursor', CURSOR);
      await expect400('GET', `/runs?cursor=${cursorOf('2026-01-01T23:59:60.000000Z')}`, undefined, 'querystring.cursor', CURSOR);
      const DATE = /must match format "date-time"/;
      await expect400('GET', '/runs?since=2026-01-01T23:59:60Z', undefined, 'querystring.since', DATE);
      await expect400('GET', '/runs?until=2026-02-30T00:00:00Z', undefined, 'querystring.until', DATE);
      await expect400('GET', '/runs?since=0000-01-01T00:00:00Z', undefined, 'querystring.since', DATE);
      await expect400('GET', '/runs?since=%2B012026-01-01T00:00:00Z', undefined, 'querystring.since', DATE);
      const fine = await send('GET', '/runs?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59.999999Z');
      assert.equal(fine.status, 200, fine.text);
    });

    test('limit=Infinity, 0x10, +5, 1e1, " 5" and repeated limits; a strict integer passes', async () => {
      for (const value of ['Infinity', '0x10', '%2B5', '1e1', '%205', '5.0', '-0x1', '']) {
        await expect400('GET', `/runs?limit=${value}`, undefined, 'querystring.limit', /must be integer/);
      }
      await expect400('GET', '/runs?limit=1&limit=2', undefined, 'querystring.limit', /must be integer/);
      await expect400('GET', `/runs/${uuidv7()}/logs?after_seq=0x1`, undefined, 'querystring.after_seq', /must be integer/);
      await expect400('GET', `/runs/${uuidv7()}/logs?follow=1`, undefined, 'querystring.follow', /must be boolean/);
      await expect400('POST', '/runs/trigger?dry_run=yes', '{"job":"hello"}', 'querystring.dry_run', /must be boolean/);
      assert.equal((await send('GET', '/runs?limit=5')).status, 200);
    });

    test('run ids with a urn:uuid: prefix, braces or no dashes are not run references', async () => {
      const id = uuidv7();
      for (const path of [`/runs/urn:uuid:${id}`, `/runs/%7B${id}%7D`, `/runs/${id.replaceAll('-', '')}`, `/runs/urn:uuid:${id}/events`]) {
        await expect400('GET', path, undefined, 'params.run_id', /is not a run reference: expected a run id, a run number such as report#42/);
      }
      await expect400('POST', `/runs/urn:uuid:${id}/cancel`, undefined, 'params.run_id', /is not a run reference/);
    });

    test('expires_in: a bare number, under a minute, over ten years, 100000000h → 400 and no row', async () => {
      const cases: [unknown, RegExp][] = [
        [5, /must be string/],
        ['5', /has no unit/],
        ['30s', /shorter than 1m/],
        ['3651d', /longer than 3650d \(10 years\)/],
        ['100000000h', /longer than 3650d/],
        ['9'.repeat(400) + 'd', /must NOT have more than 100 characters/],
      ];
      for (const [value, reason] of cases) {
        await expect400('POST', '/tokens', JSON.stringify({ name: 'bounded', scope: 'read', expires_in: value }), 'body.expires_in', reason);
      }
      const ok = await send('POST', '/tokens', JSON.stringify({ name: 'bounded', scope: 'read', expires_in: '3650d' }));
      assert.equal(ok.status, 201, ok.text);
    });

    test('one token row with an expiry no JSON date can show does not break GET /tokens', async () => {
      const created = await send('POST', '/tokens', JSON.stringify({ name: 'odd', scope: 'read' }));
      assert.equal(created.status, 201, created.text);
      // As a server before the bound wrote it: year 13434.
      await api.db.query("UPDATE api_tokens SET expires_at = '13434-11-14 14:54:02+00' WHERE name = 'odd'");
      const listed = await send('GET', '/tokens');
      assert.equal(listed.status, 200, listed.text);
      const tokens = (listed.body as unknown as { tokens: { name: string; status: string; expires_at: string | null }[] }).tokens;
      const odd = tokens.find((token) => token.name === 'odd');
      assert.deepEqual({ status: odd?.status, expires_at: odd?.expires_at }, { status: 'active', expires_at: null });
      assert.ok(tokens.length >= 4, 'every other token is still listed');
    });

    test('unknown query parameters are refused everywhere: ?dry_run=true on retry, cancel and suspend does nothing', async () => {
      const trigger = await send('POST', '/runs/trigger', '{"job":"hello"}');
      assert.equal(trigger.status, 202, trigger.text);
      const runId = (trigger.body as unknown as { run_id: string }).run_id;
      await expect400('POST', `/runs/${runId}/cancel?dry_run=true`, undefined, 'querystring.dry_run', /is not a known field/);
      assert.equal((await getRun(api.db, runId))!.status, 'queued', 'cancel?dry_run=true did not cancel');
      assert.equal((await send('POST', `/runs/${runId}/cancel`)).status, 200);
      await expect400('POST', `/runs/${runId}/retry?dry_run=true`, '{}', 'querystring.dry_run', /is not a known field/);
      await expect400('POST', '/jobs/nightly/suspend?dry_run=true', undefined, 'querystring.dry_run', /is not a known field/);
      for (const path of ['/jobs?x=1', '/jobs/hello?verbose=true', `/runs/${runId}?expand=all`, `/runs/${runId}/events?limit=1`, '/tokens?all=1', '/healthz?x=1']) {
        await expect400('GET', path, undefined, `querystring.${/\?([a-z]+)/.exec(path)![1]}`, /is not a known field/);
      }
      await expect400('DELETE', '/tokens/odd?force=1', undefined, 'querystring.force', /is not a known field/);
    });

    test("Fastify's and Node's own errors use the one error shape", async () => {
      const shape = (answer: { body: ErrorReply }, code: string) => {
        assert.deepEqual(Object.keys(answer.body), ['error']);
        assert.deepEqual(Object.keys(answer.body.error).sort(), ['code', 'details', 'message']);
        assert.equal(answer.body.error.code, code);
      };
      const badUrl = await send('GET', '/jobs/%FF');
      assert.equal(badUrl.status, 400);
      shape(badUrl, 'invalid_url');
      const longSegment = await send('GET', `/jobs/${'a'.repeat(200)}`);
      assert.equal(longSegment.status, 414);
      shape(longSegment, 'path_segment_too_long');
      const badJson = await send('POST', '/runs/trigger', '{"job":');
      assert.equal(badJson.status, 400);
      shape(badJson, 'invalid_json');
      const proto = await send('POST', '/runs/trigger', '{"job":"hello","__proto__":{"x":1}}');
      assert.equal(proto.status, 400);
      shape(proto, 'invalid_json');
      const xml = await send('POST', '/runs/trigger', '<job/>', { 'content-type': 'application/xml' });
      assert.equal(xml.status, 415);
      shape(xml, 'unsupported_media_type');
      const headers = await rawRequest(api.url, `GET /runs HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
      assert.match(headers.head, /^HTTP\/1\.1 431 /);
      shape({ body: JSON.parse(headers.body) as ErrorReply }, 'headers_too_large');
      const garbage = await rawRequest(api.url, 'NOT HTTP AT ALL\r\n\r\n');
      assert.match(garbage.head, /^HTTP\/1\.1 400 /);
      shape({ body: JSON.parse(garbage.body) as ErrorReply }, 'bad_request');
    });

    test('the request log never holds a token sent in the query string', async () => {
      const lines: string[] = [];
      const stream = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } });
      const logged = await buildApp({ db: api.db, config: HOSTILE_CONFIG, executor: new RecordingExecutor(), logger: { level: 'info', stream } }, ALL_ROUTES);
      try {
        const url = await logged.listen({ host: '127.0.0.1', port: 0 });
        const secret = 'ksk_SeCrEt0123456789abcdef';
        for (const path of [`/runs?access_token=${secret}`, `/runs?token=${secret}&job=a`, `/jobs/${secret}`, '/runs?api_key=plain-secret-value']) {
          await (await fetch(`${url}${path}`)).text();
        }
        const log = lines.join('');
        assert.match(log, /"url":"\/runs\?access_token=\*\*\*"/, log.slice(0, 2000));
        assert.match(log, /"url":"\/runs\?token=\*\*\*&job=a"/);
        assert.doesNotMatch(log, /SeCrEt0123456789/);
        assert.doesNotMatch(log, /plain-secret-value/);
      } finally {
        await logged.close();
      }
    });
  });
}

/** Writes raw bytes to the server and reads the answer until it closes the connection. */
async function rawRequest(baseUrl: string, request: string): Promise<{ head: string; body: string }> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  socket.write(request);
  await new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const text = Buffer.concat(chunks).toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, split), body: text.slice(split + 4) };
}
