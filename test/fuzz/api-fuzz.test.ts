// Property test over every operation of the API's own OpenAPI document: random and malformed path
// parameters, query strings, headers, content types and bodies (NUL, lone surrogates, huge numbers,
// deep nesting, wrong types, broken JSON, raw HTTP garbage). Whatever arrives, the server answers
// within a deadline, never with a 5xx, every 4xx is KubeScribe's one error shape, and a refused write
// changes no row. Seeded: a failure prints the seed and the shrunk request; FUZZ_SEED, FUZZ_RUNS and
// FUZZ_TIME_SCALE replay or widen a run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import { startTestApi, type TestApi } from '../support/api.ts';
import { ALL_ROUTES, HOSTILE_CONFIG, rowCounts } from '../support/full-api.ts';
import { fetchOpenApi, type OpenApiDocument } from '../support/openapi-contract.ts';
import { ENGINES } from '../support/runlog-engines.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_203);
// Per engine; with PostgreSQL in CI that is 2 × (1,000 HTTP + 150 raw) = 2,300 requests.
const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const RAW_RUNS = Math.ceil(RUNS * 0.15);
// A request that has not been answered by then counts as a hang.
const REQUEST_TIMEOUT_MS = 10_000;
// Each property stops early (and passes with the cases it ran, which the summary line prints) once
// it has run this long, so that a loaded CI machine keeps the file within its 60 s budget.
// FUZZ_TIME_SCALE=10 lets a long local run (FUZZ_RUNS=20000) go to the end.
const TIME_SCALE = Number(process.env.FUZZ_TIME_SCALE ?? 1);
const HTTP_TIME_LIMIT_MS = 18_000 * TIME_SCALE;
const RAW_TIME_LIMIT_MS = 4000 * TIME_SCALE;

type Json = Record<string, unknown>;
interface Operation {
  method: string;
  template: string;
  pathParams: string[];
  query: Record<string, Json>;
  body: Json | null;
}
interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** Every operation the document lists, with what it takes. */
function operationsOf(document: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [template, methods] of Object.entries(document.paths)) {
    for (const [method, spec] of Object.entries(methods)) {
      const parameters = (spec.parameters ?? []) as { in: string; name: string; schema?: Json }[];
      const content = ((spec.requestBody as Json | undefined)?.content ?? {}) as Record<string, { schema?: Json }>;
      operations.push({
        method: method.toUpperCase(),
        template,
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        query: Object.fromEntries(parameters.filter((p) => p.in === 'query').map((p) => [p.name, p.schema ?? {}])),
        body: content['application/json']?.schema ?? null,
      });
    }
  }
  return operations;
}

// Strings a database, a URL decoder or a date parser has choked on, and random ones of every kind.
const NASTY_STRINGS = [
  '', '\u0000', 'a\u0000b', '\ud800', '\udfff', 'x\udc00', '\ud83d', '😀', '%00', '%FF', '%', '%E0%A4%A', '..', '../../etc/passwd',
  'urn:uuid:00000000-0000-7000-8000-000000000000', '{00000000-0000-7000-8000-000000000000}', '00000000000070008000000000000000',
  '2026-02-30T00:00:00Z', '0000-01-01T00:00:00Z', '2026-01-01T23:59:60Z', '+012026-01-01T00:00:00Z', '9999-12-31T23:59:59.999999999Z',
  'Infinity', '-Infinity', 'NaN', '0x10', '+5', '1e999', '-1', '9007199254740993', '99999999999999999999', 'true', 'null', '[]', '{}',
  '100000000h', '5', '0s', '1ms', '3651d', "'; DROP TABLE runs; --", '$1', '\\', '"', '\r\n', ' ', 'a'.repeat(300), 'ksk_' + 'A'.repeat(43),
];
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));
const nastyString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.oneof(loneSurrogate, fc.constantFrom('\u0000', 'a', '😀')), maxLength: 8 }) },
);
const deep = (depth: number, open: string, close: string, leaf = '1') => open.repeat(depth) + leaf + close.repeat(depth);
const nastyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: nastyString },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, 2 ** 53 + 2, 1e308, -1e308, Number.MAX_SAFE_INTEGER, true, false, null, [], {}) },
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 3000 }).map((depth) => JSON.parse(deep(depth, '[', ']'))) },
  { weight: 1, arbitrary: fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) },
);

/** A value the schema describes (mostly), or anything at all. */
function valueFor(schema: Json, pools: Pools): fc.Arbitrary<unknown> {
  // Mostly valid, so that a request usually has only a few bad parts and gets deep into the handler.
  return fc.oneof({ weight: 6, arbitrary: validFor(schema, pools) }, { weight: 1, arbitrary: nastyJson });
}

function validFor(schema: Json, pools: Pools): fc.Arbitrary<unknown> {
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if (Array.isArray(schema.anyOf)) return fc.oneof(...(schema.anyOf as Json[]).map((sub) => validFor(sub, pools)));
  switch (schema.type) {
    case 'integer': return fc.integer({ min: Number(schema.minimum ?? -1000), max: Math.min(Number(schema.maximum ?? 100_000), 2 ** 31) });
    case 'number': return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean': return fc.boolean();
    case 'string':
      if (schema.format === 'uuid') return fc.oneof(fc.constantFrom(...pools.runIds), fc.uuid());
      if (schema.format === 'date-time') return fc.date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
      return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...pools.names) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) });
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Json>;
      const required = (schema.required ?? []) as string[];
      const known = Object.keys(properties).length > 0
        ? fc.record(Object.fromEntries(Object.entries(properties).map(([key, sub]) => [key, valueFor(sub, pools)])), { requiredKeys: required })
        : fc.constant({});
      // A free-form object (params): keys and values from anywhere; a closed one gets an unknown field now and then.
      const open = schema.additionalProperties !== undefined && schema.additionalProperties !== false;
      const extra = open
        ? fc.dictionary(fc.oneof(fc.constantFrom('day', 'rows', 'name'), nastyString), fc.oneof(fc.jsonValue({ maxDepth: 2 }), nastyJson), { maxKeys: 4 })
        : fc.dictionary(nastyString, nastyJson, { maxKeys: 1 });
      return fc.tuple(known, extra, fc.nat(9)).map(([base, more, roll]) => (open || roll >= 7 ? { ...base, ...more } : base));
    }
    default: return nastyJson;
  }
}

interface Pools {
  runIds: string[];
  names: string[];
}

/** Percent-encodes a string the way a client would; a lone surrogate becomes U+FFFD's bytes, as in UTF-8. */
function encode(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((byte) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}
/** A path segment or query value: encoded, or sent as written (broken escapes included). */
const urlText = (value: fc.Arbitrary<unknown>) => fc.tuple(value, fc.nat(5)).map(([v, roll]) => {
  const text = typeof v === 'string' ? v : JSON.stringify(v) ?? '';
  return roll === 0 && /^[\x21-\x7e]*$/.test(text) ? text.replace(/[?#/]/g, '') : encode(text);
});

const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/xml', 'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'APPLICATION/JSON', 'application/jsonx', ';;;'];

function requestFor(operation: Operation, pools: Pools, tokens: Record<string, string>): fc.Arbitrary<FuzzRequest> {
  const segments = fc.record(Object.fromEntries(operation.pathParams.map((name) => [name, urlText(fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...(name === 'run_id' ? pools.runIds : pools.names)) },
    { weight: 2, arbitrary: nastyString },
  ))])));
  const knownPair = Object.keys(operation.query).length > 0
    ? fc.constantFrom(...Object.keys(operation.query)).chain((name) => fc.tuple(fc.constant(name), urlText(valueFor(operation.query[name]!, pools))))
    : fc.constant<[string, string]>(['dry_run', 'true']);
  const queryPairs: fc.Arbitrary<[string, string][]> = fc.oneof(
    { weight: 2, arbitrary: fc.constant<[string, string][]>([]) },
    { weight: 2, arbitrary: fc.array(knownPair, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.array(fc.oneof(
      { weight: 2, arbitrary: knownPair },
      { weight: 1, arbitrary: fc.tuple(urlText(nastyString), urlText(nastyString)) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom('access_token', 'token', 'dry_run', 'limit'), urlText(nastyString)) },
    ), { maxLength: 4 }) },
  );
  const body = fc.oneof(
    { weight: 5, arbitrary: (operation.body ? validFor(operation.body, pools) : nastyJson).map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: nastyJson.map((value) => JSON.stringify(value) ?? '') },
    { weight: 1, arbitrary: fc.constantFrom('{"job":', '{', '[', 'nul', '1e99999', '-', '"\\ud800"', '{"job":"hello","params":1e400}',
      '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '\u0000', '\ufeff{}', deep(50_000, '[', ']'), deep(5000, '{"a":', '}'),
      `{"job":"hello","params":{"a":"${'x'.repeat(70_000)}"}}`, 'x'.repeat(1_100_000)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  );
  // Mostly admin, so that most requests get past auth to validation and the handlers.
  const auth = fc.constantFrom<[string, string | null]>(...Array<[string, string]>(6).fill(['admin', tokens.admin!]), ['read', tokens.read!], ['trigger', tokens.trigger!],
    ['none', null], ['garbage', 'ksk_nope'], ['basic', 'Basic YTpi']);
  const extraHeaders = fc.dictionary(fc.constantFrom('last-event-id', 'accept', 'x-request-id', 'accept-encoding', 'idempotency-key', 'content-encoding'),
    fc.oneof(fc.constantFrom('1', '99999999999', '-1', 'gzip', 'br', 'text/event-stream', '*/*', 'a'.repeat(2000)), fc.string({ unit: 'grapheme-ascii', maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, ''))),
    { maxKeys: 2 });
  return fc.record({ segments, queryPairs, body, withBody: fc.nat(9), contentType: fc.constantFrom(...CONTENT_TYPES), contentTypeRoll: fc.nat(9), auth, extraHeaders })
    .map(({ segments, queryPairs, body, withBody, contentType, contentTypeRoll, auth, extraHeaders }) => {
      let path = operation.template.replace(/\{([^}]+)\}/g, (_match, name: string) => (segments as Record<string, string>)[name] ?? '');
      if (queryPairs.length > 0) path += `?${queryPairs.map(([name, value]) => `${name}=${value}`).join('&')}`;
      const sendsBody = operation.method !== 'GET' && operation.method !== 'HEAD' && (operation.body !== null ? withBody < 9 : withBody < 3);
      const headers: Record<string, string> = { ...extraHeaders };
      if (auth[1] !== null) headers.authorization = auth[0] === 'basic' ? auth[1] : `Bearer ${auth[1]}`;
      if (sendsBody) headers['content-type'] = contentTypeRoll < 7 ? 'application/json' : contentType;
      return { method: operation.method, path, headers, body: sendsBody ? body : undefined };
    });
}

/** Raw bytes for the HTTP parser: broken request lines, bad escapes, oversized or invalid headers. */
const rawRequest = fc.record({
  method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD', 'BREW', 'get', ''),
  path: fc.oneof(fc.constantFrom('/runs', '/jobs/%FF', '/runs/%00', '/tokens/%', `/jobs/${'a'.repeat(150)}`, '*', '//', '/runs?limit=1&&&', '/runs?%FF=1', 'http://x/runs'),
    fc.string({ unit: 'binary-ascii', maxLength: 30 }).map((s) => `/${s.replace(/[\s]/g, '')}`)),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', ''),
  // LENGTH is the body's real length: a body shorter than announced is a slow client, which the
  // server's timeouts handle (test/server), not the parser.
  header: fc.constantFrom('', 'X-Big: ' + 'a'.repeat(20_000) + '\r\n', 'Bad Header\r\n', 'Content-Length: -1\r\n', 'Content-Length: 5\r\nContent-Length: 6\r\n',
    'Transfer-Encoding: chunked\r\nContent-Length: LENGTH\r\n', 'Content-Type: application/json\r\nContent-Length: LENGTH\r\n', 'X-Nul: a\u0000b\r\n',
    'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n', 'Content-Length: 0x10\r\n'),
  body: fc.constantFrom('', '{}', 'abc', '0\r\n\r\n', '3\r\n{}}\r\n0\r\n\r\n', 'zz\r\n'),
}).map(({ method, path, version, header, body }) =>
  `${method} ${path} ${version}\r\nHost: 127.0.0.1\r\nConnection: close\r\n${header.replace('LENGTH', String(body.length))}\r\n${body}`);

function assertErrorShape(what: string, status: number, text: string): void {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`${what}: ${status} with a body that is not JSON: ${text.slice(0, 300)}`);
  }
  const error = (body as { error?: Record<string, unknown> }).error;
  assert.ok(error && Object.keys(body as object).length === 1, `${what}: ${status} not in the one error shape: ${text.slice(0, 300)}`);
  assert.deepEqual(Object.keys(error).sort(), ['code', 'details', 'message'], `${what}: ${text.slice(0, 300)}`);
  assert.equal(typeof error.code, 'string');
  assert.equal(typeof error.message, 'string');
}

for (const engine of ENGINES) {
  describe(`API fuzz over every OpenAPI operation (${engine})`, () => {
    let api: TestApi;
    let operations: Operation[];
    let pools: Pools;
    const tally = { requests: 0, raw: 0, byStatus: new Map<number, number>() };
    before(async () => {
      api = await startTestApi(engine, { config: HOSTILE_CONFIG, routes: ALL_ROUTES });
      operations = operationsOf(await fetchOpenApi(api.url));
      const run = await api.call('POST', '/runs/trigger', { body: { job: 'hello' } });
      assert.equal(run.status, 202);
      const victim = await api.call('POST', '/tokens', { body: { name: 'fuzz-victim', scope: 'read' } });
      assert.equal(victim.status, 201);
      pools = { runIds: [((await run.json()) as { run_id: string }).run_id], names: ['hello', 'nightly', 'fuzz-victim'] };
    });
    after(async () => {
      const statuses = [...tally.byStatus.entries()].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(' ');
      console.log(`api-fuzz ${engine}: seed ${SEED}, ${tally.requests} HTTP requests + ${tally.raw} raw; statuses ${statuses}`);
      await api?.close();
    });

    test('every operation of the document is covered', () => {
      const listed = operations.map((op) => `${op.method} ${op.template}`).sort();
      for (const expected of ['POST /runs/trigger', 'GET /runs', 'GET /runs/{run_id}/logs', 'POST /jobs/{name}/suspend', 'DELETE /tokens/{name}', 'GET /readyz']) {
        assert.ok(listed.includes(expected), `${expected} is not in the document: ${listed.join(', ')}`);
      }
    });

    test(`${RUNS} random requests: no 5xx, no hang, one error shape, refused writes change nothing`, { timeout: 120_000 }, async () => {
      const arbitrary = fc.constantFrom(...operations).chain((operation) => requestFor(operation, pools, api.tokens as Record<string, string>));
      await fc.assert(
        fc.asyncProperty(arbitrary, async (request) => {
          const what = `${request.method} ${request.path.slice(0, 200)} ${JSON.stringify(request.headers).slice(0, 200)} body ${JSON.stringify(request.body?.slice(0, 200))}`;
          const write = request.method !== 'GET';
          const before = write ? await rowCounts(api.db) : null;
          let response: Response;
          try {
            response = await fetch(`${api.url}${request.path}`, {
              method: request.method, headers: request.headers, body: request.body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
            });
          } catch (error) {
            // fetch refuses some header values itself; those never reach the server.
            if (error instanceof TypeError && !/fetch failed/.test(error.message)) return;
            throw new Error(`${what}: ${(error as Error).name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS} ms` : (error as Error).message}`);
          }
          tally.requests++;
          tally.byStatus.set(response.status, (tally.byStatus.get(response.status) ?? 0) + 1);
          // A stream (follow=true) is never read to its end: a live run's log does not end.
          const streaming = (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
          const text = streaming ? (await response.body?.cancel(), '') : await response.text();
          assert.ok(response.status < 500, `${what}: answered ${response.status} ${text.slice(0, 300)}`);
          if (response.status >= 400) {
            assertErrorShape(what, response.status, text);
            if (before) assert.deepEqual(await rowCounts(api.db), before, `${what}: refused with ${response.status} but the RunLog changed`);
          }
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true, interruptAfterTimeLimit: HTTP_TIME_LIMIT_MS },
      );
    });

    test(`${RAW_RUNS} raw HTTP requests: the parser's errors are answered in the one shape, never a 5xx or a hang`, { timeout: 60_000 }, async () => {
      const { hostname, port } = new URL(api.url);
      await fc.assert(
        fc.asyncProperty(rawRequest, async (request) => {
          const answer = await new Promise<string>((resolve, reject) => {
            const socket = connect(Number(port), hostname);
            const chunks: Buffer[] = [];
            const timer = setTimeout(() => {
              socket.destroy();
              reject(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms to ${JSON.stringify(request.slice(0, 200))}`));
            }, REQUEST_TIMEOUT_MS);
            socket.on('data', (chunk: Buffer) => chunks.push(chunk));
            socket.on('error', () => {});
            socket.on('close', () => {
              clearTimeout(timer);
              resolve(Buffer.concat(chunks).toString('latin1'));
            });
            // Half-closed after the request: whatever the parser still waits for will not come.
            socket.end(request, 'latin1');
          });
          tally.raw++;
          const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0);
          if (status === 0) return; // closed without an answer: allowed for garbage that is not HTTP at all
          assert.ok(status < 500, `${JSON.stringify(request.slice(0, 200))}: answered ${answer.slice(0, 300)}`);
          // The first answer only: bytes after a request without Content-Length are read as another request.
          const split = answer.indexOf('\r\n\r\n');
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(answer.slice(0, split))?.[1] ?? -1);
          if (status >= 400 && length >= 0 && !/^HEAD /.test(request)) {
            assertErrorShape(JSON.stringify(request.slice(0, 100)), status, Buffer.from(answer.slice(split + 4), 'latin1').subarray(0, length).toString('latin1'));
          }
        }),
        { seed: SEED, numRuns: RAW_RUNS, endOnFailure: true, interruptAfterTimeLimit: RAW_TIME_LIMIT_MS },
      );
    });
  });
}
