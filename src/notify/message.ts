// The notification message: one documented JSON shape (schema version 1) that the webhook sends as
// is and the email and Slack channels render. Built at send time from the RunLog, so it carries the
// run's complete log tail; never the job's env values.
import type { KubescribeConfig } from '../config/job-definition.ts';
import { formatDuration } from '../config/durations.ts';
import type { Queryable } from '../runlog/db.ts';
import { type ClaimedDelivery } from '../runlog/sql/notification-deliveries.ts';
import { readLogTail } from '../runlog/sql/run-logs.ts';
import { runDurationMs } from '../runlog/run-duration.ts';
import { getRun } from '../runlog/sql/runs.ts';
import type { RunRecord } from '../runlog/types.ts';
import { isoOrNull } from '../util/iso.ts';

export const MESSAGE_SCHEMA_VERSION = 1;
const LOG_TAIL_LINES = 20;
const MAX_LINE_CHARS = 300;

/** The run part of a message. */
export interface MessageRun {
  run_id: string;
  status: string;
  trigger: string;
  triggered_by: string | null;
  attempt: number;
  params: Record<string, unknown>;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  exit_code: number | null;
  /** For a Python traceback, `type` and `message` are the exception line. */
  error: { type: string; message: string | null; summary: string } | null;
  metrics: Record<string, number>;
  log_tail: string[];
}

/** What every channel sends (docs/notifications.md#message). */
export interface NotificationMessage {
  schema_version: typeof MESSAGE_SCHEMA_VERSION;
  /** Unique per delivery: receivers may drop a repeat of an id they have seen. */
  id: string;
  /** failed, timed_out, lost, recovered, succeeded, missed, late, abnormal, or test. */
  event: string;
  title: string;
  /** "failed 5 times in a row since 09:00" when this message stands for several events. */
  summary: string | null;
  job: string;
  run: MessageRun | null;
  /** The schedule slot, for `missed`. */
  scheduled_for: string | null;
  /** Specifics: late {expected_duration_ms, running_ms}, abnormal {findings}, missed {reason}. */
  detail: Record<string, unknown>;
  links: { api: string | null; ui: string | null };
  occurred_at: string;
}

/** Builds the message of a claimed delivery. */
export async function buildMessage(db: Queryable, delivery: ClaimedDelivery, config: KubescribeConfig, publicUrl: string | null): Promise<NotificationMessage> {
  const record = delivery.run_id ? await getRun(db, delivery.run_id) : null;
  const secrets = Object.values(config.jobs.get(delivery.job)?.env ?? {});
  const run = record ? await messageRun(db, record, secrets) : null;
  return {
    schema_version: MESSAGE_SCHEMA_VERSION,
    id: String(delivery.delivery_id),
    event: delivery.rule,
    title: titleOf(delivery.rule, delivery.job, run, delivery.detail, delivery.scheduled_for),
    summary: delivery.summary,
    job: delivery.job,
    run,
    scheduled_for: isoOrNull(delivery.scheduled_for),
    detail: delivery.detail ?? {},
    links: runLinks(publicUrl, delivery.run_id),
    occurred_at: new Date().toISOString(),
  };
}

/** Links to a run in the API and the UI: absolute with a public URL, else paths on the server. */
export function runLinks(publicUrl: string | null, runId: string | null): NotificationMessage['links'] {
  if (!runId) return { api: null, ui: null };
  const base = publicUrl ?? '';
  return { api: `${base}/runs/${runId}`, ui: `${base}/ui/runs/${runId}` };
}

// Env values are the only secrets a job declares; a script that prints one must not mail it around.
function redact(line: string, secrets: string[]): string {
  let out = line;
  for (const secret of secrets) if (secret.length >= 6) out = out.split(secret).join('***');
  return out.length > MAX_LINE_CHARS ? `${out.slice(0, MAX_LINE_CHARS)}…` : out;
}

async function messageRun(db: Queryable, run: RunRecord, secrets: string[]): Promise<MessageRun> {
  const tail = await readLogTail(db, run.run_id, LOG_TAIL_LINES);
  const error = run.error_type
    ? {
        type: run.error_type,
        message: run.error_message,
        summary: redact(run.error_message ? `${run.error_type}: ${run.error_message.split('\n')[0]}` : run.error_type, secrets),
      }
    : null;
  return {
    run_id: run.run_id,
    status: run.status,
    trigger: run.trigger,
    triggered_by: run.triggered_by,
    attempt: run.attempt,
    params: run.params ?? {},
    created_at: new Date(run.created_at).toISOString(),
    started_at: isoOrNull(run.started_at),
    finished_at: isoOrNull(run.finished_at),
    duration_ms: runDurationMs(run),
    exit_code: run.exit_code,
    error: error && { ...error, message: error.message === null ? null : redact(error.message, secrets) },
    metrics: run.metrics ?? {},
    log_tail: tail.map((line) => redact(line, secrets)),
  };
}

function titleOf(rule: string, job: string, run: MessageRun | null, detail: Record<string, unknown>, scheduledFor: Date | null): string {
  const error = run?.error ? `: ${run.error.summary}` : '';
  const ms = (key: string) => (typeof detail[key] === 'number' ? formatDuration(detail[key] as number) : '?');
  switch (rule) {
    case 'failed': return `${job} failed${error}`;
    case 'timed_out': return `${job} timed out${run?.duration_ms != null ? ` after ${formatDuration(run.duration_ms)}` : ''}`;
    case 'lost': return `${job} lost: its runner stopped sending heartbeats`;
    case 'recovered': return `${job} recovered`;
    case 'succeeded': return `${job} succeeded`;
    case 'late': return `${job} is late: running for ${ms('running_ms')}, expected ${ms('expected_duration_ms')}`;
    case 'missed': return `${job} missed its scheduled run of ${scheduledFor ? new Date(scheduledFor).toISOString() : '?'}`;
    case 'abnormal': {
      const findings = (detail.findings ?? []) as { metric: string; description: string }[];
      return `${job} finished abnormally: ${findings.map((f) => f.description).join('; ') || 'outside its usual range'}`;
    }
    default: return `${job}: ${rule}`;
  }
}
