// The human-readable parts of a message, shared by the email and Slack renderings.
import { formatDuration } from '../config/durations.ts';
import type { NotificationMessage } from './message.ts';

/** Label/value pairs in reading order: job, status, run, trigger, duration, params, … */
export function messageFields(message: NotificationMessage): [string, string][] {
  const fields: [string, string][] = [['Job', message.job]];
  const run = message.run;
  if (run) {
    fields.push(['Status', run.status]);
    fields.push(['Run', run.run_id]);
    fields.push(['Trigger', `${run.trigger}${run.triggered_by ? ` by ${run.triggered_by}` : ''}${run.attempt > 1 ? ` (attempt ${run.attempt})` : ''}`]);
    fields.push(['Duration', run.duration_ms === null ? '-' : formatDuration(run.duration_ms)]);
    if (run.exit_code !== null) fields.push(['Exit code', String(run.exit_code)]);
    fields.push(['Params', JSON.stringify(run.params)]);
    if (Object.keys(run.metrics).length) fields.push(['Metrics', JSON.stringify(run.metrics)]);
  }
  if (message.scheduled_for) fields.push(['Scheduled for', message.scheduled_for]);
  if (typeof message.detail.reason === 'string') fields.push(['Reason', message.detail.reason]);
  if (message.summary) fields.push(['Summary', message.summary]);
  return fields;
}
