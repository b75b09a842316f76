// The read side of runs over real HTTP on each engine: filters, keyset pagination, one run, its
// events, its log by range and followed as Server-Sent Events. Every response is checked against
// the OpenAPI document the server publishes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { waitFor } from '../support/cli.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { checkResponse, fetchOpenApi, type OpenApiDocument } from '../support/openapi-contract.ts';
import { runsReadRoutes } from '../../src/api/routes/runs-read.ts';
import type { Db } from '../../src/runlog/db.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { insertLogChunks } from '../../src/runlog/sql/run-logs.ts';
import { insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import type { RunStatus, Trigger } from '../../src/runlog/types.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';

interface Seed {
  job: string;
  status?: RunStatus;
  trigger?: Trigger;
  labels?: Record<string, string>;
  created_at: Date;
}

/** Inserts a run as `running`, then moves it to its final status the way a runner would. */
async function seedRun(db: Db, seed: Seed): Promise<string> {
  const runId = uuidv7();
  await ensureUndeclaredJob(db, seed.job);
  const status = seed.status ?? 'running';
  await insertRun(
    db,
    {
      run_id: runId, job: seed.job, job_content_hash: null, trigger: seed.trigger ?? 'manual', triggered_by: 'test',
      params: { day: '2026-03-01' }, status: status === 'queued' ? 'queued' : 'running', executor: 'local',
      labels: seed.labels ?? {}, created_at: seed.created_at,
    },
    { event_id: uuidv7(), at: seed.created_at, type: 'created', actor: 'test' },
  );
  if (status !== 'queued' && status !== 'running') await finishRun(db, runId, status, seed.created_at);
  return runId;
}

async function finishRun(db: Db, runId: string, status: RunStatus, startedAt: Date): Promise<void> {
  const finishedAt = new Date(startedAt.getTime() + 1500);
  const result = await transitionRun(db, runId, ['running'], status, {
    started_at: startedAt, finished_at: finishedAt, exit_code: status === 'succeeded' ? 0 : 1,
  }, { event_id: uuidv7(), at: finishedAt, type: status, actor: 'test' });
  assert.ok(result.changed);
}

function chunk(seq: number, text: string, stream: 'stdout' | 'stderr' = 'stdout') {
  return { seq, stream, at: new Date(Date.UTC(2026, 2, 1, 12, 0, seq)).toISOString(), text };
}

interface SseEvent {
  event: string;
  id: string | null;
  data: string;
}

/** Parses one SSE block; null for a block without data (a comment, `retry:`). */
function parseEvent(block: string): SseEvent | null {
  const event: SseEvent = { event: 'message', id: null, data: '' };
  const data: string[] = [];
  for (const line of block.split('\n')) {
    const [, field, value = ''] = /^([^:]*)(?::\s?(.*))?$/.exec(line)!;
    if (field === 'event') event.event = value;
    else if (field === 'id') event.id = value;
    else if (field === 'data') data.push(value);
  }
  return data.length ? { ...event, data: data.join('\n') } : null;
}

/** Reads a text/event-stream response event by event; `raw` keeps everything received. */
function sseReader(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const state = { raw: '' };
  return Object.assign(state, {
    /** The next event with data, or null when the stream ended; throws after `timeoutMs` of silence. */
    async next(timeoutMs = 10_000): Promise<SseEvent | null> {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const event = parseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event) return event;
          continue;
        }
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no SSE event within ${timeoutMs} ms; received: ${JSON.stringify(state.raw)}`)), timeoutMs);
        });
        const read = await Promise.race([reader.read(), timeout]).finally(() => clearTimeout(timer));
        if (read.done) return null;
        const text = decoder.decode(read.value, { stream: true });
        state.raw += text;
        buffer += text;
      }
    },
  });
}

const BASE = Date.UTC(2026, 2, 1, 10, 0, 0);
const at = (minutes: number) => new Date(BASE + minutes * 60_000);

for (const engine of ENGINES) {
  describe(`API: reading runs (${engine})`, () => {
    let api: TestApi;
    let doc: OpenApiDocument;
    const ids: Record<string, string> = {};

    /** GET with the given scope; checks the answer against the document and returns status and body. */
    async function get(path: string, template: string, scope: 'read' | 'admin' | null = 'read') {
      const response = await api.call('GET', path, { scope });
      const body = (await response.json()) as any;
      checkResponse(doc, 'get', template, response.status, body);
      return { status: response.status, body };
    }
    const listIds = async (query: string) => {
      const { status, body } = await get(`/runs?${query}`, '/runs');
      assert.equal(status, 200, JSON.stringify(body));
      return (body.runs as { run_id: string }[]).map((run) => run.run_id);
    };

    before(async () => {
      api = await startTestApi(engine, { routes: [runsReadRoutes] });
      doc = await fetchOpenApi(api.url);
      ids.a1 = await seedRun(api.db, { job: 'alpha', status: 'succeeded', trigger: 'schedule', labels: { team: 'data' }, created_at: at(1) });
      ids.a2 = await seedRun(api.db, { job: 'alpha', status: 'failed', trigger: 'manual', labels: { team: 'ops' }, created_at: at(2) });
      ids.a3 = await seedRun(api.db, { job: 'alpha', status: 'running', trigger: 'api', labels: { team: 'data', tier: 'gold' }, created_at: at(3) });
      ids.b1 = await seedRun(api.db, { job: 'beta', status: 'queued', trigger: 'retry', created_at: at(4) });
      ids.b2 = await seedRun(api.db, { job: 'beta', status: 'timed_out', trigger: 'schedule', created_at: at(5) });
    });
    after(() => api.close());

    test('the OpenAPI document is valid and documents every read endpoint', () => {
      for (const path of ['/runs', '/runs/{run_id}', '/runs/{run_id}/events', '/runs/{run_id}/logs']) {
        assert.ok(doc.paths[path]?.get, `${path} is documented`);
      }
      const logs = (doc.paths['/runs/{run_id}/logs']!.get as any).responses['200'].content;
      assert.deepEqual(Object.keys(logs).sort(), ['application/json', 'text/event-stream']);
    });

    test('lists runs newest first with every column, duration and links', async () => {
      const { status, body } = await get('/runs?job=alpha', '/runs');
      assert.equal(status, 200);
      assert.deepEqual(body.runs.map((run: { run_id: string }) => run.run_id), [ids.a3, ids.a2, ids.a1]);
      assert.equal(body.next_cursor, null);
      const succeeded = body.runs[2];
      assert.equal(succeeded.status, 'succeeded');
      assert.equal(succeeded.duration_ms, 1500);
      assert.equal(succeeded.created_at, at(1).toISOString());
      assert.equal(succeeded.exit_code, 0);
      assert.deepEqual(succeeded.params, { day: '2026-03-01' });
      assert.deepEqual(succeeded.labels, { team: 'data' });
      assert.deepEqual(succeeded.links, { self: `/runs/${ids.a1}`, events: `/runs/${ids.a1}/events`, logs: `/runs/${ids.a1}/logs` });
      for (const column of ['job_revision', 'retry_of', 'executor_ref', 'heartbeat_at', 'error_tail', 'outputs', 'metrics', 'idempotency_key', 'log_bytes', 'log_dropped_bytes']) {
        assert.ok(column in succeeded, `run has ${column}`);
      }
      assert.equal(body.runs[0].duration_ms, null);
    });

    test('filters by job, status, trigger and combine', async () => {
      assert.deepEqual(await listIds('job=beta'), [ids.b2, ids.b1]);
      assert.deepEqual(await listIds('status=failed'), [ids.a2]);
      assert.deepEqual(await listIds('status=queued'), [ids.b1]);
      assert.deepEqual(await listIds('trigger=schedule'), [ids.b2, ids.a1]);
      assert.deepEqual(await listIds('trigger=retry'), [ids.b1]);
      assert.deepEqual(await listIds('job=alpha&trigger=schedule&status=succeeded'), [ids.a1]);
      assert.deepEqual(await listIds('job=nobody'), []);
    });

    test('filters by label key=value against the run’s labels', async () => {
      assert.deepEqual(await listIds('label=team%3Ddata'), [ids.a3, ids.a1]);
      assert.deepEqual(await listIds('label=tier=gold'), [ids.a3]);
      assert.deepEqual(await listIds('label=team=nope'), []);
      assert.deepEqual(await listIds('label=team=data&status=succeeded'), [ids.a1]);
      const bad = await get('/runs?label=team', '/runs');
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.details[0].field, 'querystring.label');
    });

    test('since is inclusive and until exclusive, on created_at', async () => {
      const since = encodeURIComponent(at(2).toISOString());
      const until = encodeURIComponent(at(4).toISOString());
      assert.deepEqual(await listIds(`since=${since}&until=${until}`), [ids.a3, ids.a2]);
      assert.deepEqual(await listIds(`since=${encodeURIComponent(at(4).toISOString())}`), [ids.b2, ids.b1]);
      assert.deepEqual(await listIds(`until=${encodeURIComponent(at(2).toISOString())}&job=alpha`), [ids.a1]);
      const bad = await get('/runs?since=yesterday', '/runs');
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.details[0].field, 'querystring.since');
    });

    test('pages of 2 across 3 pages return every run exactly once, in order; the last cursor is null', async () => {
      // Microsecond-apart and tied creation times: a cursor rounded to milliseconds, or without the
      // run_id tie-break, would skip or repeat rows here.
      const pager: string[] = [];
      for (let i = 0; i < 6; i++) pager.push(await seedRun(api.db, { job: 'pager', created_at: at(10) }));
      const micros = ['000001', '000002', '000002', '000003', '000999', '001000'];
      for (const [i, runId] of pager.entries()) {
        await api.db.query(`UPDATE runs SET created_at = $2::timestamptz WHERE run_id = $1`, [runId, `2026-03-01T10:10:00.${micros[i]}Z`]);
      }
      const [expected] = [await api.db.query<{ run_id: string }>(
        "SELECT run_id::text AS run_id FROM runs WHERE job = 'pager' ORDER BY created_at DESC, run_id DESC",
      )];
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const path: string = `/runs?job=pager&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const { status, body } = await get(path, '/runs');
        assert.equal(status, 200);
        assert.equal(body.runs.length, 2);
        seen.push(...body.runs.map((run: { run_id: string }) => run.run_id));
        cursor = body.next_cursor;
        pages++;
        if (pages < 3) assert.match(cursor!, /^[A-Za-z0-9_-]+$/);
      } while (cursor && pages < 10);
      assert.equal(pages, 3);
      assert.equal(cursor, null);
      assert.deepEqual(seen, expected!.map((row) => row.run_id));
      assert.equal(new Set(seen).size, 6);
    });

    test('a malformed cursor → 400 naming querystring.cursor; limit outside 1–500 → 400', async () => {
      const forged = Buffer.from(JSON.stringify(['not a time', 'x'])).toString('base64url');
      for (const cursor of ['garbage!', 'bm90IGpzb24', forged]) {
        const { status, body } = await get(`/runs?cursor=${encodeURIComponent(cursor)}`, '/runs');
        assert.equal(status, 400, cursor);
        assert.equal(body.error.code, 'invalid_request');
        assert.deepEqual(body.error.details, [{ field: 'querystring.cursor', reason: 'is not a cursor returned by GET /runs' }]);
      }
      for (const limit of ['0', '501', 'ten']) {
        const { status, body } = await get(`/runs?limit=${limit}`, '/runs');
        assert.equal(status, 400, limit);
        assert.equal(body.error.details[0].field, 'querystring.limit');
      }
      assert.equal((await listIds('limit=500')).length, 11);
      assert.equal((await listIds('limit=1')).length, 1);
      const unknown = await get('/runs?stauts=failed', '/runs');
      assert.equal(unknown.status, 400);
      assert.deepEqual(unknown.body.error.details, [{ field: 'querystring.stauts', reason: 'is not a known field' }]);
      const status = await get('/runs?status=done', '/runs');
      assert.equal(status.status, 400);
      assert.equal(status.body.error.details[0].field, 'querystring.status');
    });

    test('one run; an unknown run → 404 run_not_found; a non-UUID → 400 naming params.run_id', async () => {
      const { status, body } = await get(`/runs/${ids.a2}`, '/runs/{run_id}');
      assert.equal(status, 200);
      assert.equal(body.run_id, ids.a2);
      assert.equal(body.status, 'failed');
      assert.equal(body.exit_code, 1);
      const unknown = uuidv7();
      for (const suffix of ['', '/events', '/logs', '/logs?follow=true']) {
        const template = `/runs/{run_id}${suffix.split('?')[0]}`;
        const missing = await get(`/runs/${unknown}${suffix}`, template);
        assert.equal(missing.status, 404, suffix);
        assert.deepEqual(missing.body.error, { code: 'run_not_found', message: `no run ${unknown}`, details: { run: unknown } });
        const bad = await get(`/runs/not-a-uuid${suffix}`, template);
        assert.equal(bad.status, 400, suffix);
        assert.equal(bad.body.error.details[0].field, 'params.run_id');
      }
    });

    test('a run’s events, in order', async () => {
      const { status, body } = await get(`/runs/${ids.a1}/events`, '/runs/{run_id}/events');
      assert.equal(status, 200);
      assert.deepEqual(body.events.map((event: { type: string }) => event.type), ['created', 'succeeded']);
      assert.deepEqual(body.events.map((event: { to_status: string }) => event.to_status), ['running', 'succeeded']);
      assert.equal(body.events[0].from_status, null);
      assert.equal(body.events[1].from_status, 'running');
      assert.equal(body.events[0].actor, 'test');
      assert.equal(body.events[0].at, at(1).toISOString());
    });

    test('a read token suffices for every endpoint; no token → 401', async () => {
      const endpoints: [string, string][] = [
        ['/runs', '/runs'], [`/runs/${ids.a1}`, '/runs/{run_id}'],
        [`/runs/${ids.a1}/events`, '/runs/{run_id}/events'], [`/runs/${ids.a1}/logs`, '/runs/{run_id}/logs'],
      ];
      for (const [path, template] of endpoints) {
        assert.equal((await get(path, template, 'read')).status, 200, path);
        const anonymous = await get(path, template, null);
        assert.equal(anonymous.status, 401, path);
        assert.equal(anonymous.body.error.code, 'unauthorized');
      }
    });

    test('logs by seq range: pages, next_after_seq, and complete once the run ended', async () => {
      const runId = await seedRun(api.db, { job: 'logger', created_at: at(20) });
      await insertLogChunks(api.db, runId, [chunk(1, 'one\n'), chunk(2, 'two\n', 'stderr'), chunk(3, 'three\n'), chunk(4, 'four\n'), chunk(5, 'five\n')]);
      const page = async (query: string) => {
        const { status, body } = await get(`/runs/${runId}/logs${query}`, '/runs/{run_id}/logs');
        assert.equal(status, 200, JSON.stringify(body));
        return body as { chunks: { seq: number; stream: string; at: string; text: string }[]; next_after_seq: number; complete: boolean };
      };
      const first = await page('?limit=2');
      assert.deepEqual(first.chunks, [chunk(1, 'one\n'), chunk(2, 'two\n', 'stderr')]);
      assert.equal(first.next_after_seq, 2);
      assert.equal(first.complete, false);
      const rest = await page(`?after_seq=${first.next_after_seq}`);
      assert.deepEqual(rest.chunks.map((c) => c.seq), [3, 4, 5]);
      assert.equal(rest.next_after_seq, 5);
      assert.equal(rest.complete, false, 'a running run is not complete');
      await finishRun(api.db, runId, 'failed', at(20));
      assert.deepEqual(await page('?after_seq=5'), { chunks: [], next_after_seq: 5, complete: true });
      const tail = await page('?after_seq=3&limit=2');
      assert.deepEqual(tail.chunks.map((c) => c.seq), [4, 5]);
      assert.equal(tail.complete, true);
      assert.equal((await page('?after_seq=2&limit=2')).complete, false, 'more chunks follow');
      for (const query of ['?limit=10001', '?limit=0', '?after_seq=-1', '?after_seq=2147483648']) {
        const { status, body } = await get(`/runs/${runId}/logs${query}`, '/runs/{run_id}/logs');
        assert.equal(status, 400, query);
        assert.match(body.error.details[0].field, /^querystring\.(limit|after_seq)$/);
      }
    });

    test('follow=true streams every chunk in order as SSE, then end; Last-Event-ID resumes', async () => {
      const runId = await seedRun(api.db, { job: 'streamer', created_at: at(30) });
      await insertLogChunks(api.db, runId, [chunk(1, 'starting\n'), chunk(2, 'warming up\n', 'stderr')]);
      const follow = (headers: Record<string, string> = {}, query = '') =>
        api.call('GET', `/runs/${runId}/logs?follow=true${query}`, { scope: 'read', headers });
      const checkLogEvent = (event: SseEvent) => {
        const data = JSON.parse(event.data);
        // The event's data is a chunk as the JSON page documents it.
        checkResponse(doc, 'get', '/runs/{run_id}/logs', 200, { chunks: [data], next_after_seq: data.seq, complete: false });
        assert.equal(event.id, String(data.seq));
        return data as { seq: number; text: string; stream: string };
      };

      const response = await follow();
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const stream = sseReader(response);
      const received: number[] = [];
      for (const expected of [1, 2]) {
        const event = (await stream.next())!;
        assert.equal(event.event, 'log');
        received.push(checkLogEvent(event).seq);
        assert.equal(received.at(-1), expected);
      }
      // Appended while the client is connected: the stream must pick them up by polling.
      await insertLogChunks(api.db, runId, [chunk(3, 'row 1\n'), chunk(4, 'row 2\n')]);
      for (const expected of [3, 4]) {
        const data = checkLogEvent((await stream.next())!);
        assert.equal(data.seq, expected);
        received.push(data.seq);
      }
      await insertLogChunks(api.db, runId, [chunk(5, 'done\n')]);
      await finishRun(api.db, runId, 'succeeded', at(30));
      const events: SseEvent[] = [];
      for (let event = await stream.next(); event; event = await stream.next()) events.push(event);
      assert.deepEqual(events.map((event) => event.event), ['log', 'end']);
      received.push(checkLogEvent(events[0]!).seq);
      assert.deepEqual(received, [1, 2, 3, 4, 5]);
      assert.deepEqual(JSON.parse(events[1]!.data), { run_id: runId, status: 'succeeded' });
      checkResponse(doc, 'get', '/runs/{run_id}/logs', 200, stream.raw, 'text/event-stream');

      const resumed = sseReader(await follow({ 'last-event-id': '3' }));
      const again: SseEvent[] = [];
      for (let event = await resumed.next(); event; event = await resumed.next()) again.push(event);
      assert.deepEqual(again.map((event) => event.event === 'log' ? checkLogEvent(event).seq : event.event), [4, 5, 'end']);
      checkResponse(doc, 'get', '/runs/{run_id}/logs', 200, resumed.raw, 'text/event-stream');

      const fromQuery = sseReader(await follow({}, '&after_seq=4'));
      assert.equal(checkLogEvent((await fromQuery.next())!).seq, 5);
      assert.equal((await fromQuery.next())!.event, 'end');
      assert.equal(await fromQuery.next(), null);
      checkResponse(doc, 'get', '/runs/{run_id}/logs', 200, fromQuery.raw, 'text/event-stream');

      const beyond = sseReader(await follow({ 'last-event-id': '9999999999' }));
      assert.equal((await beyond.next())!.event, 'end');

      const badId = await follow({ 'last-event-id': 'abc' });
      assert.equal(badId.status, 400);
      const badBody = (await badId.json()) as any;
      checkResponse(doc, 'get', '/runs/{run_id}/logs', 400, badBody);
      assert.equal(badBody.error.details[0].field, 'headers.last-event-id');
    });

    test('a client that disconnects, and a server that closes with a follower connected, end the stream', async () => {
      const other = await startTestApi(engine, { routes: [runsReadRoutes] });
      try {
        const runId = await seedRun(other.db, { job: 'forever', created_at: at(40) });
        await insertLogChunks(other.db, runId, [chunk(1, 'tick\n')]);
        // node:http without an agent: fetch's pool may open a spare connection that only its own timeout closes.
        const leaving = httpGet(`${other.url}/runs/${runId}/logs?follow=true`, { agent: false, headers: { authorization: `Bearer ${other.tokens.read}` } });
        const firstBytes = await new Promise<string>((resolve, reject) => {
          leaving.once('error', reject);
          leaving.once('response', (response) => response.once('data', (data: Buffer) => resolve(data.toString('utf8'))));
        });
        assert.match(firstBytes, /^retry: 2000/);
        checkResponse(doc, 'get', '/runs/{run_id}/logs', 200, firstBytes, 'text/event-stream');
        leaving.destroy();
        // The server notices the client left and lets the connection go.
        await waitFor(() => new Promise<boolean>((resolve) => other.app.server.getConnections((_error, count) => resolve(count === 0))), 5000, 'the aborted connection to close');
        const staying = sseReader(await other.call('GET', `/runs/${runId}/logs?follow=true`, { scope: 'read' }));
        assert.equal((await staying.next())!.event, 'log');
        let timer: NodeJS.Timeout | undefined;
        const closed = await Promise.race([
          other.app.close().then(() => 'closed'),
          new Promise((resolve) => {
            timer = setTimeout(() => resolve('still open after 5 s'), 5000);
          }),
        ]);
        clearTimeout(timer);
        assert.equal(closed, 'closed', 'app.close() returns while a follower is connected');
        assert.equal(await staying.next(), null, 'the stream ends when the server closes');
        assert.doesNotMatch(staying.raw, /event: end/, 'no end event: the run has not ended, the client should resume');
        checkResponse(doc, 'get', '/runs/{run_id}/logs', 200, staying.raw, 'text/event-stream');
      } finally {
        await other.close();
      }
    });
  });
}
