// A RunLog that goes silent (TCP open, no byte through: a frozen proxy) must not stall a run: the
// runner treats "stuck" like "unreachable", spools to disk, keeps the job at full speed and flushes
// afterwards, with nothing lost and nothing written twice.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { REPO_ROOT, runCli, waitFor } from '../support/cli.ts';
import { TcpProxy, targetOf } from '../support/tcp-proxy.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { readLogChunks } from '../../src/runlog/sql/run-logs.ts';
import { openPgEngine } from '../../src/runlog/pg-engine.ts';
import { Recorder } from '../../src/runner/recorder.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');
const spoolFiles = (home: string) => (existsSync(join(home, 'spool')) ? readdirSync(join(home, 'spool')) : []);

if (!process.env.DATABASE_URL) {
  test('a frozen PostgreSQL under a runner', { skip: 'DATABASE_URL is not set: the database fault tests need a real PostgreSQL' }, () => {});
} else {
  describe('PostgreSQL frozen under a runner', () => {
    let t: TestRunLog;
    let proxy: TcpProxy;

    before(async () => {
      t = await createTestRunLog('postgres');
      await t.withDb(async () => {});
      proxy = new TcpProxy(targetOf(process.env.DATABASE_URL!));
      await proxy.start();
    });
    after(async () => {
      await proxy.close();
      await t.cleanup();
    });

    test('a job writing 1 MB/s runs on at full speed through a freeze; its log is complete afterwards', { timeout: 90_000 }, async () => {
      const runId = uuidv7();
      // The documented knob: the client-side query timeout, short here so the test is quick.
      const url = new URL(proxy.urlFor(process.env.DATABASE_URL!));
      url.searchParams.set('query_timeout', '2s');
      const blocks = 6;
      const actions = Array.from({ length: blocks }, (_, i) => [`out:mark-${i}`, 'bytes:500000', 'sleep:0.5']).flat();
      let stdout = '';
      let frozenAt = 0;
      let doneWritingAfter = -1;
      const pending = runCli(['run', '--run-id', runId, '--job', 'firehose', '--', 'python3', EMIT, ...actions, 'out:done'], {
        env: { ...t.env, DATABASE_URL: url.toString() },
        timeoutMs: 80_000,
        onSpawn: (child) => child.stdout!.on('data', (data: Buffer) => {
          stdout += data.toString('utf8');
          if (doneWritingAfter < 0 && frozenAt > 0 && stdout.endsWith('done\n')) doneWritingAfter = Date.now() - frozenAt;
        }),
      });
      await waitFor(async () => (await t.withDb((db) => getRun(db, runId)))?.status === 'running', 120_000, 'the run to start');
      proxy.freeze();
      frozenAt = Date.now();
      const freezeMs = 8_000;
      await waitFor(() => doneWritingAfter >= 0 || Date.now() - frozenAt > freezeMs, 20_000, 'the job or the freeze to end');
      await proxy.restore();
      const result = await pending;
      assert.equal(result.code, 0, result.err);
      // ~3 MB at 1 MB/s takes ~3 s; a stalled runner would have held the job until the restore.
      assert.ok(doneWritingAfter >= 0 && doneWritingAfter < freezeMs, `the job finished writing ${doneWritingAfter} ms into the freeze`);
      assert.match(result.err, /the RunLog is unreachable .*the job keeps running/);
      assert.match(result.err, /the RunLog answers again; buffered records flushed/);
      const saved = (await t.withDb((db) => getRun(db, runId)))!;
      assert.equal(saved.status, 'succeeded');
      const chunks = await t.withDb((db) => readLogChunks(db, runId));
      const text = chunks.map((chunk) => chunk.text).join('');
      assert.equal(text.length, result.out.length, 'log length equals what the job wrote');
      assert.ok(text === result.out, 'the log is exactly what the job wrote, in order, once');
      assert.deepEqual(spoolFiles(t.home), [], 'nothing left on disk');
    });

    test('the recorder\'s own bound: with no query timeout at all, a write stuck 500 ms goes to the spool and is flushed later', { timeout: 60_000 }, async () => {
      const spoolFile = join(t.home, 'spool', 'recorder-bound.jsonl');
      const said: string[] = [];
      const recorder = new Recorder({
        open: () => openPgEngine({
          url: proxy.urlFor(process.env.DATABASE_URL!), schema: t.location.databaseSchema!,
          timeouts: { queryMs: 0, statementMs: 0 },
        }),
        spoolFile, say: (line) => said.push(line), retryMs: 200, maxRetryMs: 500, stuckAfterMs: 500,
      });
      recorder.record({ op: 'ensure_job', name: 'before-freeze' });
      assert.equal(await recorder.drain(10_000), true);
      proxy.freeze();
      recorder.record({ op: 'ensure_job', name: 'during-freeze' });
      await waitFor(() => recorder.isOffline, 10_000, 'the recorder to give up on the stuck write');
      assert.match(readFileSync(spoolFile, 'utf8'), /during-freeze/);
      assert.match(said.join('\n'), /did not answer within 500 ms/);
      await proxy.restore();
      assert.equal(await recorder.drain(20_000), true);
      assert.equal(await recorder.close(1000), null);
      const names = await t.withDb((db) => db.query<{ name: string }>(`SELECT name FROM jobs WHERE name LIKE '%-freeze' ORDER BY name`));
      assert.deepEqual(names.map((row) => row.name), ['before-freeze', 'during-freeze']);
      assert.equal(existsSync(spoolFile), false);
    });
  });
}
