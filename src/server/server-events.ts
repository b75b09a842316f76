// Every event the server's background components report, in one typed map (as Graphile Worker's
// WorkerEventMap): the components emit into it, and logServerEvents is the one place that decides
// how each becomes a log line.
import type { FastifyBaseLogger } from 'fastify';
import type { KubeLogEntry } from '../kubernetes/kubernetes-executor.ts';
import type { NotifierEvent } from '../notify/notifier.ts';
import type { ReaperEvent } from '../runs/reaper.ts';
import type { RetrierEvent } from '../runs/retrier.ts';
import type { SchedulerEvent } from '../scheduler/scheduler.ts';
import type { RetentionEvent } from '../runlog/retention.ts';
import { guardListener } from '../util/periodic-loop.ts';

/** The events of each server component, by component. */
export interface ServerEventMap {
  scheduler: SchedulerEvent;
  reaper: ReaperEvent;
  retrier: RetrierEvent;
  notifier: NotifierEvent;
  kubernetes: KubeLogEntry;
  retention: RetentionEvent;
}

export type ServerEventSource = keyof ServerEventMap;

/** A listener of every component's events. */
export type ServerEventListener = <K extends ServerEventSource>(source: K, event: ServerEventMap[K]) => void;

/** The server's one event hub; a listener that throws never reaches the component that emitted. */
export class ServerEvents {
  private readonly listeners: ServerEventListener[] = [];

  /** Adds a listener of every event. */
  on(listener: ServerEventListener): void {
    this.listeners.push(listener);
  }

  /** Delivers one component's event to every listener. */
  emit<K extends ServerEventSource>(source: K, event: ServerEventMap[K]): void {
    for (const listener of this.listeners) guardListener<ServerEventMap[K]>((e) => listener(source, e))(event);
  }

  /** The `onEvent` callback to hand a component. */
  reporter<K extends ServerEventSource>(source: K): (event: ServerEventMap[K]) => void {
    return (event) => this.emit(source, event);
  }
}

type Level = 'info' | 'warn' | 'error';

/** The level, message and fields of one event's log line. */
export function logLine<K extends ServerEventSource>(source: K, event: ServerEventMap[K]): { level: Level; fields: Record<string, unknown>; message: string } {
  const e = event as ServerEventMap[ServerEventSource];
  if (source === 'kubernetes') {
    const entry = e as KubeLogEntry;
    return { level: entry.level, fields: { run_id: entry.run_id, detail: entry.detail }, message: entry.message };
  }
  if ('type' in e && (e.type === 'tick_failed' || e.type === 'pass_failed')) {
    return { level: 'error', fields: { err: e.error }, message: `${source} pass failed` };
  }
  if (source === 'reaper') return { level: 'warn', fields: { reaper: e }, message: (e as Extract<ReaperEvent, { type: 'run_lost' }>).message };
  if (source === 'retrier') {
    const r = e as Exclude<RetrierEvent, { type: 'pass_failed' }>;
    const message = r.type === 'retry_scheduled'
      ? `run ${r.runId} of job ${r.job}: retry ${r.attempt - 1} of ${r.limit} scheduled at ${r.dueAt.toISOString()}`
      : r.type === 'retry_created'
        ? `run ${r.runId} of job ${r.job}: retry created as run ${r.retryRunId} (attempt ${r.attempt})`
        : `run ${r.runId} of job ${r.job}: not retried: ${r.reason}`;
    return { level: 'info', fields: { retrier: r }, message };
  }
  if (source === 'retention') {
    const r = e as Extract<RetentionEvent, { type: 'pruned' }>;
    const parts = [
      r.logs ? `${r.logs.chunks} log chunks (${r.logs.runs} runs now without a stored log)` : null,
      r.notifications ? `${r.notifications.deliveries} notification deliveries, ${r.notifications.attempts} attempts, ${r.notifications.events} events` : null,
    ].filter(Boolean);
    return { level: 'info', fields: { retention: r }, message: `retention pruned ${parts.join('; ')}` };
  }
  if (source === 'notifier') {
    const n = e as NotifierEvent;
    if (n.type === 'attempt' && !n.outcome.ok) return { level: 'warn', fields: { notification: n.outcome }, message: 'notification attempt failed' };
    return { level: 'info', fields: { notification: n }, message: 'notification' };
  }
  return { level: 'info', fields: { scheduler: e }, message: 'scheduler' };
}

/** Writes every server event to the server's log. */
export function logServerEvents(events: ServerEvents, log: FastifyBaseLogger): void {
  events.on((source, event) => {
    const { level, fields, message } = logLine(source, event);
    log[level](fields, message);
  });
}
