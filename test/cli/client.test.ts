// The CLI as an API client, over real HTTP against the real app and a real RunLog on both engines.
// The run routes are an in-test stand-in for the API contract (the real routes are written
// elsewhere): it keeps runs in the RunLog and moves them along on a script chosen by the job name.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../../src/api/app.ts';
import { ConflictError, NotFoundError } from '../../src/api/errors.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { insertLogChunks, readLogChunks, readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { getRun, insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import { listRuns } from '../../src/runlog/sql/run-queries.ts';
import { resolveRunRef } from '../../src/runlog/run-ref.ts';
import { isTerminal, LIVE_STATUSES, type RunRecord, type RunStatus } from '../../src/runlog/types.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { parseSse } from '../../src/cli/api-client.ts';
import { exitCodeOf, parseTriggerParams, StatusLine } from '../../src/cli/client-commands.ts';
import { readLocalServer, readLocalToken, removeServerFile, resolveServer, writeLocalToken, writeServerFile } from '../../src/cli/server-file.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { runCli, waitFor } from '../support/cli.ts';

// Nothing may fall through to the direct RunLog path by accident: its database does not answer.
const DEAD_DB = 'postgres://nobody@127.0.0.1:9/none';

// How each stand-in job's run goes: logs, then a final status (none: it runs until cancelled).
const SCRIPTS: Record<string, { logs: [string, string][]; end?: (params: Record<string, unknown>) => { status: RunStatus; exit_code: number | null; signal?: string; error_type?: string } }> = {
  ok: { logs: [['stdout', 'hello\n'], ['stderr', 'a warning\n'], ['stdout', 'second line\n']], end: () => ({ status: 'succeeded', exit_code: 0 }) },
  fail: {
    logs: [['stdout', 'about to fail\n']],
    end: (p) => (p.code === 0 ? { status: 'succeeded', exit_code: 0 } : { status: 'failed', exit_code: Number(p.code ?? 3), error_type: 'RuntimeError' }),
  },
  crash: { logs: [['stdout', 'x\n']], end: () => ({ status: 'failed', exit_code: null, signal: 'SIGKILL' }) },
  slow: { logs: [['stdout', 'still going\n']], end: () => ({ status: 'timed_out', exit_code: null, signal: 'SIGTERM' }) },
  flaky: { logs: [['stdout', 'one\n'], ['stdout', 'two\n'], ['stdout', 'three\n']], end: () => ({ status: 'succeeded', exit_code: 0 }) },
  hang: { logs: [['stdout', 'waiting\n']] },
};

function standIn() {
  const bodies: Record<string, unknown>[] = [];
  const pending = new Set<Promise<void>>();
  const dropped = new Set<string>();
  let closing = false;
  const event = (type: string, actor: string | null, detail: Record<string, unknown> = {}) => ({ event_id: uuidv7(), at: new Date(), type, actor, detail });
  const withDuration = (run: RunRecord) => ({
    ...run,
    duration_ms: run.started_at ? (run.finished_at ?? new Date()).getTime() - run.started_at.getTime() : null,
  });

  async function drive(deps: ApiDeps, runId: string, job: string, params: Record<string, unknown>) {
    const script = SCRIPTS[job]!;
    // Queued long enough for the CLI to see it so, even on a loaded machine.
    await sleep(400);
    await transitionRun(deps.db, runId, ['queued'], 'running', { started_at: new Date() }, event('status', 'executor'));
    let seq = 0;
    for (const [stream, text] of script.logs) {
      await sleep(60);
      await insertLogChunks(deps.db, runId, [{ seq: ++seq, stream: stream as 'stdout', at: new Date().toISOString(), text }]);
    }
    if (!script.end) return;
    await sleep(150);
    const { status, ...patch } = script.end(params);
    await transitionRun(deps.db, runId, ['running'], status, { ...patch, finished_at: new Date() }, event('status', 'executor'));
  }

  async function create(deps: ApiDeps, run: { job: string; params: Record<string, unknown>; actor: string; key?: string; retryOf?: RunRecord; reason?: string }) {
    const runId = uuidv7();
    await ensureUndeclaredJob(deps.db, run.job);
    await insertRun(deps.db, {
      run_id: runId, job: run.job, job_content_hash: null, trigger: run.retryOf ? 'retry' : 'api', triggered_by: run.actor,
      params: run.params, status: 'queued', executor: 'none', created_at: new Date(), idempotency_key: run.key ?? null,
      attempt: run.retryOf ? run.retryOf.attempt + 1 : 1, retry_of: run.retryOf?.run_id ?? null,
    }, event('created', run.actor, run.reason ? { reason: run.reason } : {}));
    const driving = drive(deps, runId, run.job, run.params).finally(() => pending.delete(driving));
    pending.add(driving);
    return { run_id: runId, status: 'queued', links: { self: `/runs/${runId}`, logs: `/runs/${runId}/logs`, events: `/runs/${runId}/events` } };
  }

  async function routes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
    const { db } = deps;
    // Like the real routes (src/api/routes/run-ref-param.ts): any run reference names the run.
    const found = async (ref: string) => {
      const id = await resolveRunRef(db, ref).catch(() => null);
      return (id === null ? null : await getRun(db, id)) ?? Promise.reject(new NotFoundError('run', ref));
    };
    // The real API refuses query parameters a route does not declare (src/api/request-guards.ts), so
    // the stand-in declares the ones the client sends, with the real API's types.
    const query = (properties: Record<string, { type: string }>) => ({ schema: { querystring: { type: 'object', properties } } });
    app.post('/runs/trigger', { config: { scope: 'trigger' }, ...query({ dry_run: { type: 'boolean' } }) }, async (request, reply) => {
      const body = request.body as { job: string; params?: Record<string, unknown>; idempotency_key?: string; reason?: string };
      bodies.push(body);
      if (!SCRIPTS[body.job]) throw new NotFoundError('job', body.job);
      const params = body.params ?? {};
      if ((request.query as { dry_run?: boolean }).dry_run === true) {
        return { job: body.job, params, command: ['python3', `${body.job}.py`], env_names: ['API_KEY'], executor: 'local' };
      }
      if (body.idempotency_key) {
        const [same] = await db.query<{ run_id: string; status: string }>('SELECT run_id::text AS run_id, status FROM runs WHERE idempotency_key = $1', [body.idempotency_key]);
        if (same) return reply.code(200).send({ ...same, links: {} });
      }
      return reply.code(202).send(await create(deps, { job: body.job, params, actor: request.actor, key: body.idempotency_key, reason: body.reason }));
    });
    app.get('/runs', { config: { scope: 'read' }, ...query({ job: { type: 'string' }, status: { type: 'string' }, limit: { type: 'integer' } }) }, async (request) => {
      const query = request.query as { job?: string; status?: RunStatus; limit?: number };
      const runs = await listRuns(db, { job: query.job, status: query.status, limit: Number(query.limit ?? 50) });
      return { runs: runs.map(withDuration), next_cursor: null };
    });
    app.get('/runs/:id', { config: { scope: 'read' } }, async (request) => withDuration(await found((request.params as { id: string }).id)));
    app.get('/runs/:id/events', { config: { scope: 'read' } }, async (request) => {
      const run = await found((request.params as { id: string }).id);
      return { events: await readRunEvents(db, run.run_id) };
    });
    const logQuery = query({ after_seq: { type: 'integer' }, limit: { type: 'integer' }, follow: { type: 'boolean' } });
    app.get('/runs/:id/logs', { config: { scope: 'read' }, ...logQuery }, async (request, reply) => {
      const run = await found((request.params as { id: string }).id);
      const query = request.query as { after_seq?: number; limit?: number; follow?: boolean };
      let after = Number(query.after_seq ?? 0);
      if (query.follow !== true) {
        const chunks = await readLogChunks(db, run.run_id, after, Number(query.limit ?? 1000));
        return { chunks, next_after_seq: chunks.at(-1)?.seq ?? after, complete: isTerminal(run.status) && chunks.length === 0 };
      }
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let gone = false;
      reply.raw.on('close', () => (gone = true));
      while (!gone && !closing) {
        // Status before chunks: a run seen finished has all its chunks stored already.
        const { status } = (await getRun(db, run.run_id))!;
        for (const chunk of await readLogChunks(db, run.run_id, after)) {
          reply.raw.write(`event: log\nid: ${chunk.seq}\ndata: ${JSON.stringify(chunk)}\n\n`);
          after = chunk.seq;
          // The flaky job's first stream dies after one chunk, as a restarting server's would.
          if (run.job === 'flaky' && !dropped.has(run.run_id)) {
            dropped.add(run.run_id);
            reply.raw.destroy();
            return;
          }
        }
        if (isTerminal(status)) {
          reply.raw.end(`event: end\ndata: ${JSON.stringify({ status })}\n\n`);
          return;
        }
        reply.raw.write(': keep-alive\n\n');
        await sleep(80);
      }
      reply.raw.end();
    });
    app.post('/runs/:id/cancel', { config: { scope: 'trigger' } }, async (request, reply) => {
      const run = await found((request.params as { id: string }).id);
      const moved = await transitionRun(db, run.run_id, LIVE_STATUSES, 'cancelled', { finished_at: new Date() }, event('cancelled', request.actor));
      if (!moved.changed && moved.status !== 'cancelled') throw new ConflictError('run_finished', `run ${run.run_id} already ${moved.status}`);
      return reply.code(moved.changed ? 202 : 200).send({ run_id: run.run_id, status: 'cancelled' });
    });
    app.post('/runs/:id/retry', { config: { scope: 'trigger' } }, async (request, reply) => {
      const run = await found((request.params as { id: string }).id);
      const body = (request.body ?? {}) as { params?: Record<string, unknown> };
      return reply.code(202).send(await create(deps, { job: run.job, params: { ...run.params, ...body.params }, actor: request.actor, retryOf: run }));
    });
    app.get('/jobs', { config: { scope: 'read' } }, async () => ({
      jobs: [
        { name: 'ok', schedule: '0 6 * * *', schedule_text: 'at 06:00, every day', next_runs: ['2030-01-02T06:00:00.000Z'], last_run: { status: 'succeeded', finished_at: '2030-01-01T06:00:03.000Z' }, health: 'healthy', suspended: false },
        { name: 'hang', schedule: null, schedule_text: null, next_runs: [], last_run: null, health: 'unknown', suspended: true },
      ],
    }));
  }

  return {
    routes,
    bodies,
    async settle() {
      closing = true;
      await Promise.all([...pending]);
    },
  };
}

const lines = (text: string) => text.trimEnd().split('\n');

for (const engine of ENGINES) {
  describe(`kubescribe as an API client (${engine})`, () => {
    let api: TestApi;
    let home: string;
    const fake = standIn();
    const env = (extra: Record<string, string> = {}) => ({
      KUBESCRIBE_HOME: home, DATABASE_URL: DEAD_DB, KUBESCRIBE_SERVER: api.url, KUBESCRIBE_TOKEN: api.tokens.trigger, ...extra,
    });
    const cli = (args: string[], extra: Record<string, string> = {}, onSpawn?: (child: ChildProcess) => void) => runCli(args, { env: env(extra), onSpawn });
    const run = async (id: string) => (await getRun(api.db, id))!;
    const triggered = async (job: string, ...args: string[]) => {
      const result = await cli(['trigger', job, ...args]);
      assert.equal(result.code, 0, result.err);
      return result.out.trim();
    };

    before(async () => {
      api = await startTestApi(engine, { routes: [fake.routes] });
      home = mkdtempSync(join(tmpdir(), 'ks-client-'));
    });
    after(async () => {
      await fake.settle();
      await api.close();
      rmSync(home, { recursive: true, force: true });
    });

    test('trigger --wait streams the log to stdout, reports status changes on stderr, and exits 0', async () => {
      const result = await cli(['trigger', 'ok', '--wait', '--reason', 'backfill', '-p', 'n=5', '-p', 'flag=true', '-p', 'day=2026-11-25',
        '-p', 'obj={"a":1}', '-p', 'list=[1,2]', '-p', 'zip="02139"', '-p', 'nothing=null', '-p', 'eq=a=b']);
      assert.equal(result.code, 0, result.err);
      assert.equal(result.out, 'hello\na warning\nsecond line\n');
      const err = lines(result.err);
      const id = /^triggered ok: run (\S+)$/.exec(err[0]!)![1]!;
      assert.deepEqual(err.slice(1, 3), [`run ${id} (ok): queued`, `run ${id} (ok): running`]);
      assert.match(err[3]!, new RegExp(`^run ${id} \\(ok\\): succeeded after \\d+ms, exit code 0$`));
      assert.equal(err.length, 4);
      const saved = await run(id);
      assert.deepEqual(saved.params, { n: 5, flag: true, day: '2026-11-25', obj: { a: 1 }, list: [1, 2], zip: '02139', nothing: 'null', eq: 'a=b' });
      assert.equal(saved.triggered_by, 'token:test-trigger');
      assert.deepEqual(fake.bodies.at(-1), { job: 'ok', params: saved.params, reason: 'backfill' });
    });

    test("--wait mirrors the run's exit: its exit code, 1 without one, 124 timed out", async () => {
      const [fail, crash, slow] = await Promise.all([cli(['trigger', 'fail', '-p', 'code=3', '--wait']), cli(['trigger', 'crash', '--wait']), cli(['trigger', 'slow', '--wait'])]);
      assert.equal(fail.code, 3, fail.err);
      assert.match(fail.err, /: failed after (?:\d+[hms]+)+, exit code 3: RuntimeError: /);
      assert.equal(fail.out, 'about to fail\n');
      assert.equal(crash.code, 1, crash.err);
      assert.match(crash.err, /: failed after (?:\d+[hms]+)+, SIGKILL\n$/);
      assert.equal(slow.code, 124, slow.err);
      assert.match(slow.err, /: timed_out after /);
    });

    test('--wait ends with 130 when the run is cancelled; cancel is idempotent; a finished run cannot be cancelled', async () => {
      const started = Date.now();
      const waiting = cli(['trigger', 'hang', '--wait']);
      const id = await waitFor(async () => (await listRuns(api.db, { job: 'hang', status: 'running' })).find((r) => r.created_at.getTime() >= started - 1000)?.run_id, 15_000, 'the hang run');
      const cancel = await cli(['cancel', id.slice(0, 20)]);
      assert.equal(cancel.code, 0, cancel.err);
      assert.equal(cancel.out, `run ${id} cancelled\n`);
      const result = await waiting;
      assert.equal(result.code, 130, result.err);
      assert.equal(result.out, 'waiting\n');
      assert.match(result.err, new RegExp(`run ${id} \\(hang\\): cancelled after`));
      assert.equal((await cli(['cancel', id])).code, 0);
      const ok = await triggered('ok');
      await waitFor(async () => (await run(ok)).status === 'succeeded');
      const finished = await cli(['cancel', ok]);
      assert.equal(finished.code, 1);
      assert.equal(finished.err, `kubescribe: run ${ok} already succeeded\n`);
    });

    test('Ctrl-C stops the waiting, not the run, and says how to cancel it', async () => {
      let child!: ChildProcess;
      let err = '';
      const waiting = cli(['trigger', 'hang', '--wait'], {}, (spawned) => {
        child = spawned;
        spawned.stderr?.on('data', (data: Buffer) => (err += data.toString()));
      });
      await waitFor(() => / \(hang\): running/.test(err), 15_000, 'the running status line');
      child.kill('SIGINT');
      const result = await waiting;
      assert.equal(result.code, 130);
      const id = /run (\S+) goes on \(stop it with: kubescribe cancel \1\)/.exec(result.err)![1]!;
      assert.equal((await run(id)).status, 'running');
      assert.equal((await cli(['cancel', id])).code, 0);
    });

    test('a log stream that drops is resumed from the last chunk: nothing lost, nothing twice', async () => {
      const result = await cli(['trigger', 'flaky', '--wait']);
      assert.equal(result.code, 0, result.err);
      assert.equal(result.out, 'one\ntwo\nthree\n');
    });

    test('without --wait: the run id on stdout, or the API answer with --json; the same idempotency key gets the same run', async () => {
      const plain = await cli(['trigger', 'ok']);
      assert.match(plain.out, /^[0-9a-f-]{36}\n$/);
      assert.match(plain.err, /^triggered ok: run \S+ is queued; follow it with: kubescribe logs -f \S+\n$/);
      const first = JSON.parse((await cli(['trigger', 'ok', '--json', '--idempotency-key', 'nightly-1'])).out) as { run_id: string; status: string; links: object };
      assert.equal(first.status, 'queued');
      assert.ok(first.links);
      assert.equal(await triggered('ok', '--idempotency-key', 'nightly-1'), first.run_id);
      const waited = await cli(['trigger', 'fail', '-p', 'code=4', '--wait', '--json']);
      assert.equal(waited.code, 4);
      assert.equal((JSON.parse(waited.out) as { status: string }).status, 'failed');
    });

    test('--dry-run shows what would run and creates nothing', async () => {
      const count = async () => (await listRuns(api.db, { limit: 500 })).length;
      const before = await count();
      const result = await cli(['trigger', 'ok', '--dry-run', '-p', 'n=1']);
      assert.equal(result.code, 0, result.err);
      assert.match(result.out, /^job\s+ok\nparams\s+\{"n":1\}\ncommand\s+python3 ok\.py\nenv\s+API_KEY\nexecutor\s+local\ndry run: nothing was created\n$/);
      assert.deepEqual(JSON.parse((await cli(['trigger', 'ok', '--dry-run', '--json'])).out), { job: 'ok', params: {}, command: ['python3', 'ok.py'], env_names: ['API_KEY'], executor: 'local' });
      assert.equal(await count(), before);
    });

    test('runs, runs show and logs [-f] go over the API', async () => {
      const id = await triggered('ok');
      const followed = await cli(['logs', '-f', id.slice(0, 24)]);
      assert.equal(followed.code, 0, followed.err);
      assert.equal(followed.out, 'hello\na warning\nsecond line\n');
      const split = await cli(['logs', id, '--split']);
      assert.deepEqual([split.out, split.err], ['hello\nsecond line\n', 'a warning\n']);
      const listed = JSON.parse((await cli(['runs', '--job', 'ok', '--status', 'succeeded', '--json'])).out) as { run_id: string; job: string }[];
      assert.equal(listed[0]!.run_id, id);
      assert.ok(listed.every((r) => r.job === 'ok'));
      const table = await cli(['runs', '--limit', '1']);
      assert.match(lines(table.out)[0]!, /^RUN\s+RUN ID\s+JOB\s+STATUS\s+TRIGGER\s+CREATED\s+DURATION\s+EXIT\s+ERROR$/);
      assert.match(lines(table.out)[1]!, new RegExp(`^ok#\\d+\\s+${id}\\s+ok\\s+succeeded\\s+api\\s+.*\\s0$`));
      assert.equal(lines(table.out).length, 2);
      const shown = await cli(['runs', 'show', id]);
      assert.equal(shown.code, 0, shown.err);
      assert.match(shown.out, new RegExp(`^run_id\\s+${id}$`, 'm'));
      assert.match(shown.out, /^status\s+succeeded$/m);
      assert.match(shown.out, /^trigger\s+api by token:test-trigger$/m);
      assert.match(shown.out, /queued → running/);
      const json = JSON.parse((await cli(['runs', 'show', id, '--json'])).out) as { events: unknown[]; duration_ms: number };
      assert.equal(json.events.length, 3);
      assert.equal(typeof json.duration_ms, 'number');
      assert.equal((await cli(['runs', '--status', 'done'])).code, 2);
    });

    test('retry starts a new run with the same params, overridden by -p', async () => {
      const failed = await cli(['trigger', 'fail', '-p', 'code=5', '-p', 'day=x', '--wait']);
      const original = /run (\S+)/.exec(failed.err)![1]!;
      const result = await cli(['retry', original, '-p', 'code=0', '--wait']);
      assert.equal(result.code, 0, result.err);
      const id = /^retrying \S+: run (\S+)$/m.exec(result.err)![1]!;
      const retried = await run(id);
      assert.deepEqual([retried.trigger, retried.retry_of, retried.attempt, retried.params], ['retry', original, 2, { code: 0, day: 'x' }]);
    });

    test('jobs lists schedule, next and last run, health and suspension', async () => {
      const result = await cli(['jobs']);
      assert.equal(result.code, 0, result.err);
      const [head, ok, hang] = lines(result.out);
      assert.match(head!, /^NAME\s+SCHEDULE\s+NEXT RUN\s+LAST RUN\s+HEALTH\s+SUSPENDED$/);
      assert.match(ok!, /^ok\s+at 06:00, every day\s+2030-01-0\d \d\d:\d\d:\d\d\s+succeeded 2030-01-0\d \S+\s+healthy\s+no$/);
      assert.match(hang!, /^hang\s+-\s+-\s+-\s+unknown\s+yes$/);
      assert.equal((JSON.parse((await cli(['jobs', '--json'])).out) as unknown[]).length, 2);
    });

    test('no token, a bad token, too small a scope, an unknown job: one line each, saying what to do', async () => {
      const none = await cli(['runs'], { KUBESCRIBE_TOKEN: '' });
      assert.equal(none.code, 1);
      assert.equal(none.err, `kubescribe: the KubeScribe API at ${api.url} needs a token: give --token or set KUBESCRIBE_TOKEN (an admin makes one with: kubescribe tokens create --name NAME --scope read|trigger|admin)\n`);
      const bad = await cli(['jobs'], { KUBESCRIBE_TOKEN: 'ksk_wrong' });
      assert.equal(bad.code, 1);
      assert.match(bad.err, /^kubescribe: the KubeScribe API at \S+ refused the token from KUBESCRIBE_TOKEN: .*unknown, revoked or expired; give a valid token with --token or KUBESCRIBE_TOKEN\n$/);
      const small = await cli(['trigger', 'ok'], { KUBESCRIBE_TOKEN: api.tokens.read });
      assert.equal(small.code, 1);
      assert.equal(small.err, 'kubescribe: token test-read has scope read; this endpoint needs trigger; use a token with scope trigger (--token or KUBESCRIBE_TOKEN)\n');
      const flag = await cli(['trigger', 'ok', '--token', api.tokens.admin], { KUBESCRIBE_TOKEN: api.tokens.read });
      assert.equal(flag.code, 0, '--token wins over KUBESCRIBE_TOKEN');
      const unknown = await cli(['trigger', 'nope']);
      assert.equal(unknown.code, 2);
      assert.equal(unknown.err, 'kubescribe: no job nope\n');
    });

    test('the local dev server is found through its server file and token file; flags and env win over it', async () => {
      const local = mkdtempSync(join(tmpdir(), 'ks-local-'));
      try {
        writeServerFile(local, { url: api.url, pid: process.pid });
        writeLocalToken(local, api.tokens.read);
        const viaFile = await cli(['runs', '--json', '--limit', '1'], { KUBESCRIBE_HOME: local, KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '' });
        assert.equal(viaFile.code, 0, viaFile.err);
        assert.equal((JSON.parse(viaFile.out) as unknown[]).length, 1);
        const port = await freePort();
        const envWins = await cli(['runs'], { KUBESCRIBE_HOME: local, KUBESCRIBE_SERVER: `127.0.0.1:${port}` });
        assert.equal(envWins.err, `kubescribe: cannot reach the KubeScribe API at http://127.0.0.1:${port}: ECONNREFUSED (from KUBESCRIBE_SERVER)\n`);
        const flagWins = await cli(['runs', '--server', api.url], { KUBESCRIBE_HOME: local, KUBESCRIBE_SERVER: `127.0.0.1:${port}` });
        assert.equal(flagWins.code, 0, flagWins.err);
        // A server file whose process is gone means no server: back to the RunLog (here unreachable).
        writeServerFile(local, { url: api.url, pid: deadPid() });
        const stale = await cli(['runs'], { KUBESCRIBE_HOME: local, KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '' });
        assert.equal(stale.code, 1);
        assert.match(stale.err, /^kubescribe: cannot reach the RunLog at postgres:/);
      } finally {
        rmSync(local, { recursive: true, force: true });
      }
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim());
}

describe('client commands without a reachable server', () => {
  const bare = { KUBESCRIBE_HOME: join(tmpdir(), 'ks-client-none'), KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '', DATABASE_URL: DEAD_DB };

  test('an unreachable server: one line naming the URL and the reason, exit 1, no stack trace', async () => {
    const port = await freePort();
    for (const args of [['runs'], ['runs', 'show', 'abcd1234'], ['logs', '-f', 'abcd1234'], ['trigger', 'ok', '--wait'], ['cancel', 'abcd'], ['jobs']]) {
      const result = await runCli([...args, '--server', `http://127.0.0.1:${port}`], { env: bare });
      assert.equal(result.code, 1, args.join(' '));
      assert.equal(result.err, `kubescribe: cannot reach the KubeScribe API at http://127.0.0.1:${port}: ECONNREFUSED\n`);
      assert.equal(result.out, '');
    }
  });

  test('no server configured: trigger says how to get one; logs -f is a usage error; bad URLs are named', async () => {
    const trigger = await runCli(['trigger', 'ok'], { env: bare });
    assert.equal(trigger.code, 1);
    assert.match(trigger.err, /^kubescribe: trigger talks to the KubeScribe API and none is configured: start one with `kubescribe dev`, or give --server URL/);
    const follow = await runCli(['logs', '-f', 'abcd1234'], { env: bare });
    assert.equal(follow.code, 2);
    assert.match(follow.err, /logs -f follows a live run through the KubeScribe API/);
    const url = await runCli(['jobs', '--server', 'ftp://example.com'], { env: bare });
    assert.equal(url.code, 2);
    assert.equal(url.err, 'kubescribe: --server ftp://example.com: expected an http:// or https:// URL\n');
  });
});

describe('client building blocks', () => {
  test('server and token files: mode 0600, read back, null when missing, torn or dead; resolution order', () => {
    const home = mkdtempSync(join(tmpdir(), 'ks-files-'));
    try {
      assert.equal(readLocalServer(home), null);
      assert.equal(readLocalToken(home), null);
      writeServerFile(home, { url: 'http://127.0.0.1:7070', pid: process.pid });
      writeLocalToken(home, 'ksk_local');
      assert.equal(statSync(join(home, 'server.json')).mode & 0o777, 0o600);
      assert.equal(statSync(join(home, 'token')).mode & 0o777, 0o600);
      assert.deepEqual(readLocalServer(home), { url: 'http://127.0.0.1:7070', token: 'ksk_local' });
      const resolve = (env: { server?: string; token?: string }, flags: { server?: string; token?: string } = {}) =>
        resolveServer({ home, server: env.server ?? null, token: env.token ?? null }, flags);
      assert.deepEqual(resolve({}), { url: 'http://127.0.0.1:7070', source: 'local', token: 'ksk_local', tokenSource: 'file' });
      assert.deepEqual(resolve({ server: 'example.com:8080/', token: 'ksk_env' }), { url: 'http://example.com:8080', source: 'env', token: 'ksk_env', tokenSource: 'env' });
      assert.deepEqual(resolve({ server: 'http://a' }, { server: 'https://b/base/', token: 'ksk_flag' }), { url: 'https://b/base', source: 'flag', token: 'ksk_flag', tokenSource: 'flag' });
      assert.throws(() => resolve({}, { server: 'http://me:pw@host' }), /put the API token in --token/);
      removeServerFile(home, process.pid + 1);
      assert.ok(readLocalServer(home), 'another server’s file is left alone');
      removeServerFile(home, process.pid);
      assert.equal(readLocalServer(home), null);
      assert.equal(resolve({}), null);
      writeFileSync(join(home, 'server.json'), '{"url": "http://x", "pi');
      assert.equal(readLocalServer(home), null);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('-p values: JSON numbers, booleans, objects and arrays as such; JSON strings unquoted; the rest as given', () => {
    assert.deepEqual(parseTriggerParams(['a=1.5', 'b=false', 'c={"x":[1]}', 'd=[]', 'e="007"', 'f=007', 'g=null', 'h=', 'i=x=y', 'j=2026-11-25']), {
      a: 1.5, b: false, c: { x: [1] }, d: [], e: '007', f: '007', g: 'null', h: '', i: 'x=y', j: '2026-11-25',
    });
    assert.throws(() => parseTriggerParams(['novalue']), /-p novalue: expected key=value/);
    assert.throws(() => parseTriggerParams(['=1']), /expected key=value/);
  });

  test('exit codes mirror the run', () => {
    const cases: [RunStatus, number | null, number][] = [
      ['succeeded', 0, 0], ['failed', 3, 3], ['failed', null, 1], ['failed', 0, 1], ['timed_out', null, 124], ['cancelled', null, 130], ['lost', null, 1],
    ];
    for (const [status, exit_code, expected] of cases) assert.equal(exitCodeOf({ status, exit_code }), expected, `${status} ${exit_code}`);
  });

  test('the SSE parser handles split reads, CRLF across reads, comments, multi-line data and a torn last event', async () => {
    const text = ': hello\r\nevent: log\r\nid: 1\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata:plain\n\nevent: end\ndata: {"status":"succeeded"}\n\nevent: log\ndata: torn';
    const bytes = new TextEncoder().encode(text);
    // Every split point, so CRLF pairs and multi-byte boundaries are cut in all the ways a socket can.
    for (let size = 1; size <= bytes.length; size += 3) {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += size) controller.enqueue(bytes.slice(i, i + size));
          controller.close();
        },
      });
      const events = [];
      for await (const event of parseSse(body)) events.push(event);
      assert.deepEqual(events, [
        { event: 'log', id: '1', data: '{"a":\n1}' },
        { event: 'message', id: '1', data: 'plain' },
        { event: 'end', id: '1', data: '{"status":"succeeded"}' },
      ], `read size ${size}`);
    }
  });

  test('the status line: rewritten in place on a terminal and moved aside for log lines; one line per change elsewhere', async () => {
    const sink = () => Object.assign(new (class { text = ''; write(s: string) { this.text += s; return true; } })(), { isTTY: true, columns: 40 });
    const live = sink();
    const line = new StatusLine(live as unknown as NodeJS.WritableStream, true, true);
    line.update('run 1: queued', 'run 1: queued');
    line.update('run 1: running', 'run 1: running 1s');
    await line.around('log\n', async () => {});
    line.update('run 1: running', 'run 1: running 2s and a long tail that will not fit');
    line.finish('run 1: succeeded');
    assert.equal(live.text, '\rrun 1: queued\x1b[K\rrun 1: running 1s\x1b[K\r\x1b[K\rrun 1: running 1s\x1b[K\rrun 1: running 2s and a long tail that…\x1b[K\r\x1b[Krun 1: succeeded\n');
    const plain = sink();
    const lines = new StatusLine(plain as unknown as NodeJS.WritableStream, false, false);
    lines.update('run 1: queued', 'run 1: queued 0s');
    lines.update('run 1: running', 'run 1: running 1s');
    lines.update('run 1: running', 'run 1: running 2s');
    lines.finish('run 1: succeeded');
    assert.equal(plain.text, 'run 1: queued\nrun 1: running\nrun 1: succeeded\n');
  });
});
