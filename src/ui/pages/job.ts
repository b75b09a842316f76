// The job page, GET /ui/jobs/<name>: the job's definition (schedule in words and cron, zone, next
// fire times, suspended, declared, executor, timeout, retries), a stats panel over a chosen window
// (the stats module's figures, docs/reporting.md#stats: runs by status, success rate, duration
// percentiles, streak, last success and failure, MTBF, queue wait, the SLA with its slot strip, and
// runs per day as an inline SVG chart), its recent runs (the runs page's rows, live ones updated by
// the runs page's stream) and the jobs page's actions where the scope allows.
import { listJobViews } from '../../api/routes/jobs.ts';
import { listRunPage } from '../../api/routes/runs-read.ts';
import { jobNameProblem } from '../../config/job-name.ts';
import { percent } from '../../reports/health-report.ts';
import { jobStats, windowRange, type JobStats } from '../../reports/stats.ts';
import { recentSlotOutcomes } from '../../runlog/sql/schedule-slots.ts';
import { RUN_STATUSES } from '../../runlog/types.ts';
import { runsChart } from '../bar-chart.ts';
import { formatMs, isLive } from '../format.ts';
import { canDo, requireScope } from '../session.ts';
import { slotView, stripSummary } from '../slot-strip.ts';
import type { UiPageModule } from '../ui-context.ts';
import { UiError } from '../ui-errors.ts';
import { readWindow, windowLinks, WindowQuery } from '../window-chooser.ts';

// What fits under the SLA figures on a laptop: two months of a daily schedule, two days of an hourly one.
const STRIP_SLOTS = 60;
const RECENT_RUNS = 10;

// Loose on purpose: the handler says what is wrong with a name in words (a JSON Schema error would
// say "must match pattern"); the limit only keeps a huge URL from being read.
const NameParams = { type: 'object', properties: { name: { type: 'string', maxLength: 2000 } }, required: ['name'] } as const;

/** The stats panel's figures as the page writes them; null when the RunLog has no such job yet. */
function statsView(stats: JobStats | null) {
  if (!stats) return null;
  const ms = (seconds: number | null) => formatMs(seconds === null ? null : seconds * 1000);
  const { on_time, late, missed, skipped, on_time_share } = stats.sla;
  return {
    byStatus: RUN_STATUSES.filter((status) => stats.runs[status] > 0).map((status) => ({ status, count: stats.runs[status] })),
    total: stats.runs.total,
    successRate: percent(stats.success_rate),
    durations: { p50: ms(stats.duration_seconds.p50), p95: ms(stats.duration_seconds.p95), p99: ms(stats.duration_seconds.p99), max: ms(stats.duration_seconds.max) },
    queueWaitP95: ms(stats.queue_wait_seconds.p95),
    streak: stats.streak ? `${stats.streak.count} ${stats.streak.status.replace('_', ' ')}` : '-',
    lastSuccessAt: stats.last_success_at,
    lastFailure: stats.last_failure,
    mtbf: ms(stats.mtbf_seconds),
    sla: { on_time, late, missed, skipped, share: percent(on_time_share), judged: on_time + late + missed },
  };
}

/** GET /ui/jobs/:name. */
export const jobPages: UiPageModule = (app, ui) => {
  app.get('/ui/jobs/:name', { schema: { hide: true, params: NameParams, querystring: WindowQuery } }, async (request, reply) => {
    requireScope(request, 'read');
    const { name } = request.params as { name: string };
    const problem = jobNameProblem(name);
    // Not a name any job can have: said before the RunLog is asked (it would refuse a NUL byte).
    if (problem) throw new UiError(404, 'No such job', `There is no such job: ${problem}.`);
    const window = readWindow((request.query as { window?: string }).window);
    const [job] = await listJobViews(ui.deps, name);
    if (!job) throw new UiError(404, 'No such job', `There is no job ${name}: it is neither in this server's configuration nor in the RunLog.`);
    const now = new Date();
    const bucket = window === '24h' ? '1h' : '1d';
    const stats = await jobStats(ui.deps.db, name, { window, bucket, now });
    const { from } = windowRange(window, now);
    // The strip shows the window's newest slots only: older ones are not in the figures beside it.
    const slots = job.schedule !== null || stats !== null
      ? (await recentSlotOutcomes(ui.deps.db, [name], STRIP_SLOTS)).filter((slot) => new Date(slot.scheduled_for) >= from).map(slotView).reverse()
      : [];
    const { runs } = await listRunPage(ui.deps.db, { job: name, limit: RECENT_RUNS });
    const liveIds = runs.filter((run) => isLive(run.status)).map((run) => run.run_id);
    const definition = ui.deps.config.jobs.get(name);
    return ui.render(reply, 'job', {
      job,
      runCss: ui.assetUrl('run.css'),
      definition: definition
        ? {
            executor: ui.deps.executor.name,
            command: definition.command,
            image: definition.image ?? null,
            timeout: definition.timeout_ms === undefined ? null : formatMs(definition.timeout_ms),
            retries: definition.retries.limit,
            backoff: formatMs(definition.retries.backoff_ms),
            concurrency: definition.concurrency_policy,
          }
        : null,
      window,
      windows: windowLinks(`/ui/jobs/${encodeURIComponent(name)}`, window),
      stats: statsView(stats),
      statsRange: stats ? { from: stats.from, to: stats.to } : null,
      chart: stats?.buckets ? runsChart(stats.buckets, bucket) : null,
      strip: slots,
      stripSummary: stripSummary(slots),
      runs,
      live: liveIds.length > 0 ? `/ui/runs/live?${new URLSearchParams({ job: name, ids: liveIds.join(',') })}` : null,
      canSuspend: canDo(request, 'admin'),
      canTrigger: canDo(request, 'trigger'),
    }, { title: `Job ${name}` });
  });
};
