// The /metrics exposition: a prom-client Registry built per scrape from the metrics snapshot (read
// from the RunLog, so every replica reports the same values). Loaded by the metrics route at its
// first scrape only: neither the CLI nor the runner nor a server nobody scrapes loads prom-client.
//
// Names follow kube-state-metrics' meanings so its alert rules translate; labels are bounded (job
// name, status, trigger, executor, outcome, channel, result): never a run id, and `job_name` rather
// than `job`, which Prometheus sets to the scrape target's job.
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { HistogramSnapshot, MetricsSnapshot } from './metrics-snapshot.ts';
import { TERMINAL_STATUSES } from '../runlog/types.ts';

/** What /metrics shows besides the snapshot: from the config and from this process. */
export interface MetricsExtras {
  /** The longest gap between two slots of each scheduled job's schedule (src/scheduler/schedule-interval.ts). */
  scheduleIntervals: Array<{ job_name: string; seconds: number }>;
  /** POST /runs/trigger durations handled by this process, by status class. */
  triggerDurations: Array<{ code: string } & HistogramSnapshot>;
}

// The ledger's `expected` is a slot waiting for its time, not an outcome: a slot leaves it when it
// fires, so a counter of it would go down.
const SLOT_OUTCOMES = new Set(['started', 'skipped', 'missed']);

/** The Prometheus text exposition of `snapshot`, and its content type. */
export async function renderMetrics(snapshot: MetricsSnapshot, extras: MetricsExtras): Promise<{ contentType: string; body: string }> {
  const registry = new Registry();
  const on = { registers: [registry] };

  const runs = new Counter({ ...on, name: 'kubescribe_runs_total', help: 'Finished runs, all time, by job, final status, trigger and executor (from the RunLog; never resets).', labelNames: ['job_name', 'status', 'trigger', 'executor'] });
  for (const row of snapshot.runsTotal) runs.inc({ job_name: row.job_name, status: row.status, trigger: row.trigger, executor: row.executor }, row.count);

  histogram(registry, 'kubescribe_run_duration_seconds', 'Wall time of finished runs that started (finished_at - started_at), all time, by job.',
    snapshot.runDurations.map(({ job_name, ...h }) => ({ labels: { job_name }, h })));

  const active = new Gauge({ ...on, name: 'kubescribe_runs_active', help: 'Runs starting or running now, by job and executor.', labelNames: ['job_name', 'executor'] });
  for (const row of snapshot.runsActive) active.set({ job_name: row.job_name, executor: row.executor }, row.count);

  // Every job gets a queued series, 0 when nothing waits, so a graph or rule sees the queue empty out.
  const queued = new Gauge({ ...on, name: 'kubescribe_runs_queued', help: 'Runs queued now (waiting for the executor), by job.', labelNames: ['job_name'] });
  const queuedByJob = new Map(snapshot.runsQueued.map((row) => [row.job_name, row.count]));
  for (const job of new Set([...snapshot.jobs.map((j) => j.job_name), ...queuedByJob.keys()])) queued.set({ job_name: job }, queuedByJob.get(job) ?? 0);

  const lastStatus = new Gauge({ ...on, name: 'kubescribe_job_last_run_status', help: 'The status of the job\'s last finished run: 1 for that status, 0 for the others (a later run replaces it, so a failure clears on the next success).', labelNames: ['job_name', 'status'] });
  const lastSuccess = new Gauge({ ...on, name: 'kubescribe_job_last_success_timestamp_seconds', help: 'When the job\'s last successful run finished (Unix seconds); absent until it first succeeds.', labelNames: ['job_name'] });
  const nextSchedule = new Gauge({ ...on, name: 'kubescribe_job_next_schedule_timestamp_seconds', help: 'The next fire time of the job\'s schedule (Unix seconds); absent without a schedule or while suspended.', labelNames: ['job_name'] });
  const suspended = new Gauge({ ...on, name: 'kubescribe_job_suspended', help: '1 while the job\'s schedule is suspended, else 0.', labelNames: ['job_name'] });
  for (const job of snapshot.jobs) {
    const labels = { job_name: job.job_name };
    if (job.last_run_status !== null) {
      for (const status of TERMINAL_STATUSES) lastStatus.set({ ...labels, status }, status === job.last_run_status ? 1 : 0);
    }
    if (job.last_success_at) lastSuccess.set(labels, seconds(job.last_success_at));
    if (job.next_schedule_at) nextSchedule.set(labels, seconds(job.next_schedule_at));
    suspended.set(labels, job.suspended ? 1 : 0);
  }

  const interval = new Gauge({ ...on, name: 'kubescribe_job_schedule_interval_seconds', help: 'The longest gap between two slots of the job\'s schedule (from the config): how long a healthy job may go without a success, before grace.', labelNames: ['job_name'] });
  for (const row of extras.scheduleIntervals) interval.set({ job_name: row.job_name }, row.seconds);

  const slots = new Counter({ ...on, name: 'kubescribe_schedule_slots_total', help: 'Schedule slots, all time, by job and outcome: started (a run was created), skipped (suspended, or the concurrency policy), missed (not fired in time).', labelNames: ['job_name', 'outcome'] });
  for (const row of snapshot.scheduleSlots) if (SLOT_OUTCOMES.has(row.outcome)) slots.inc({ job_name: row.job_name, outcome: row.outcome }, row.count);

  const notifications = new Counter({ ...on, name: 'kubescribe_notifications_total', help: 'Notification deliveries, all time, by channel and final result (sent, failed, suppressed).', labelNames: ['channel', 'result'] });
  for (const row of snapshot.notifications) notifications.inc({ channel: row.channel, result: row.result }, row.count);

  histogram(registry, 'kubescribe_trigger_duration_seconds', 'Time to answer POST /runs/trigger, by status class. Per process: counted by this API replica since it started (sum over replicas; resets on restart).',
    extras.triggerDurations.map(({ code, ...h }) => ({ labels: { code }, h })));

  histogram(registry, 'kubescribe_scheduler_fire_lag_seconds', 'How late the scheduler recorded each slot\'s run after its scheduled time, all time, over every job (from the RunLog).',
    [{ labels: {}, h: snapshot.schedulerFireLag }]);

  return { contentType: registry.contentType, body: await registry.metrics() };
}

function seconds(date: Date): number {
  return date.getTime() / 1000;
}

/**
 * A histogram whose buckets are already counted (the RunLog's totals): prom-client's Histogram only
 * observes values one by one, so this registers a collector that prints the counts as they are.
 */
function histogram(registry: Registry, name: string, help: string, series: Array<{ labels: Record<string, string>; h: HistogramSnapshot }>): void {
  const values = series.flatMap(({ labels, h }) => [
    ...h.buckets.map((bucket) => ({ metricName: `${name}_bucket`, labels: { ...labels, le: bucket.le === Number.POSITIVE_INFINITY ? '+Inf' : bucket.le }, value: bucket.count })),
    { metricName: `${name}_sum`, labels, value: h.sum },
    { metricName: `${name}_count`, labels, value: h.count },
  ]);
  const metric = { name, help, type: 'histogram', get: async () => ({ name, help, type: 'histogram', aggregator: 'sum', values }) };
  registry.registerMetric(metric as unknown as Metric);
}
