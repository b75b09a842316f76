// Triggering, cancelling and retrying runs over real HTTP, with the local executor running real
// child processes through the in-process runner.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runsWriteRoutes } from '../../src/api/routes/runs-write.ts';
import { parseConfig, type KubescribeConfig } from '../../src/config/job-config.ts';
import { RecordingExecutor, type Executor } from '../../src/executors/executor.ts';
import { LocalExecutor } from '../../src/executors/local-executor.ts';
import { readLogChunks, readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { getRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import type { RunRecord, RunStatus } from '../../src/runlog/types.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { REPO_ROOT, waitFor as pollUntil } from '../support/cli.ts';
import { checkResponse, fetchOpenApi, type OpenApiDocument } from '../support/openapi-contract.ts';
import { ENGINES } from '../support/runlog-engines.ts';

const TERMINAL = new Set<RunStatus>(['succeeded', 'failed', 'cancelled', 'timed_out', 'lost']);

interface Accepted {
  run_id: string;
  status: string;
  links: { self: string; events: string; logs: string };
}
interface ErrorReply {
  error: { code: string; message: string; details: Record<string, unknown> & { field?: string; reason?: string }[] };
}

/** The API is built before the RunLog it opens exists; the executor behind this is set once it does. */
class SwitchableExecutor implements Executor {
  target: Executor = new RecordingExecutor();
  get name() {
    return this.target.name;
  }
  dispatch(runId: string) {
    return this.target.dispatch(runId);
  }
  cancel(runId: string, actor: string) {
    return this.target.cancel(runId, actor);
  }
  start() {
    return this.target.start();
  }
  stop(options?: { drain?: boolean }) {
    return this.target.stop(options);
  }
}

const waitFor = <T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000) =>
  pollUntil(probe, timeoutMs, what) as Promise<T>;

function configFor(scratch: string): KubescribeConfig {
  const emit = (...actions: string[]) => JSON.stringify(['python3', 'test/fixtures/emit.py', ...actions]);
  const sleeper = (trap: string) => emit(`trap:${join(scratch, trap)}`, 'out:ready', 'sleep:30');
  return parseConfig(`
jobs:
  hello:
    command: ${emit('out:hello', 'env:KUBESCRIBE_PARAMS')}
    env: {API_ENDPOINT: do-not-show-this}
    params:
      type: object
      properties:
        greeting: {type: string, default: hi}
        count: {type: integer, minimum: 1, default: 1}
      additionalProperties: false
  cancel-me:
    command: ${sleeper('cancel.trap')}
  forbid-job:
    command: ${sleeper('forbid.trap')}
    concurrency_policy: Forbid
  forbid-race:
    command: ${sleeper('race.trap')}
    concurrency_policy: Forbid
  replace-job:
    command: ${sleeper('replace.trap')}
    concurrency_policy: Replace
`, join(scratch, 'kubescribe.yaml'));
}

for (const engine of ENGINES) {
  describe(`runs: trigger, cancel, retry (${engine})`, () => {
    let api: TestApi;
    let scratch: string;
    let config: KubescribeConfig;
    const executor = new SwitchableExecutor();
    let document: OpenApiDocument;
    // Every answer the tests get is checked against /openapi.json: status listed, body fits the schema.
    const post = async (path: string, body?: unknown, scope: 'read' | 'trigger' | null = 'trigger') => {
      const response = await api.call('POST', path, { scope, body });
      const template = path.split('?')[0]!.replace(/^\/runs\/[^/]+\/(cancel|retry)$/, '/runs/{run_id}/$1');
      checkResponse(document, 'POST', template, response.status, await response.clone().json());
      return response;
    };
    const trigger = async (body: Record<string, unknown>) => {
      const response = await post('/runs/trigger', body);
      assert.equal(response.status, 202, await response.clone().text());
      return (await response.json()) as Accepted;
    };
    const run = async (runId: string): Promise<RunRecord> => (await getRun(api.db, runId))!;
    const reach = (runId: string, wanted: (status: RunStatus) => boolean, what: string) =>
      waitFor(`run ${runId} to be ${what}`, async () => {
        const current = await run(runId);
        return wanted(current.status) && current;
      });
    const ended = (runId: string) => reach(runId, (status) => TERMINAL.has(status), 'finished');
    const ready = (runId: string) =>
      waitFor(`run ${runId} to say ready`, async () => (await readLogChunks(api.db, runId)).some((chunk) => chunk.text.includes('ready')));
    const countRuns = async () => Number((await api.db.query<{ n: number }>('SELECT count(*) AS n FROM runs'))[0]!.n);
    const events = (runId: string) => readRunEvents(api.db, runId);
    const useLocalExecutor = async () => {
      const local = new LocalExecutor({ db: api.db, config, home: api.runlog.home, cwd: REPO_ROOT });
      await local.start();
      executor.target = local;
    };

    before(async () => {
      scratch = mkdtempSync(join(tmpdir(), 'ks-runs-write-'));
      config = configFor(scratch);
      api = await startTestApi(engine, { routes: [runsWriteRoutes], config, executor });
      document = await fetchOpenApi(api.url);
      await useLocalExecutor();
    });
    after(async () => {
      await executor.stop();
      await api.close();
      rmSync(scratch, { recursive: true, force: true });
    });

    test('/openapi.json documents the three routes, every answer of each, and stays a valid OpenAPI 3 document', async () => {
      const paths = (await fetchOpenApi(api.url)).paths as Record<string, { post: { responses: Record<string, unknown> } }>;
      assert.deepEqual(Object.keys(paths['/runs/trigger']!.post!.responses).sort(), ['200', '202', '400', '401', '403', '404', '409', '413', '503']);
      assert.deepEqual(Object.keys(paths['/runs/{run_id}/cancel']!.post!.responses).sort(), ['200', '202', '400', '401', '403', '404', '409', '413', '503']);
      assert.deepEqual(Object.keys(paths['/runs/{run_id}/retry']!.post!.responses).sort(), ['202', '400', '401', '403', '404', '409', '413', '503']);
    });

    test('POST /runs/trigger → 202 with links; the run is written queued, then really runs to succeeded', async () => {
      const accepted = await trigger({ job: 'hello', params: { greeting: 'hello' }, reason: 'smoke test' });
      assert.equal(accepted.status, 'queued');
      assert.deepEqual(accepted.links, {
        self: `/runs/${accepted.run_id}`, events: `/runs/${accepted.run_id}/events`, logs: `/runs/${accepted.run_id}/logs`,
      });
      const done = await ended(accepted.run_id);
      assert.equal(done.status, 'succeeded', done.error_message ?? '');
      assert.equal(done.trigger, 'api');
      assert.equal(done.triggered_by, 'token:test-trigger');
      assert.deepEqual(done.params, { greeting: 'hello', count: 1 });
      assert.equal(done.job_revision, 1);
      assert.equal(done.executor, 'local');
      const log = (await readLogChunks(api.db, accepted.run_id)).map((chunk) => chunk.text).join('');
      const [greeting, paramsLine] = log.trimEnd().split('\n');
      assert.equal(greeting, 'hello');
      assert.deepEqual(JSON.parse(paramsLine!.slice('KUBESCRIBE_PARAMS='.length)), { greeting: 'hello', count: 1 });
      const history = await events(accepted.run_id);
      assert.deepEqual(history.map((e) => e.type), ['created', 'adopted', 'started', 'succeeded']);
      assert.deepEqual([history[0]!.to_status, history[0]!.actor, history[0]!.detail], ['queued', 'token:test-trigger', { trigger: 'api', reason: 'smoke test' }]);
    });

    test('invalid params → 400 invalid_params naming each param and rule; nothing is written', async () => {
      const before = await countRuns();
      const response = await post('/runs/trigger', { job: 'hello', params: { count: 0, colour: 'red', greeting: 5 } });
      assert.equal(response.status, 400);
      const body = (await response.json()) as ErrorReply;
      assert.equal(body.error.code, 'invalid_params');
      const details = body.error.details as unknown as { field: string; reason: string }[];
      assert.deepEqual(details.map((d) => d.field).sort(), ['params.colour', 'params.count', 'params.greeting']);
      assert.deepEqual(details.find((d) => d.field === 'params.count')?.reason, 'must be >= 1');
      assert.deepEqual(details.find((d) => d.field === 'params.colour')?.reason, 'is not a param of this job');
      assert.equal(await countRuns(), before);
    });

    test('unknown job → 404, unknown body field → 400, read scope → 403, no token → 401', async () => {
      const unknown = await post('/runs/trigger', { job: 'no-such-job' });
      assert.equal(unknown.status, 404);
      const body = (await unknown.json()) as ErrorReply;
      assert.equal(body.error.code, 'job_not_found');
      assert.deepEqual(body.error.details, { job: 'no-such-job' });
      const extra = await post('/runs/trigger', { job: 'hello', priority: 'high' });
      assert.equal(extra.status, 400);
      assert.deepEqual(((await extra.json()) as ErrorReply).error.details, [{ field: 'body.priority', reason: 'is not a known field' }]);
      assert.equal((await post('/runs/trigger', { job: 'hello' }, 'read')).status, 403);
      assert.equal((await post('/runs/trigger', { job: 'hello' }, null)).status, 401);
    });

    test('?dry_run=true validates and shows what would run, with env names but never values, and writes nothing', async () => {
      const before = await countRuns();
      const response = await post('/runs/trigger?dry_run=true', { job: 'hello', params: { count: 3 } });
      assert.equal(response.status, 200);
      const text = await response.text();
      assert.doesNotMatch(text, /do-not-show-this/);
      assert.deepEqual(JSON.parse(text), {
        dry_run: true,
        job: 'hello',
        params: { greeting: 'hi', count: 3 },
        command: ['python3', 'test/fixtures/emit.py', 'out:hello', 'env:KUBESCRIBE_PARAMS'],
        env_names: ['API_ENDPOINT'],
        executor: 'local',
        concurrency_policy: 'Allow',
      });
      assert.equal((await post('/runs/trigger?dry_run=true', { job: 'hello', params: { count: 'many' } })).status, 400);
      assert.equal(await countRuns(), before);
    });

    test('50 identical requests at once with one idempotency key → one run, and every answer names it', async () => {
      const body = { job: 'hello', params: { count: 2 }, idempotency_key: `key-${engine}` };
      const responses = await Promise.all(Array.from({ length: 50 }, () => post('/runs/trigger', body)));
      assert.deepEqual([...new Set(responses.map((r) => r.status))], [202]);
      const ids = new Set(await Promise.all(responses.map(async (r) => ((await r.json()) as Accepted).run_id)));
      assert.equal(ids.size, 1);
      const [runId] = [...ids];
      const rows = await api.db.query<{ run_id: string }>('SELECT run_id::text AS run_id FROM runs WHERE idempotency_key = $1', [body.idempotency_key]);
      assert.deepEqual(rows.map((row) => row.run_id), [runId]);
      assert.equal((await ended(runId!)).status, 'succeeded');
      // The key names that run for good; the same key with other params is a conflict, not a silent replay.
      const again = await post('/runs/trigger', body);
      assert.equal(again.status, 202);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.equal(((await again.json()) as Accepted).run_id, runId);
      const other = await post('/runs/trigger', { ...body, params: { count: 3 } });
      assert.equal(other.status, 409);
      assert.equal(((await other.json()) as ErrorReply).error.code, 'idempotency_key_reused');
    });

    test('Forbid: a trigger while a run is live → 409 naming it, recorded as trigger_skipped on that run', async () => {
      const first = await trigger({ job: 'forbid-job' });
      await reach(first.run_id, (status) => status === 'running', 'running');
      const before = await countRuns();
      const refused = await post('/runs/trigger', { job: 'forbid-job', reason: 'nightly catch-up' });
      assert.equal(refused.status, 409);
      const body = (await refused.json()) as ErrorReply;
      assert.equal(body.error.code, 'concurrency_forbidden');
      assert.deepEqual(body.error.details, { job: 'forbid-job', running_run_id: first.run_id, status: 'running' });
      assert.match(body.error.message, new RegExp(first.run_id));
      assert.equal(await countRuns(), before);
      const skipped = (await events(first.run_id)).find((e) => e.type === 'trigger_skipped');
      assert.equal(skipped?.actor, 'token:test-trigger');
      assert.deepEqual(skipped?.detail, { concurrency_policy: 'Forbid', trigger: 'api', reason: 'nightly catch-up' });
      assert.equal((await post(`/runs/${first.run_id}/cancel`)).status, 202);
      assert.equal((await ended(first.run_id)).status, 'cancelled');
    });

    test('Forbid: two triggers at once → exactly one 202 and one 409 naming it', async () => {
      const responses = await Promise.all([post('/runs/trigger', { job: 'forbid-race' }), post('/runs/trigger', { job: 'forbid-race' })]);
      assert.deepEqual(responses.map((r) => r.status).sort(), [202, 409]);
      const bodies = await Promise.all(responses.map((r) => r.json())) as (Accepted & ErrorReply)[];
      const winner = bodies.find((b) => b.run_id)!;
      const loser = bodies.find((b) => b.error)!;
      assert.equal(loser.error.details.running_run_id, winner.run_id);
      assert.equal(Number((await api.db.query<{ n: number }>("SELECT count(*) AS n FROM runs WHERE job = 'forbid-race'"))[0]!.n), 1);
      await post(`/runs/${winner.run_id}/cancel`);
      assert.equal((await ended(winner.run_id)).status, 'cancelled');
    });

    test('Replace: the live run is cancelled (its child really gets SIGTERM) and the new one runs', async () => {
      const old = await trigger({ job: 'replace-job' });
      await ready(old.run_id);
      const replacement = await trigger({ job: 'replace-job', reason: 'newer data' });
      const cancelled = await ended(old.run_id);
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(readFileSync(join(scratch, 'replace.trap'), 'utf8'), 'SIGTERM');
      const history = await events(old.run_id);
      const replaced = history.find((e) => e.type === 'replaced_by');
      assert.equal(replaced?.actor, 'token:test-trigger');
      assert.deepEqual(replaced?.detail, { run_id: replacement.run_id, reason: 'newer data' });
      assert.equal(history.find((e) => e.type === 'cancel_requested')?.actor, 'token:test-trigger');
      const created = (await events(replacement.run_id)).find((e) => e.type === 'created');
      assert.deepEqual(created?.detail.replaces, [old.run_id]);
      rmSync(join(scratch, 'replace.trap'));
      await ready(replacement.run_id);
      assert.equal((await run(replacement.run_id)).status, 'running');
      await post(`/runs/${replacement.run_id}/cancel`);
      await ended(replacement.run_id);
    });

    test('cancel while running: the child really dies, the run ends cancelled with the actor; a second cancel answers the same', async () => {
      const accepted = await trigger({ job: 'cancel-me' });
      await ready(accepted.run_id);
      const response = await post(`/runs/${accepted.run_id}/cancel`);
      assert.equal(response.status, 202);
      assert.deepEqual(((await response.json()) as Accepted).status, 'cancelling');
      const done = await ended(accepted.run_id);
      assert.equal(done.status, 'cancelled');
      assert.equal(done.error_type, 'Cancelled');
      assert.match(done.error_message ?? '', /cancelled by token:test-trigger/);
      assert.equal(readFileSync(join(scratch, 'cancel.trap'), 'utf8'), 'SIGTERM');
      const history = await events(accepted.run_id);
      assert.equal(history.find((e) => e.type === 'cancel_requested')?.actor, 'token:test-trigger');
      assert.deepEqual(history.at(-1)!.to_status, 'cancelled');
      for (let i = 0; i < 2; i++) {
        const again = await post(`/runs/${accepted.run_id}/cancel`);
        assert.equal(again.status, 200);
        assert.equal(((await again.json()) as Accepted).status, 'cancelled');
      }
    });

    test('cancel a queued run → cancelled at once (200), the actor recorded; it never starts', async () => {
      executor.target = new RecordingExecutor();
      try {
        const queued = await trigger({ job: 'hello' });
        const response = await post(`/runs/${queued.run_id}/cancel`);
        assert.equal(response.status, 200);
        assert.equal(((await response.json()) as Accepted).status, 'cancelled');
        const cancelled = (await events(queued.run_id)).at(-1)!;
        assert.deepEqual([cancelled.type, cancelled.from_status, cancelled.to_status, cancelled.actor], ['cancelled', 'queued', 'cancelled', 'token:test-trigger']);
        assert.equal((await post(`/runs/${queued.run_id}/cancel`)).status, 200);
        // A starting or running run that no executor here can reach is refused, not pretended cancelled.
        const orphan = await trigger({ job: 'hello' });
        const ev = (type: string) => ({ event_id: uuidv7(), at: new Date(), type, actor: 'test', detail: {} });
        await transitionRun(api.db, orphan.run_id, ['queued'], 'running', { started_at: new Date() }, ev('started'));
        const refused = await post(`/runs/${orphan.run_id}/cancel`);
        assert.equal(refused.status, 409);
        assert.equal(((await refused.json()) as ErrorReply).error.code, 'not_cancellable');
        const requested = (await events(orphan.run_id)).find((e) => e.type === 'cancel_requested');
        assert.deepEqual([requested?.actor, requested?.detail], ['token:test-trigger', { delivered: false, executor: 'none' }]);
        await transitionRun(api.db, orphan.run_id, ['running'], 'lost', { finished_at: new Date() }, ev('lost'));
      } finally {
        await useLocalExecutor();
      }
    });

    test('cancel a finished run → 409 run_finished; an unknown run → 404; a malformed id or a body → 400', async () => {
      const accepted = await trigger({ job: 'hello' });
      await ended(accepted.run_id);
      const finished = await post(`/runs/${accepted.run_id}/cancel`);
      assert.equal(finished.status, 409);
      const body = (await finished.json()) as ErrorReply;
      assert.equal(body.error.code, 'run_finished');
      assert.deepEqual(body.error.details, { run_id: accepted.run_id, status: 'succeeded' });
      const unknown = await post('/runs/01960000-0000-7000-8000-000000000000/cancel');
      assert.equal(unknown.status, 404);
      assert.equal(((await unknown.json()) as ErrorReply).error.code, 'run_not_found');
      assert.equal((await post('/runs/not-a-run/cancel')).status, 400);
      const withBody = await post(`/runs/${accepted.run_id}/cancel`, { force: true });
      assert.equal(withBody.status, 400);
      assert.deepEqual(((await withBody.json()) as ErrorReply).error.details, [{ field: 'body.force', reason: 'is not a known field' }]);
    });

    test('retry → a new run with trigger retry, retry_of and attempt 2, same params unless overridden', async () => {
      const original = await trigger({ job: 'hello', params: { greeting: 'hey', count: 2 } });
      await ended(original.run_id);
      const same = await post(`/runs/${original.run_id}/retry`);
      assert.equal(same.status, 202);
      const retried = await ended(((await same.json()) as Accepted).run_id);
      assert.deepEqual(
        [retried.trigger, retried.retry_of, retried.attempt, retried.params, retried.status],
        ['retry', original.run_id, 2, { greeting: 'hey', count: 2 }, 'succeeded'],
      );
      const overridden = await post(`/runs/${retried.run_id}/retry`, { params: { count: 5 }, reason: 'more' });
      assert.equal(overridden.status, 202);
      const third = await ended(((await overridden.json()) as Accepted).run_id);
      assert.deepEqual([third.retry_of, third.attempt, third.params], [retried.run_id, 3, { greeting: 'hey', count: 5 }]);
      assert.equal((await events(third.run_id))[0]!.detail.reason, 'more');
      const invalid = await post(`/runs/${original.run_id}/retry`, { params: { count: -1 } });
      assert.equal(invalid.status, 400);
      assert.equal(((await invalid.json()) as ErrorReply).error.code, 'invalid_params');
    });

    test('retry an unknown run → 404; a live run → 409 run_not_finished', async () => {
      const unknown = await post('/runs/01960000-0000-7000-8000-000000000000/retry');
      assert.equal(unknown.status, 404);
      const live = await trigger({ job: 'cancel-me' });
      await ready(live.run_id);
      const refused = await post(`/runs/${live.run_id}/retry`);
      assert.equal(refused.status, 409);
      const body = (await refused.json()) as ErrorReply;
      assert.equal(body.error.code, 'run_not_finished');
      assert.deepEqual(body.error.details, { run_id: live.run_id, status: 'running' });
      await post(`/runs/${live.run_id}/cancel`);
      await ended(live.run_id);
    });
  });
}
