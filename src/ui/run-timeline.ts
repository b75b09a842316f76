// A run's audit trail (its run events, src/runlog/run-event.ts) as a timeline a person reads: what
// happened, who did it (and with which token), and the facts worth a glance. Plain data: the
// template escapes every string.
import type { RunEvent } from '../runlog/types.ts';

/** One step of the timeline. */
export interface TimelineEntry {
  at: Date;
  type: string;
  /** What happened, in words. */
  title: string;
  /** Who did it as recorded (`token:ops`, `scheduler@host`, `executor:local@host`), or null. */
  actor: string | null;
  /** The API token's name when a token did it. */
  token: string | null;
  /** A status change: from → to. */
  transition: { from: string | null; to: string } | null;
  /** The facts of the event (reason, idempotency key, pid, error...), as label/value. */
  facts: { label: string; value: string }[];
  /** A run the event points at (a retry, the run that replaced this one, the original). */
  link: { label: string; runId: string } | null;
}

const TITLES: Record<string, string> = {
  created: 'Triggered',
  adopted: 'Adopted by a runner',
  started: 'Started',
  dispatched: 'Dispatched',
  dispatch_failed: 'Dispatch failed',
  reattached: 'Reattached after a server restart',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
  cancel_requested: 'Cancel requested',
  timed_out: 'Timed out',
  timeout_reached: 'Timeout reached',
  lost: 'Lost',
  warning: 'Warning',
  retry_scheduled: 'Retry scheduled',
  retry_created: 'Retried',
  retry_skipped: 'Not retried',
  replaced_by: 'Replaced by a newer run',
  trigger_skipped: 'A trigger was skipped (concurrency policy)',
};

// Facts shown for every event type, in this order; anything else in `detail` follows under its own key.
const FACT_LABELS: [string, string][] = [
  ['trigger', 'trigger'], ['reason', 'reason'], ['idempotency_key', 'idempotency key'], ['attempt', 'attempt'],
  ['concurrency_policy', 'concurrency policy'], ['message', 'message'], ['host', 'host'], ['pid', 'pid'],
  ['executor', 'executor'], ['due_at', 'due'], ['limit', 'retry limit'],
];
// Shown as a link, or not worth a line.
const HIDDEN = new Set(['run_id', 'retry_of', 'replaced_by', 'replaces']);

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The token's name in an actor such as `token:ops`, or null. */
export function tokenOfActor(actor: string | null): string | null {
  return actor?.startsWith('token:') ? actor.slice('token:'.length) : null;
}

/** The title of a `created` event, with how the run was triggered. */
function createdTitle(detail: Record<string, unknown>): string {
  const trigger = typeof detail.trigger === 'string' ? detail.trigger : null;
  if (trigger === 'retry') return 'Triggered as a retry';
  if (trigger === 'schedule') return 'Triggered by its schedule';
  return trigger ? `Triggered (${trigger})` : 'Triggered';
}

/** The run's events as timeline entries, in the order they happened. */
export function buildTimeline(events: readonly RunEvent[]): TimelineEntry[] {
  return events.map((event) => {
    const detail = event.detail ?? {};
    const facts: { label: string; value: string }[] = [];
    for (const [key, label] of FACT_LABELS) {
      if (detail[key] !== undefined && detail[key] !== null && !(event.type === 'created' && key === 'trigger')) facts.push({ label, value: show(detail[key]) });
    }
    for (const [key, value] of Object.entries(detail)) {
      if (value === undefined || value === null || HIDDEN.has(key) || FACT_LABELS.some(([known]) => known === key)) continue;
      facts.push({ label: key.replaceAll('_', ' '), value: show(value) });
    }
    let link: TimelineEntry['link'] = null;
    if (typeof detail.retry_of === 'string') link = { label: 'retry of', runId: detail.retry_of };
    else if (event.type === 'retry_created' && typeof detail.run_id === 'string') link = { label: 'retry', runId: detail.run_id };
    else if (event.type === 'replaced_by' && typeof detail.run_id === 'string') link = { label: 'replaced by', runId: detail.run_id };
    else if (typeof detail.replaced_by === 'string') link = { label: 'replaced by', runId: detail.replaced_by };
    return {
      at: new Date(event.at),
      type: event.type,
      title: event.type === 'created' ? createdTitle(detail) : TITLES[event.type] ?? event.type.replaceAll('_', ' '),
      actor: event.actor,
      token: tokenOfActor(event.actor),
      transition: event.to_status ? { from: event.from_status, to: event.to_status } : null,
      facts,
      link,
    };
  });
}
