// Nothing lost: the RunLog going away during a run (PostgreSQL behind a proxy we cut, or the
// embedded PGlite held by another process) never stops the job and never loses its records.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { REPO_ROOT, runCli, waitFor } from '../support/cli.ts';
import { TcpProxy, targetOf } from '../support/tcp-proxy.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { readLogChunks, readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');
const emit = (...actions: string[]) => ['python3', EMIT, ...actions];
const spoolFiles = (home: string) => (existsSync(join(home, 'spool')) ? readdirSync(join(home, 'spool')) : []);

if (ENGINES.includes('postgres')) {
  describe('PostgreSQL unreachable during a run', () => {
    let t: TestRunLog;
    let proxy: TcpProxy;
    let viaProxy: Record<string, string>;

    before(async () => {
      t = await createTestRunLog('postgres');
      await t.withDb(async () => {}); // migrate before the proxy games begin
      proxy = new TcpProxy(targetOf(process.env.DATABASE_URL!));
      await proxy.start();
      viaProxy = { ...t.env, DATABASE_URL: proxy.urlFor(process.env.DATABASE_URL!) };
    });
    after(async () => {
      await proxy.cut();
      await t.cleanup();
    });

    test('an outage in the middle: the job runs on, records are buffered, then flushed, final state right', async () => {
      const runId = uuidv7();
      // The job goes on when the test says so: its middle is written during the outage however slowly
      // the run was seen to start (with sleeps, a loaded machine could see it after the job ended).
      const cut = join(t.home, `${runId}.cut`);
      const restored = join(t.home, `${runId}.restored`);
      let stderr = '';
      const pending = runCli(['run', '--run-id', runId, '--job', 'outage', '--',
        ...emit('out:before the outage', `wait-file:${cut}`, 'out:during the outage', 'metric:rows=7', 'err:still going', `wait-file:${restored}`, 'out:after', 'exit:0')],
        { env: viaProxy, timeoutMs: 180_000, onSpawn: (child) => child.stderr!.on('data', (data: Buffer) => (stderr += data.toString())) });
      await waitFor(async () => (await t.withDb((db) => getRun(db, runId)))?.status === 'running', 120_000, 'the run to start');
      await proxy.cut();
      writeFileSync(cut, '');
      // The outage lasts until the runner has met it (its writes of the middle failed and it said so),
      // not a fixed 2.5 s: that was longer than needed on a quiet machine and no proof on a loaded one.
      await waitFor(() => /the RunLog is unreachable/.test(stderr), 60_000, `the runner to meet the outage; it said: ${stderr}`);
      await proxy.restore();
      writeFileSync(restored, '');
      const result = await pending;
      assert.equal(result.code, 0, result.err);
      assert.equal(result.out, 'before the outage\nduring the outage\nafter\n', 'output passed through throughout');
      assert.match(result.err, /the RunLog is unreachable .*the job keeps running/);
      assert.match(result.err, /the RunLog answers again; buffered records flushed/);
      const saved = (await t.withDb((db) => getRun(db, runId)))!;
      assert.equal(saved.status, 'succeeded');
      assert.equal(saved.exit_code, 0);
      assert.deepEqual(saved.metrics, { rows: 7 });
      const text = (await t.withDb((db) => readLogChunks(db, runId))).map((chunk) => chunk.text).join('');
      for (const line of ['before the outage', 'during the outage', 'still going', 'after']) assert.ok(text.includes(line), line);
      const events = await t.withDb((db) => readRunEvents(db, runId));
      assert.deepEqual(events.map((event) => event.type), ['created', 'started', 'succeeded']);
      assert.deepEqual(spoolFiles(t.home), [], 'nothing left on disk');
    });

    test('an outage past the end: the result stays on disk and the next command writes it', async () => {
      const runId = uuidv7();
      const cut = join(t.home, `${runId}.cut`);
      const pending = runCli(['run', '--run-id', runId, '--flush-timeout', '1s', '--job', 'outage', '--',
        ...emit('out:working', `wait-file:${cut}`, 'err:something broke', 'exit:4')], { env: viaProxy, timeoutMs: 120_000 });
      await waitFor(async () => (await t.withDb((db) => getRun(db, runId)))?.status === 'running', 120_000, 'the run to start');
      await proxy.cut();
      writeFileSync(cut, '');
      const result = await pending;
      assert.equal(result.code, 4, 'the runner exits with the job exit code even without the RunLog');
      assert.match(result.err, new RegExp(`records are kept in .*${runId}\\.jsonl`));
      assert.deepEqual(spoolFiles(t.home), [`${runId}.jsonl`]);
      assert.equal((await t.withDb((db) => getRun(db, runId)))!.status, 'running', 'not yet known to the RunLog');

      await proxy.restore();
      const list = await runCli(['runs', '--json'], { env: viaProxy });
      assert.equal(list.code, 0, list.err);
      assert.match(list.err, new RegExp(`flushed buffered records of run ${runId}`));
      const saved = (await t.withDb((db) => getRun(db, runId)))!;
      assert.equal(saved.status, 'failed');
      assert.equal(saved.exit_code, 4);
      assert.equal(saved.error_tail, 'something broke');
      assert.deepEqual(spoolFiles(t.home), []);
    });

    test('the RunLog down from the start: the job still runs, and `kubescribe flush` records it later', async () => {
      await proxy.cut();
      const runId = uuidv7();
      const result = await runCli(['run', '--run-id', runId, '--flush-timeout', '500ms', '--job', 'outage', '--', ...emit('out:no database needed', 'metric:rows=1')],
        { env: viaProxy, timeoutMs: 60_000 });
      assert.equal(result.code, 0);
      assert.equal(result.out, 'no database needed\n');
      assert.equal(await t.withDb((db) => getRun(db, runId)), null);
      await proxy.restore();
      const flush = await runCli(['flush'], { env: viaProxy });
      assert.equal(flush.code, 0, flush.err);
      const saved = (await t.withDb((db) => getRun(db, runId)))!;
      assert.equal(saved.status, 'succeeded');
      assert.deepEqual(saved.metrics, { rows: 1 });
      assert.equal((await t.withDb((db) => readLogChunks(db, runId)))[0]?.text, 'no database needed\n');
    });
  });
}

describe('embedded PGlite held by another process', () => {
  let t: TestRunLog;
  before(async () => {
    t = await createTestRunLog('pglite');
  });
  after(() => t.cleanup());

  test('read commands say who holds it and what to do; the runner buffers and a later command flushes', async () => {
    const runId = uuidv7();
    // This test process holds the database, as a `kubescribe dev` would.
    const held = await openRunLogDb(t.location);
    try {
      const runs = await runCli(['runs'], { env: t.env });
      assert.equal(runs.code, 1);
      assert.match(runs.err, new RegExp(`is open in another process \\(pid ${process.pid}: .*\\)\\. PGlite can be opened by one process at a time`));
      assert.match(runs.err, /set DATABASE_URL/);

      const result = await runCli(['run', '--run-id', runId, '--flush-timeout', '500ms', '--job', 'busy', '--', ...emit('out:ran anyway')], { env: t.env });
      assert.equal(result.code, 0, result.err);
      assert.equal(result.out, 'ran anyway\n');
      assert.match(result.err, /records are kept in/);
    } finally {
      await held.close();
    }
    const list = await runCli(['runs', '--json'], { env: t.env });
    assert.equal(list.code, 0, list.err);
    const listed = JSON.parse(list.out) as { run_id: string; status: string }[];
    assert.deepEqual(listed.map((run) => [run.run_id, run.status]), [[runId, 'succeeded']]);
  });
});

for (const engine of ENGINES.filter((name) => name === 'postgres')) {
  describe(`10 runners at once (${engine})`, () => {
    let t: TestRunLog;
    before(async () => {
      t = await createTestRunLog(engine);
    });
    after(() => t.cleanup());

    test('ten concurrent runners on a fresh RunLog: all migrate, sync the job once and record their runs', async () => {
      const ids = Array.from({ length: 10 }, () => uuidv7());
      const results = await Promise.all(ids.map((runId, i) =>
        runCli(['run', '-q', '--run-id', runId, '--job', 'report', '-p', `output_dir=${join(t.home, `out-${i}`)}`], { env: t.env, timeoutMs: 90_000 })));
      for (const result of results) assert.equal(result.code, 0, result.err);
      await t.withDb(async (db) => {
        for (const runId of ids) {
          const saved = await getRun(db, runId);
          assert.equal(saved?.status, 'succeeded');
          assert.equal(saved?.metrics.rows_read, 200);
          assert.equal(saved?.job_revision, 1);
          assert.equal((await readRunEvents(db, runId)).length, 3);
        }
        const [revisions] = await db.query<{ n: number }>("SELECT count(*) AS n FROM job_revisions WHERE job = 'report'");
        assert.equal(revisions!.n, 1);
      });
    });
  });
}
