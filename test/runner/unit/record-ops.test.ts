// The runner's records applied to the RunLog (src/runner/record-ops.ts). On a pipelined PostgreSQL
// engine (what `kubescribe run` opens) a batch's statements go out together, which is only right if
// each record is one statement issued before its first await: held here for every kind of record.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db, Queryable } from '../../../src/runlog/db.ts';
import { openRunLogDb } from '../../../src/runlog/open-runlog.ts';
import { readLogChunks, readRunEvents } from '../../../src/runlog/sql/run-logs.ts';
import { getRun } from '../../../src/runlog/sql/runs.ts';
import { uuidv7 } from '../../../src/runlog/uuidv7.ts';
import { applyOpIn, applyOps, type RecordOp, type RunOp } from '../../../src/runner/record-ops.ts';
import { ENGINES } from '../../support/runlog-engines.ts';
import { count, openSharedRunLog, type SharedRunLog } from '../../runlog/shared-runlog.ts';

const t = (s: number) => new Date(Date.UTC(2024, 4, 1, 6, 0, s));
const event = (type: string, s: number) => ({ event_id: uuidv7(), at: t(s), type, actor: 'runner', detail: {} });

/** One record of every kind but a job sync (which takes its own transaction), for one run, in an order that works. */
function everyKind(runId: string, job: string): RunOp[] {
  return [
    { op: 'ensure_job', name: job },
    {
      op: 'insert_run',
      run: { run_id: runId, job, job_content_hash: null, trigger: 'schedule', triggered_by: 'cron', params: {}, status: 'starting', executor: 'local', created_at: t(0) },
      event: event('created', 0),
    },
    { op: 'link_slot', job, scheduled_for: t(0).toISOString(), run_id: runId },
    { op: 'transition', run_id: runId, from: ['starting'], to: 'running', patch: { started_at: t(1) }, event: event('started', 1) },
    { op: 'logs', run_id: runId, rows: [{ seq: 1, stream: 'stdout', at: t(2).toISOString(), text: 'one\n' }, { seq: 2, stream: 'stderr', at: t(2).toISOString(), text: 'two\n' }] },
    { op: 'heartbeat', run_id: runId, at: t(3).toISOString() },
    { op: 'log_marker', run_id: runId, row: { seq: 3, stream: 'system', at: t(3).toISOString(), text: '[kubescribe] 1 B dropped\n' } },
    { op: 'delete_logs', run_id: runId, from: 2, to: 2 },
    { op: 'event', run_id: runId, event: event('warning', 4) },
    { op: 'transition', run_id: runId, from: ['running'], to: 'succeeded', patch: { finished_at: t(5), exit_code: 0 }, event: event('succeeded', 5) },
    { op: 'log_totals', run_id: runId, bytes: 9, dropped: 1 },
  ];
}

async function assertWritten(db: Db, runId: string): Promise<void> {
  const run = await getRun(db, runId);
  assert.equal(run?.status, 'succeeded');
  assert.deepEqual(run?.heartbeat_at, t(3));
  assert.equal(run?.log_bytes, 9);
  assert.deepEqual((await readRunEvents(db, runId)).map((e) => e.type), ['created', 'started', 'warning', 'succeeded']);
  assert.deepEqual((await readLogChunks(db, runId)).map((c) => [c.seq, c.text]), [[1, 'one\n'], [3, '[kubescribe] 1 B dropped\n']]);
  assert.equal(await count(db, 'schedule_slots WHERE run_id = $1', [runId]), 1);
}

for (const engine of ENGINES) {
  describe(`record ops (${engine})`, () => {
    let shared: SharedRunLog;
    before(async () => {
      shared = await openSharedRunLog(engine);
    });
    after(() => shared?.close());

    it('every kind of record is one statement, issued before its first await', async () => {
      const runId = uuidv7();
      const ops = everyKind(runId, 'ops-one-statement');
      assert.equal(new Set(ops.map((op) => op.op)).size, 10, 'every kind of record but sync_job');
      let issued = 0;
      const counting: Queryable = {
        query: (sql, params) => {
          issued++;
          return shared.db.query(sql, params);
        },
      };
      for (const op of ops) {
        const before = issued;
        const done = applyOpIn(counting, op);
        assert.equal(issued - before, 1, `${op.op} issued ${issued - before} statements before its first await`);
        await done;
        assert.equal(issued - before, 1, `${op.op} issued another statement after its first`);
      }
      await assertWritten(shared.db, runId);
    });
  });
}

if (ENGINES.includes('postgres')) {
  describe('record ops on a pipelined PostgreSQL engine', () => {
    let shared: SharedRunLog;
    let pipelined: Db;
    before(async () => {
      shared = await openSharedRunLog('postgres');
      pipelined = await openRunLogDb(shared.runlog.location, { pipeline: true });
    });
    after(async () => {
      await pipelined?.close();
      await shared?.close();
    });

    it('writes a batch of every kind of record in one transaction, in order', async () => {
      const runId = uuidv7();
      await pipelined.transaction(async (tx) => assert.equal(tx.pipelined, true));
      await applyOps(pipelined, everyKind(runId, 'ops-pipelined'));
      await assertWritten(shared.db, runId);
      // Replayed (the spool after a crash), the same records change nothing.
      await applyOps(pipelined, everyKind(runId, 'ops-pipelined').filter((op) => op.op !== 'insert_run' && op.op !== 'transition' && op.op !== 'event'));
      await assertWritten(shared.db, runId);
    });

    it('a failing statement rolls the whole batch back, and the engine goes on', async () => {
      const runId = uuidv7();
      const ops: RecordOp[] = everyKind(runId, 'ops-pipelined-fail').slice(0, 5);
      // A chunk for a run that does not exist breaks the foreign key, after the run's own insert.
      ops.push({ op: 'logs', run_id: uuidv7(), rows: [{ seq: 1, stream: 'stdout', at: t(2).toISOString(), text: 'orphan\n' }] });
      await assert.rejects(applyOps(pipelined, ops), (error: { code?: string }) => error.code === '23503');
      assert.equal(await count(shared.db, 'runs WHERE run_id = $1', [runId]), 0);
      assert.equal(await count(shared.db, "jobs WHERE name = 'ops-pipelined-fail'"), 0);
      const next = uuidv7();
      await applyOps(pipelined, everyKind(next, 'ops-pipelined-after'));
      await assertWritten(shared.db, next);
    });
  });
}
