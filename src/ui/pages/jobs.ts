// The jobs page: every job with its schedule in words and next fire time, its last run, a duration
// sparkline of its recent runs, and (scope admin, as the API requires) suspend and resume with a reason.
import { changeJobSchedule, listJobViews } from '../../api/routes/jobs.ts';
import { listRuns } from '../../runlog/sql/run-queries.ts';
import { flash } from '../flash.ts';
import { formField } from '../form.ts';
import { canDo, requireScope } from '../session.ts';
import { sparkline } from '../sparkline.ts';
import type { UiPageModule } from '../ui-context.ts';
import { UiError } from '../ui-errors.ts';

// Enough bars to see a trend at a glance, few enough that 50 jobs stay one quick indexed read each.
const SPARK_RUNS = 20;
const MAX_REASON = 1000;

/** GET /ui/jobs; POST /ui/jobs/:name/suspend and /resume. */
export const jobsPages: UiPageModule = (app, ui) => {
  app.get('/ui/jobs', { schema: { hide: true } }, async (request, reply) => {
    requireScope(request, 'read');
    const jobs = await listJobViews(ui.deps, null);
    const rows = await Promise.all(jobs.map(async (job) => {
      const recent = await listRuns(ui.deps.db, { job: job.name, limit: SPARK_RUNS });
      return { job, lastRun: recent[0] ?? null, spark: sparkline(recent) };
    }));
    return ui.render(reply, 'jobs', {
      rows,
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
      return reply.redirect(`/ui/jobs#job-${name}`, 303);
    });
  }
};
