// Where the runner's records go: straight into the RunLog (runlog-sink.ts) or through the KubeScribe
// API (api-sink.ts). The Recorder (recorder.ts) owns order, batching, backpressure and the on-disk
// spool; a sink only delivers one batch at a time and says whether a failure means "try again later"
// (unreachable: the records are spooled and replayed) or "never" (rejected: the record is skipped).
import type { EventInput, RunPatch, TransitionResult } from '../runlog/sql/runs.ts';
import type { RunStatus } from '../runlog/types.ts';
import type { RecordOp } from './record-ops.ts';

/** What adoption needs to know about an existing run. */
export interface SinkRun {
  status: RunStatus;
  params: Record<string, unknown>;
}

/**
 * One destination of a runner's records. Every method may throw; `isUnreachable` tells the Recorder
 * whether the error is worth buffering and retrying. Records are idempotent (log chunks by run_id+seq,
 * events by event_id, transitions are compare-and-sets), so a batch that did land before its answer
 * was lost is harmless when sent again.
 */
export interface RecordSink {
  /** For messages: "the RunLog", "the KubeScribe API at http://…". */
  readonly description: string;
  /** Writes the ops in order: one transaction, or one request. */
  apply(ops: RecordOp[]): Promise<void>;
  /** The run's status and params (adopting a queued run), or null when there is no such run. */
  getRun(runId: string): Promise<SinkRun | null>;
  /** The adoption's compare-and-set queued → starting, with its event. */
  adopt(runId: string, patch: RunPatch, event: EventInput): Promise<TransitionResult>;
  /** True when `error` means "not reachable now" rather than "this record is refused". */
  isUnreachable(error: unknown): boolean;
  /**
   * True when `error` means "not yours to write" (an API credential for another run): a spool of
   * another run is then left on disk for someone who may, never dropped.
   */
  isForbidden?(error: unknown): boolean;
  /**
   * False for the spool itself (spool-sink.ts): a runner writing behind leaves earlier runners' spools
   * to the flusher instead of copying them into its own.
   */
  readonly replaysSpools?: boolean;
  close(): Promise<void>;
}

// A batch is what one transaction or request carries. 256 ops of 16 log chunks each is 4,096 chunks;
// 1 MiB keeps a request well under the API's body limit (log text is ~1.1x its size as JSON).
export const BATCH_MAX_OPS = 256;
export const BATCH_MAX_BYTES = 1024 * 1024;

/** The log text an op carries (chunks, not the small marker): what backpressure and batch bounds count. */
export function opBytes(op: RecordOp): number {
  if (op.op === 'logs') {
    let bytes = 0;
    for (const row of op.rows) bytes += row.text.length;
    return bytes;
  }
  return 0;
}
