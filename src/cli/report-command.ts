// `kubescribe report`: the job health table (success rate, p95 duration, SLA share, streak, last
// failure with its error line) over a window, for the terminal, as Markdown for a ticket, or as the
// API's JSON. Through the API when a server is known, else straight from the RunLog: both compute
// the numbers with src/reports/stats.ts, so they print the same; the table's cells are written by
// src/reports/health-report.ts, which the UI's reports page shares.
import { markdownReport, textReport } from '../reports/health-report.ts';
import { STATS_WINDOWS, type StatsWindow } from '../reports/stats.ts';
import type { ServerFlags } from './api-target.ts';
import type { CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import { json } from './format.ts';
import { withRunSource } from './run-source.ts';

export interface ReportOptions extends ServerFlags {
  job?: string;
  window?: string;
  json?: boolean;
  md?: boolean;
}

/** Checks the options before any server or database is contacted; returns the window. */
export function reportWindow(options: ReportOptions): StatsWindow {
  if (options.json && options.md) throw new UsageError('--json and --md: choose one output');
  const window = options.window ?? '30d';
  if (!(STATS_WINDOWS as readonly string[]).includes(window)) throw new UsageError(`--window ${window}: expected one of ${STATS_WINDOWS.join(', ')}`);
  return window as StatsWindow;
}

/** `kubescribe report [--job J] [--window 30d] [--json|--md]`. */
export async function reportCommand(ctx: CliContext, options: ReportOptions, window: StatsWindow): Promise<number> {
  return withRunSource(ctx, options, async (source) => {
    if (options.job !== undefined) {
      const stats = await source.jobStats(options.job, window);
      ctx.stdout.write(options.json ? json(stats) : options.md ? markdownReport([stats], window) : textReport([stats], window));
      return 0;
    }
    const jobs = await source.allJobStats(window);
    // The API's GET /stats body, whichever source answered.
    if (options.json) ctx.stdout.write(json({ window, jobs }));
    else if (jobs.length === 0) ctx.stdout.write('No jobs in the RunLog yet.\n');
    else ctx.stdout.write(options.md ? markdownReport(jobs, window) : textReport(jobs, window));
    return 0;
  });
}
