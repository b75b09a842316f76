// The reports page, GET /ui/reports: the health table of every job over a chosen window, with the
// figures and the cells of `kubescribe report` (src/reports/health-report.ts over the stats
// module's numbers), each job linking to its page, and the same table as Markdown to copy into a
// ticket. Every job's stats are shared between requests (src/ui/stats-cache.ts), per window.
import { healthCells, HEALTH_COLUMNS, markdownReport } from '../../reports/health-report.ts';
import { requireScope } from '../session.ts';
import { windowStatsCache } from '../stats-cache.ts';
import type { UiPageModule } from '../ui-context.ts';
import { readWindow, windowLinks, WindowQuery } from '../window-chooser.ts';

/** GET /ui/reports. */
export const reportsPages: UiPageModule = (app, ui) => {
  const stats = windowStatsCache(ui.deps.db);
  app.get('/ui/reports', { schema: { hide: true, querystring: WindowQuery } }, async (request, reply) => {
    requireScope(request, 'read');
    const window = readWindow((request.query as { window?: string }).window);
    const { at, jobs } = await stats(window);
    const rows = jobs.map((job) => {
      const cells = healthCells(job);
      const failure = job.last_failure;
      // The cell's text as the CLI writes it, its run name made a link to the run.
      const runName = failure ? `${job.job_name}#${failure.run_number}` : '';
      return { cells, failure: failure ? { href: `/ui/runs/${failure.run_id}`, runName, rest: cells.lastFailure.slice(runName.length) } : null };
    });
    return ui.render(reply, 'reports', {
      window,
      windows: windowLinks('/ui/reports', window),
      columns: HEALTH_COLUMNS,
      rows,
      markdown: jobs.length > 0 ? markdownReport(jobs, window) : null,
      statsAt: at,
    }, { title: 'Reports' });
  });
};
