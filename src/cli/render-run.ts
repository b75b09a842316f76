import type { RunEvent, RunRecord } from '../runlog/types.ts';
import { table, when } from './format.ts';

type Loose<T> = { [K in keyof T]: T[K] extends Date | null ? Date | string | null : T[K] extends Date ? Date | string : T[K] };

/** A run as either the RunLog (Dates) or the API (ISO strings) gives it. */
export type RenderableRun = Loose<RunRecord>;
/** A run event from either source. */
export type RenderableEvent = Loose<RunEvent>;
/** A notification delivery about the run, from either source. */
export interface RenderableNotification {
  channel: string;
  rule: string;
  state: string;
  reason: string | null;
  summary: string | null;
  attempts: { attempt: number; finished_at: Date | string; ok: boolean; error: string | null }[];
}

/** A run's automatic retry (the API's RunRetry), from either source. */
export interface RenderableRetry {
  state: 'pending' | 'scheduled' | 'created' | 'skipped';
  attempt: number | null;
  limit: number | null;
  due_at: Date | string | null;
  retry_run_id: string | null;
  reason: string | null;
}

/**
 * What became of a failing run's retry, for people: "retry 1 of 2 scheduled at 2026-12-04 12:03:05 UTC",
 * "retry 1 of 2 is run <id>", "not retried: <reason>", or "retry not decided yet".
 */
export function describeRetry(retry: RenderableRetry): string {
  const which = `retry ${(retry.attempt ?? 2) - 1} of ${retry.limit ?? '?'}`;
  switch (retry.state) {
    case 'scheduled':
      return `${which} scheduled at ${when(retry.due_at)}`;
    case 'created':
      return `${which} is run ${retry.retry_run_id}`;
    case 'skipped':
      return `not retried: ${retry.reason ?? 'no reason recorded'}`;
    default:
      return 'retry not decided yet';
  }
}

/** `kubescribe runs show` layout, the same whether the run came from the RunLog or the API. */
export function renderRun(run: RenderableRun & { notifications?: RenderableNotification[]; retry?: RenderableRetry | null }, events: RenderableEvent[], duration: string): string {
  const fields: [string, string][] = [
    ['run', `${run.job}#${run.run_number}`],
    ['run_id', run.run_id],
    ['job', `${run.job}${run.job_revision ? ` (revision ${run.job_revision})` : ''}`],
    ['status', run.status],
    ['trigger', `${run.trigger}${run.triggered_by ? ` by ${run.triggered_by}` : ''}`],
    ['attempt', String(run.attempt) + (run.retry_of ? ` (retry of ${run.retry_of})` : '')],
    ['command', run.command ? run.command.join(' ') : '-'],
    ['params', JSON.stringify(run.params)],
    ['executor', `${run.executor} ${JSON.stringify(run.executor_ref)}`],
    ['created_at', when(run.created_at)],
    ['started_at', when(run.started_at)],
    ['finished_at', when(run.finished_at)],
    ['duration', duration],
    ['heartbeat_at', when(run.heartbeat_at)],
    ['exit_code', run.exit_code === null ? '-' : String(run.exit_code)],
    ['signal', run.signal ?? '-'],
    ['metrics', JSON.stringify(run.metrics)],
    ['outputs', JSON.stringify(run.outputs)],
    ['log', `${run.log_bytes} bytes${run.log_dropped_bytes ? `, ${run.log_dropped_bytes} dropped by the cap` : ''}`],
  ];
  if (run.error_type) fields.push(['error', `${run.error_type}: ${run.error_message ?? ''}`]);
  if (run.retry) fields.push(['retry', describeRetry(run.retry)]);
  const width = Math.max(...fields.map(([name]) => name.length));
  let out = fields.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n') + '\n';
  if (run.error_tail) out += `\n${run.error_tail.replace(/\n?$/, '\n')}`;
  if (run.notifications?.length) out += `\nnotifications:\n${renderNotifications(run.notifications)}`;
  return (
    out +
    '\nevents:\n' +
    table(
      ['AT', 'TYPE', 'TRANSITION', 'ACTOR', 'DETAIL'],
      events.map((ev) => [
        when(ev.at),
        ev.type,
        ev.to_status ? `${ev.from_status ?? '∅'} → ${ev.to_status}` : '',
        ev.actor ?? '',
        Object.keys(ev.detail ?? {}).length ? JSON.stringify(ev.detail) : '',
      ]),
    )
  );
}

function renderNotifications(notifications: RenderableNotification[]): string {
  return table(
    ['CHANNEL', 'RULE', 'STATE', 'ATTEMPTS', 'LAST ATTEMPT', 'DETAIL'],
    notifications.map((n) => {
      const last = n.attempts[n.attempts.length - 1];
      return [
        n.channel,
        n.rule,
        n.state,
        String(n.attempts.length),
        last ? `${when(last.finished_at)} ${last.ok ? 'ok' : 'error'}` : '-',
        [n.summary, last && !last.ok ? last.error : n.reason].filter(Boolean).join('; '),
      ];
    }),
  );
}
