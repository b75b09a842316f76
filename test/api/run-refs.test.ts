// Every `/runs/{run_id}…` route accepts a run reference (id, `job#N` as %23, `job~N`, an id prefix)
// and names it when it matches no run or several; a trigger that cannot get its job's row in time
// is a 503 with Retry-After naming the session that holds it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runsReadRoutes } from '../../src/api/routes/runs-read.ts';
import { runsWriteRoutes } from '../../src/api/routes/runs-write.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { getRun, insertRun } from '../../src/runlog/sql/runs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { ENGINES } from '../support/runlog-engines.ts';

const config = parseConfig(`
jobs:
  report:
    command: ["true"]
  forbid-locked:
    command: ["true"]
    concurrency_policy: Forbid
`, 'kubescribe.yaml');

for (const engine of ENGINES) {
  describe(`API: run references (${engine})`, () => {
    let api: TestApi;
    const runs: string[] = [];
    before(async () => {
      api = await startTestApi(engine, { config, routes: [runsReadRoutes, runsWriteRoutes] });
      await ensureUndeclaredJob(api.db, 'report');
      for (let i = 0; i < 3; i++) {
        const runId = uuidv7();
        await insertRun(api.db, {
          run_id: runId, job: 'report', job_content_hash: null, trigger: 'manual', triggered_by: 'test', params: {},
          status: 'queued', executor: 'local', created_at: new Date(),
        }, { event_id: uuidv7(), at: new Date(), type: 'created', actor: 'test' });
        runs.push(runId);
      }
    });
    after(() => api?.close());

    const json = async (response: Response) => ({ status: response.status, body: await response.json() as Record<string, any> });

    test('GET /runs/report%232, /runs/report~2 and an id prefix show the run with its number', async () => {
      for (const ref of ['report%232', 'report~2', runs[1]!.slice(0, 30)]) {
        const { status, body } = await json(await api.call('GET', `/runs/${ref}`, { scope: 'read' }));
        assert.equal(status, 200, `${ref}: ${JSON.stringify(body)}`);
        assert.equal(body.run_id, runs[1]);
        assert.equal(body.run_number, 2);
      }
      const events = await json(await api.call('GET', '/runs/report~3/events', { scope: 'read' }));
      assert.equal(events.status, 200);
      assert.ok(events.body.events.every((event: { run_id: string }) => event.run_id === runs[2]));
      const listed = await json(await api.call('GET', '/runs?job=report', { scope: 'read' }));
      assert.deepEqual(listed.body.runs.map((run: { run_number: number }) => run.run_number), [3, 2, 1]);
    });

    test('POST /runs/report~1/cancel cancels run 1', async () => {
      const { status, body } = await json(await api.call('POST', '/runs/report~1/cancel', { scope: 'trigger' }));
      assert.ok(status === 200 || status === 202, JSON.stringify(body));
      assert.equal(body.run_id, runs[0]);
      assert.notEqual((await getRun(api.db, runs[0]!))!.status, 'queued');
    });

    test('a ref that names no run is a 404 naming it; a prefix of several runs a 400 listing them', async () => {
      const missing = await json(await api.call('GET', '/runs/report%23999', { scope: 'read' }));
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.body.error, { code: 'run_not_found', message: 'no run report#999', details: { run: 'report#999' } });
      const shared = runs[0]!.slice(0, 4);
      const ambiguous = await json(await api.call('GET', `/runs/${shared}/logs`, { scope: 'read' }));
      assert.equal(ambiguous.status, 400);
      assert.equal(ambiguous.body.error.code, 'ambiguous_run_ref');
      assert.equal(ambiguous.body.error.details.run, shared);
      assert.ok(ambiguous.body.error.details.matches.length >= 2);
    });

    if (engine !== 'postgres') return;

    test('a trigger that cannot lock its job\'s row in time → 503 lock_timeout with Retry-After, naming the holder', async () => {
      // The first trigger records the job; the second finds a Forbid job whose row another session holds.
      const first = await api.call('POST', '/runs/trigger', { scope: 'trigger', body: { job: 'forbid-locked' } });
      assert.equal(first.status, 202, await first.text());
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let holding!: (pid: number) => void;
      const held = new Promise<number>((resolve) => (holding = resolve));
      const holder = api.db.transaction(async (tx) => {
        await tx.query('SELECT name FROM jobs WHERE name = $1 FOR UPDATE', ['forbid-locked']);
        const [row] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        holding(row!.pid);
        await released;
      });
      try {
        const pid = await held;
        const response = await api.call('POST', '/runs/trigger', { scope: 'trigger', body: { job: 'forbid-locked' } });
        const body = await response.json() as { error: { code: string; message: string; details: { lock: string; holders: { pid: number }[] } } };
        assert.equal(response.status, 503, JSON.stringify(body));
        assert.equal(response.headers.get('retry-after'), '5');
        assert.equal(body.error.code, 'lock_timeout');
        assert.equal(body.error.details.lock, 'the row of job forbid-locked');
        assert.deepEqual(body.error.details.holders.map((h) => h.pid), [pid]);
        assert.match(body.error.message, new RegExp(`held by pid ${pid}`));
      } finally {
        release();
        await holder;
      }
    });
  });
}
