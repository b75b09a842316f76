/** Run lifecycle states (DESIGN.md): queued → starting → running → one terminal state. */
export const RUN_STATUSES = ['queued', 'starting', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'lost'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

// The status sets, defined once here and passed to SQL as parameters (`status = ANY($n)`), so that no
// query or module spells one out again. Migrations that already ran keep their literals: they are
// forward-only history, not code to keep in step.
/** States a run never leaves. */
export const TERMINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'];
/** Not finished yet: queued, or started and not ended. */
export const LIVE_STATUSES: readonly RunStatus[] = ['queued', 'starting', 'running'];
/** A runner (or pod) has it: it heartbeats and may be lost. */
export const STARTED_STATUSES: readonly RunStatus[] = ['starting', 'running'];
/** Outcomes that count as a failure (alerts, a job's failing streak, retries). */
export const FAILING_STATUSES: readonly RunStatus[] = ['failed', 'timed_out', 'lost'];
/** Outcomes that feed the notification outbox (cancelled is left out: someone chose it). */
export const NOTIFIED_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'timed_out', 'lost'];

export const TRIGGERS = ['schedule', 'manual', 'api', 'retry', 'chain'] as const;
export type Trigger = (typeof TRIGGERS)[number];

/** True for a state a run never leaves. */
export function isTerminal(status: RunStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** One row of `runs`, as the API and the CLI show it (snake_case, like the SQL). */
export interface RunRecord {
  run_id: string;
  job: string;
  /** Per-job number, assigned at insert (`report#42`): unique within the job, never reused. */
  run_number: number;
  job_revision: number | null;
  trigger: Trigger;
  triggered_by: string | null;
  params: Record<string, unknown>;
  status: RunStatus;
  attempt: number;
  retry_of: string | null;
  executor: string;
  executor_ref: Record<string, unknown>;
  image: string | null;
  command: string[] | null;
  tenant: string | null;
  labels: Record<string, string>;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  heartbeat_at: Date | null;
  exit_code: number | null;
  signal: string | null;
  error_type: string | null;
  error_message: string | null;
  error_tail: string | null;
  outputs: Record<string, unknown>;
  metrics: Record<string, number>;
  idempotency_key: string | null;
  log_bytes: number;
  log_dropped_bytes: number;
}

export type LogStream = 'stdout' | 'stderr' | 'system';

/** One stored chunk of a run's output. */
export interface LogChunk {
  seq: number;
  stream: LogStream;
  at: Date;
  text: string;
}

/** One row of the append-only audit trail. */
export interface RunEvent {
  event_id: string;
  run_id: string;
  at: Date;
  type: string;
  from_status: RunStatus | null;
  to_status: RunStatus | null;
  actor: string | null;
  detail: Record<string, unknown>;
}
