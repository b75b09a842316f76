import type { Db, Queryable } from '../runlog/db.ts';
import { ensureUndeclaredJob, syncJobDefinition, type JobSync } from '../runlog/sql/jobs.ts';
import { recordStartedSlot } from '../runlog/sql/schedule-slots.ts';
import { deleteLogChunks, insertLogChunks, upsertLogChunk, type LogRow } from '../runlog/sql/run-logs.ts';
import {
  insertEvent,
  insertRun,
  setLogTotals,
  touchHeartbeat,
  transitionRun,
  type EventInput,
  type NewRun,
  type RunPatch,
} from '../runlog/sql/runs.ts';
import type { RunStatus } from '../runlog/types.ts';

/**
 * Everything the runner writes, as plain JSON-serialisable records. Each is idempotent (keyed by
 * run_id, seq or event_id, or a compare-and-set), so the offline buffer can be replayed after a
 * crash half-way through a flush without recording anything twice.
 */
export type RecordOp =
  | { op: 'sync_job'; job: JobSync }
  | { op: 'ensure_job'; name: string }
  | { op: 'insert_run'; run: NewRun; event: EventInput }
  | { op: 'transition'; run_id: string; from: RunStatus[]; to: RunStatus; patch: RunPatch; event: EventInput }
  | { op: 'heartbeat'; run_id: string; at: string }
  | { op: 'event'; run_id: string; event: EventInput }
  | { op: 'logs'; run_id: string; rows: LogRow[] }
  | { op: 'log_marker'; run_id: string; row: LogRow }
  | { op: 'delete_logs'; run_id: string; from: number; to: number }
  | { op: 'log_totals'; run_id: string; bytes: number; dropped: number }
  | { op: 'link_slot'; job: string; scheduled_for: string; run_id: string };

/** Every record but a job sync: what can run inside a caller's transaction. */
export type RunOp = Exclude<RecordOp, { op: 'sync_job' }>;

// Timestamps travel as ISO strings through the offline buffer; turn them back into Dates.
const revive = (value: unknown): Date => (value instanceof Date ? value : new Date(String(value)));

/**
 * Applies a batch of records to the RunLog in order, in one transaction (a job sync, which takes its
 * own, runs between). Consecutive log chunks of one run go in one insert: a child writing fast sends
 * hundreds of small chunk groups, and a statement (and a commit) each was what capped the runner at
 * 5% of a child's output rate on PostgreSQL.
 */
export async function applyOps(db: Db, ops: readonly RecordOp[]): Promise<void> {
  let start = 0;
  while (start < ops.length) {
    const op = ops[start]!;
    if (op.op === 'sync_job') {
      await syncJobDefinition(db, op.job);
      start++;
      continue;
    }
    let end = start;
    while (end < ops.length && ops[end]!.op !== 'sync_job') end++;
    const segment = coalesceLogs(ops.slice(start, end) as RunOp[]);
    if (segment.length === 1) await applyOpIn(db, segment[0]!);
    else await db.transaction(async (tx) => {
      if (tx.pipelined) {
        // Each op is one statement, issued before its first await (test/runner/unit/record-ops.test.ts),
        // so issuing them all at once keeps their order on the wire: one round trip, not one each.
        // Every one settles before the transaction ends, and the first failure rolls it back.
        const settled = await Promise.allSettled(segment.map((each) => applyOpIn(tx, each)));
        const failed = settled.find((result) => result.status === 'rejected');
        if (failed) throw failed.reason;
      } else {
        for (const each of segment) await applyOpIn(tx, each);
      }
    });
    start = end;
  }
}

/** Merges runs of consecutive `logs` ops of one run into one op (order kept). */
function coalesceLogs(ops: readonly RunOp[]): RunOp[] {
  const out: RunOp[] = [];
  for (const op of ops) {
    const last = out[out.length - 1];
    if (op.op === 'logs' && last?.op === 'logs' && last.run_id === op.run_id) {
      out[out.length - 1] = { ...last, rows: [...last.rows, ...op.rows] };
    } else {
      out.push(op);
    }
  }
  return out;
}

/** Applies one record to the RunLog. */
export async function applyOp(db: Db, op: RecordOp): Promise<void> {
  if (op.op === 'sync_job') await syncJobDefinition(db, op.job);
  else await applyOpIn(db, op);
}

/** Applies one record other than a job sync, also inside a transaction. */
export async function applyOpIn(db: Queryable, op: RunOp): Promise<void> {
  switch (op.op) {
    case 'ensure_job':
      await ensureUndeclaredJob(db, op.name);
      return;
    case 'insert_run':
      await insertRun(db, { ...op.run, created_at: revive(op.run.created_at) }, { ...op.event, at: revive(op.event.at) });
      return;
    case 'transition': {
      const patch: RunPatch = { ...op.patch };
      for (const key of ['started_at', 'finished_at', 'heartbeat_at'] as const) {
        if (patch[key]) patch[key] = revive(patch[key]);
      }
      await transitionRun(db, op.run_id, op.from, op.to, patch, { ...op.event, at: revive(op.event.at) });
      return;
    }
    case 'heartbeat':
      await touchHeartbeat(db, op.run_id, revive(op.at));
      return;
    case 'event':
      await insertEvent(db, op.run_id, { ...op.event, at: revive(op.event.at) });
      return;
    case 'logs':
      await insertLogChunks(db, op.run_id, op.rows);
      return;
    case 'log_marker':
      await upsertLogChunk(db, op.run_id, op.row);
      return;
    case 'delete_logs':
      await deleteLogChunks(db, op.run_id, op.from, op.to);
      return;
    case 'log_totals':
      await setLogTotals(db, op.run_id, op.bytes, op.dropped);
      return;
    case 'link_slot':
      await recordStartedSlot(db, op.job, revive(op.scheduled_for), op.run_id);
      return;
  }
}
