import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../../src/runlog/db.ts';
import { readLogChunks, readRunEvents } from '../../../src/runlog/sql/run-logs.ts';
import { getRun } from '../../../src/runlog/sql/runs.ts';
import { uuidv7 } from '../../../src/runlog/uuidv7.ts';
import type { RecordOp } from '../../../src/runner/record-ops.ts';
import { Recorder } from '../../../src/runner/recorder.ts';
import { flushSpools } from '../../../src/runner/runlog-sink.ts';
import { ENGINES } from '../../support/runlog-engines.ts';
import { count, openSharedRunLog, unclosable, type SharedRunLog } from '../../runlog/shared-runlog.ts';

/** The error `pg` raises when nothing listens on the server's port. */
function connectionRefused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });
}

/** The records a runner writes for one run, start to finish. */
function runRecords(runId: string, job: string): RecordOp[] {
  const t = (s: number) => new Date(Date.UTC(2024, 4, 1, 6, 0, s));
  const event = (type: string, s: number, detail: Record<string, unknown> = {}) => ({ event_id: uuidv7(), at: t(s), type, actor: 'runner', detail });
  return [
    { op: 'ensure_job', name: job },
    {
      op: 'insert_run',
      run: {
        run_id: runId, job, job_content_hash: null, trigger: 'schedule', triggered_by: 'cron', params: { day: '2024-05-01', ids: [1, [2]] },
        status: 'starting', executor: 'local', executor_ref: { host: 'h' }, command: ['python3', 'script.py'], created_at: t(0),
      },
      event: event('created', 0, { trigger: 'schedule' }),
    },
    { op: 'transition', run_id: runId, from: ['starting'], to: 'running', patch: { started_at: t(1), heartbeat_at: t(1) }, event: event('started', 1, { pid: 7 }) },
    { op: 'logs', run_id: runId, rows: [{ seq: 1, stream: 'stdout', at: t(2).toISOString(), text: 'loading 🚀\n' }, { seq: 2, stream: 'stderr', at: t(2).toISOString(), text: 'warn\n' }] },
    { op: 'heartbeat', run_id: runId, at: t(10).toISOString() },
    { op: 'logs', run_id: runId, rows: [{ seq: 4, stream: 'stdout', at: t(11).toISOString(), text: 'tail\n' }] },
    { op: 'log_marker', run_id: runId, row: { seq: 3, stream: 'system', at: t(11).toISOString(), text: '[kubescribe] 9 B dropped\n' } },
    { op: 'delete_logs', run_id: runId, from: 2, to: 2 },
    { op: 'event', run_id: runId, event: event('warning', 12, { line: 3 }) },
    {
      op: 'transition', run_id: runId, from: ['starting', 'running'], to: 'failed',
      patch: { finished_at: t(20), exit_code: 1, error_type: 'ValueError', error_message: 'bad row', outputs: { report: [1, 2] }, metrics: { rows: 10 } },
      event: event('failed', 20, { exit_code: 1 }),
    },
    { op: 'log_totals', run_id: runId, bytes: 5_000_000_000, dropped: 9 },
  ];
}

/** Checks that the run holds exactly what `runRecords` describes, once. */
async function assertRecorded(db: Db, runId: string): Promise<void> {
  const run = await getRun(db, runId);
  assert.ok(run, 'the run exists');
  assert.equal(run.status, 'failed');
  assert.deepEqual(run.params, { day: '2024-05-01', ids: [1, [2]] });
  assert.deepEqual(run.command, ['python3', 'script.py']);
  assert.deepEqual(run.started_at, new Date(Date.UTC(2024, 4, 1, 6, 0, 1)));
  assert.deepEqual(run.heartbeat_at, new Date(Date.UTC(2024, 4, 1, 6, 0, 10)));
  assert.deepEqual(run.finished_at, new Date(Date.UTC(2024, 4, 1, 6, 0, 20)));
  assert.equal(run.exit_code, 1);
  assert.deepEqual(run.outputs, { report: [1, 2] });
  assert.deepEqual(run.metrics, { rows: 10 });
  assert.equal(run.log_bytes, 5_000_000_000);
  assert.equal(run.log_dropped_bytes, 9);
  const events = await readRunEvents(db, runId);
  assert.deepEqual(events.map((e) => [e.type, e.from_status, e.to_status]), [
    ['created', null, 'starting'],
    ['started', 'starting', 'running'],
    ['warning', null, null],
    ['failed', 'running', 'failed'],
  ]);
  const logs = await readLogChunks(db, runId);
  assert.deepEqual(logs.map((c) => [c.seq, c.stream, c.text]), [
    [1, 'stdout', 'loading 🚀\n'],
    [3, 'system', '[kubescribe] 9 B dropped\n'],
    [4, 'stdout', 'tail\n'],
  ]);
}

const spoolLines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as RecordOp);
const asJson = (ops: RecordOp[]) => JSON.parse(JSON.stringify(ops)) as RecordOp[];

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

for (const engine of ENGINES) {
  describe(`Recorder (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    let spoolDir: string;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
      spoolDir = join(shared.runlog.home, 'spool');
    });
    after(() => shared?.close());

    it('writes records to the RunLog in order', async () => {
      const runId = uuidv7();
      const said: string[] = [];
      let opens = 0;
      const recorder = new Recorder({
        open: async () => {
          opens++;
          return unclosable(db);
        },
        spoolFile: join(spoolDir, `${runId}.jsonl`),
        say: (line) => said.push(line),
      });
      for (const op of runRecords(runId, 'rec-online')) recorder.record(op);
      assert.equal(await recorder.drain(10_000), true);
      await assertRecorded(db, runId);
      assert.equal((await recorder.read((sink) => sink.getRun(runId)))?.status, 'failed');
      assert.equal(await count(db, 'runs WHERE run_id = $1', [runId]), 1);
      assert.equal(await recorder.close(1000), null);
      assert.equal(opens, 1);
      assert.deepEqual(said, []);
      assert.equal(existsSync(join(spoolDir, `${runId}.jsonl`)), false);
    });

    it('writes what was queued while the RunLog opened as one batch', async () => {
      const runId = uuidv7();
      let transactions = 0;
      let lone = 0;
      let opened!: () => void;
      const opening = new Promise<void>((resolve) => (opened = resolve));
      const recorder = new Recorder({
        // Counts how the records reach the real RunLog: in a transaction, or a statement on its own.
        open: async () => {
          await opening;
          return {
            ...unclosable(db),
            query: (sql, params) => {
              lone++;
              return db.query(sql, params);
            },
            transaction: (fn) => {
              transactions++;
              return db.transaction(fn);
            },
          };
        },
        spoolFile: join(spoolDir, `${runId}.jsonl`),
        say: () => {},
      });
      // A short run: every record is queued before the connection is up.
      for (const op of runRecords(runId, 'rec-one-batch')) recorder.record(op);
      opened();
      assert.equal(await recorder.drain(10_000), true);
      await assertRecorded(db, runId);
      assert.deepEqual({ transactions, lone }, { transactions: 1, lone: 0 });
      assert.equal(await recorder.close(1000), null);
    });

    it('buffers records on disk while the RunLog refuses connections, then flushes them in order', async () => {
      const runId = uuidv7();
      const spoolFile = join(spoolDir, `${runId}.jsonl`);
      const said: string[] = [];
      let opens = 0;
      const failures = 3;
      const recorder = new Recorder({
        open: async () => {
          opens++;
          if (opens <= failures) throw connectionRefused();
          return unclosable(db);
        },
        spoolFile,
        say: (line) => said.push(line),
        retryMs: 150,
        maxRetryMs: 300,
      });
      const ops = runRecords(runId, 'rec-offline');
      recorder.record(ops[0]!);
      await waitFor(() => recorder.isOffline, 'the recorder to go offline');
      assert.deepEqual(spoolLines(spoolFile), asJson(ops.slice(0, 1)));
      assert.match(said[0]!, /the RunLog is unreachable \(ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:5432\); the job keeps running/);
      assert.ok(said[0]!.includes(spoolFile));

      // Records made while offline are appended behind it, in order.
      for (const op of ops.slice(1)) recorder.record(op);
      assert.deepEqual(spoolLines(spoolFile), asJson(ops));
      // The log text waiting to be written (the runner reads its child more slowly when it grows).
      const logText = ops.flatMap((op) => (op.op === 'logs' ? op.rows.map((r) => r.text) : [])).join('');
      assert.equal(recorder.backlogBytes, logText.length);
      assert.equal(await recorder.read(async () => 'never'), null, 'reads give up while offline');

      assert.equal(await recorder.drain(10_000), true);
      assert.equal(recorder.isOffline, false);
      assert.equal(recorder.backlogBytes, 0);
      assert.equal(opens, failures + 1);
      assert.equal(existsSync(spoolFile), false, 'the spool file is deleted once flushed');
      await assertRecorded(db, runId);
      assert.equal(said.length, 2, said.join('\n'));
      assert.equal(said[1], 'kubescribe: the RunLog answers again; buffered records flushed');
      assert.equal(await recorder.close(1000), null);
    });

    it('close(0) while unreachable leaves every record in the spool file; flushSpools replays it once', async () => {
      const runId = uuidv7();
      const spoolFile = join(spoolDir, `${runId}.jsonl`);
      const recorder = new Recorder({
        open: async () => {
          throw connectionRefused();
        },
        spoolFile,
        say: () => {},
        retryMs: 10_000,
      });
      const ops = runRecords(runId, 'rec-spool');
      for (const op of ops) recorder.record(op);
      const started = Date.now();
      assert.equal(await recorder.close(0), spoolFile);
      assert.ok(Date.now() - started < 2000, 'close(0) does not wait for the retry');
      assert.deepEqual(spoolLines(spoolFile), asJson(ops));
      assert.equal(await getRun(db, runId), null, 'nothing reached the RunLog');
      const content = readFileSync(spoolFile, 'utf8');

      const said: string[] = [];
      assert.equal(await flushSpools(db, spoolDir, (line) => said.push(line)), 1);
      assert.equal(existsSync(spoolFile), false);
      assert.deepEqual(said, [`kubescribe: flushed buffered records of run ${runId} into the RunLog`]);
      await assertRecorded(db, runId);

      // The same buffer again (a flush that crashed before deleting its file), plus a line cut short.
      mkdirSync(spoolDir, { recursive: true });
      writeFileSync(spoolFile, content + '{"op":"heartbeat","run_id":"' + runId);
      const said2: string[] = [];
      assert.equal(await flushSpools(db, spoolDir, (line) => said2.push(line)), 1);
      assert.equal(existsSync(spoolFile), false);
      assert.match(said2[0]!, new RegExp(`${runId}\\.jsonl:${ops.length + 1}: unreadable buffered record skipped`));
      await assertRecorded(db, runId);
      assert.equal(await count(db, 'run_events WHERE run_id = $1', [runId]), 4);
      assert.equal(await count(db, 'run_logs WHERE run_id = $1', [runId]), 3);
      assert.equal(await count(db, "jobs WHERE name = 'rec-spool'"), 1);
    });

    it('flushSpools does nothing without a spool directory, and ignores files that are not buffers', async () => {
      assert.equal(await flushSpools(db, join(shared.runlog.home, 'no-such-dir'), () => {}), 0);
      mkdirSync(spoolDir, { recursive: true });
      writeFileSync(join(spoolDir, 'notes.txt'), 'not a buffer');
      assert.equal(await flushSpools(db, spoolDir, () => {}), 0);
      assert.equal(existsSync(join(spoolDir, 'notes.txt')), true);
    });

    it('skips a record the RunLog rejects, says so, and keeps the rest flowing', async () => {
      const runId = uuidv7();
      const said: string[] = [];
      const recorder = new Recorder({ open: async () => unclosable(db), spoolFile: join(spoolDir, `${runId}.jsonl`), say: (line) => said.push(line) });
      const ops = runRecords(runId, 'rec-reject');
      // A log chunk for a run that does not exist yet: a foreign-key violation, not an outage.
      recorder.record({ op: 'logs', run_id: uuidv7(), rows: [{ seq: 1, stream: 'stdout', at: new Date().toISOString(), text: 'x' }] });
      for (const op of ops) recorder.record(op);
      assert.equal(await recorder.drain(10_000), true);
      assert.equal(said.length, 1);
      assert.match(said[0]!, /^kubescribe: could not record logs \(.*\); skipping it$/);
      assert.equal(recorder.backlogBytes, 0);
      await assertRecorded(db, runId);
      await recorder.close(1000);
    });
  });
}
