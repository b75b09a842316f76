// The jobs page: every job with its schedule in words and next fire time, its last run, a duration
// sparkline of its recent runs, and (scope admin, as the API requires) suspend and resume with a reason.
import { changeJobSchedule, listJobViews } from '../../api/routes/jobs.ts';
import { allJobStats, type JobStats } from '../../reports/stats.ts';
import { listRecentRunsOfJobs, type RecentRun } from '../../runlog/sql/run-queries.ts';
import type { Queryable } from '../../runlog/db.ts';
import { recentSlotOutcomes } from '../../runlog/sql/schedule-slots.ts';
import { flash } from '../flash.ts';
import { formField } from '../form.ts';
import { canDo, requireScope } from '../session.ts';
import { slotView, stripSummary } from '../slot-strip.ts';
import { sparkline } from '../sparkline.ts';
import { staleWhileRevalidate } from '../stats-cache.ts';
import type { UiPageModule } from '../ui-context.ts';
import { UiError } from '../ui-errors.ts';

// Enough bars to see a trend at a glance, few enough that 50 jobs stay one quick indexed read each.
const SPARK_RUNS = 20;
// About a month of a daily schedule, a day of an hourly one: what fits beside the schedule on a laptop.
const STRIP_SLOTS = 24;

// The 7- and 30-day stats of every job, computed together (one time for both windows) and shared
// between requests as src/ui/stats-cache.ts says.

/** Both windows' stats by job, and when they were computed. */
interface JobsPageStats { at: Date; week: Map<string, JobStats>; month: Map<string, JobStats> }

/** The shared stats of the jobs page (see STATS_TTL_MS in src/ui/stats-cache.ts); a failed recomputation is not kept. */
export function statsCache(db: Queryable, clock: () => number = Date.now): () => Promise<JobsPageStats> {
  return staleWhileRevalidate(async (at) => {
    const byJob = (stats: JobStats[]) => new Map(stats.map((row) => [row.job_name, row]));
    const week = byJob(await allJobStats(db, { window: '7d', now: at }));
    const month = byJob(await allJobStats(db, { window: '30d', now: at }));
    return { at, week, month };
  }, clock);
}

/** Success rate and durations of a window, as the page shows them. */
function healthView(stats: JobStats | undefined) {
  if (!stats) return null;
  return {
    successRate: stats.success_rate === null ? null : `${Math.round(stats.success_rate * 1000) / 10}%`,
    p50: stats.duration_seconds.p50 === null ? null : stats.duration_seconds.p50 * 1000,
    p95: stats.duration_seconds.p95 === null ? null : stats.duration_seconds.p95 * 1000,
    judged: stats.runs.succeeded + stats.runs.failed + stats.runs.timed_out + stats.runs.lost,
  };
}
const MAX_REASON = 1000;

/** Rows by their job, in the order given, each mapped by `view`. */
function groupByJob<Row extends { job: string }, View>(rows: readonly Row[], view: (row: Row) => View): Map<string, View[]> {
  const byJob = new Map<string, View[]>();
  for (const row of rows) {
    const list = byJob.get(row.job);
    if (list) list.push(view(row));
    else byJob.set(row.job, [view(row)]);
  }
  return byJob;
}

/** GET /ui/jobs; POST /ui/jobs/:name/suspend and /resume. */
export const jobsPages: UiPageModule = (app, ui) => {
  const stats = statsCache(ui.deps.db);
  app.get('/ui/jobs', { schema: { hide: true } }, async (request, reply) => {
    requireScope(request, 'read');
    // The stats module's definitions (docs/reporting.md#stats), two windows for every job at once.
    const shared = stats();
    // Awaited below; this only keeps a failure from being unhandled when listJobViews fails first.
    shared.catch(() => {});
    const jobs = await listJobViews(ui.deps, null);
    const scheduled = jobs.filter((job) => job.schedule !== null).map((job) => job.name);
    // Two statements on two of the pool's connections at once: one is read while the other runs.
    const [slotRows, runRows, { at: statsAt, week, month }] = await Promise.all([
      recentSlotOutcomes(ui.deps.db, scheduled, STRIP_SLOTS),
      listRecentRunsOfJobs(ui.deps.db, jobs.map((job) => job.name), SPARK_RUNS),
      shared,
    ]);
    const slots = groupByJob(slotRows, slotView);
    // Newest first from the query; the strip reads left to right, oldest to newest.
    for (const strip of slots.values()) strip.reverse();
    const recent = groupByJob(runRows, (run: RecentRun) => run);
    const rows = jobs.map((job) => {
      const runs = recent.get(job.name) ?? [];
      const strip = slots.get(job.name) ?? [];
      return {
        job,
        lastRun: runs[0] ?? null,
        spark: sparkline(runs),
        week: healthView(week.get(job.name)),
        month: healthView(month.get(job.name)),
        strip,
        stripSummary: stripSummary(strip),
      };
    });
    return ui.render(reply, 'jobs', {
      rows,
      statsAt,
      canSuspend: canDo(request, 'admin'),
      canTrigger: canDo(request, 'trigger'),
    }, { title: 'Jobs' });
  });

  for (const action of ['suspend', 'resume'] as const) {
    app.post(`/ui/jobs/:name/${action}`, { schema: { hide: true } }, async (request, reply) => {
      const session = requireScope(request, 'admin');
      const { name } = request.params as { name: string };
      const reason = formField(request.body, 'reason')?.trim() || null;
      if (reason !== null && reason.length > MAX_REASON) throw new UiError(400, 'Reason too long', `The reason is at most ${MAX_REASON} characters.`);
      const result = await changeJobSchedule(ui.deps, name, action, { actor: session.actor, reason }, request.log);
      const executorNote = result.action.executor && !result.action.executor.applied ? ` (${result.action.executor.message})` : '';
      flash(reply, `Job ${name} ${action === 'suspend' ? 'suspended' : 'resumed'}${reason ? `: ${reason}` : ''}${executorNote}.`);
      // From the job's own page (its form says so) back to it; from the jobs page to the job's row.
      const back = formField(request.body, 'back') === 'job' ? `/ui/jobs/${encodeURIComponent(name)}` : `/ui/jobs#job-${name}`;
      return reply.redirect(back, 303);
    });
  }
};
