// `kubescribe report`: the job health table (success rate, p95 duration, SLA share, streak, last
// failure with its error line) over a window, for the terminal, as Markdown for a ticket, or as the
// API's JSON. Through the API when a server is known, else straight from the RunLog: both compute
// the numbers with src/reports/stats.ts, so they print the same.
import { formatDuration } from '../config/durations.ts';
import { STATS_WINDOWS, type JobStats, type StatsWindow } from '../reports/stats.ts';
import type { ServerFlags } from './api-target.ts';
import type { CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import { json, table, when } from './format.ts';
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

/** The health table for the terminal, with the window it covers. */
export function textReport(jobs: JobStats[], window: StatsWindow): string {
  const header = `Job health over the last ${window} (${when(jobs[0]?.from ?? null)} to ${when(jobs[0]?.to ?? null)})\n\n`;
  return header + table(
    ['JOB', 'RUNS', 'SUCCESS', 'P95 DURATION', 'SLA ON TIME', 'STREAK', 'LAST FAILURE'],
    jobs.map((job) => [job.job_name, String(job.runs.total), percent(job.success_rate), seconds(job.duration_seconds.p95), sla(job), streak(job), lastFailure(job)]),
  );
}

/** The health table as Markdown, short enough to paste into a ticket. */
export function markdownReport(jobs: JobStats[], window: StatsWindow): string {
  const cell = (text: string) => text.replaceAll('\\', '\\\\').replaceAll('|', '\\|').replace(/\s*\n\s*/g, ' ');
  const rows = jobs.map((job) => `| ${[job.job_name, String(job.runs.total), percent(job.success_rate), seconds(job.duration_seconds.p95), sla(job), streak(job), lastFailure(job)].map(cell).join(' | ')} |`);
  return [
    `**Job health, last ${window}** (to ${when(jobs[0]?.to ?? null)})`,
    '',
    '| Job | Runs | Success | p95 duration | SLA on time | Streak | Last failure |',
    '|---|---:|---:|---:|---:|---|---|',
    ...rows,
    '',
  ].join('\n');
}

function percent(share: number | null): string {
  return share === null ? '-' : `${(share * 100).toFixed(1)}%`;
}

// Under 10 s a tenth matters (1.4s); above, whole seconds in the config's notation (2m5s).
function seconds(value: number | null): string {
  if (value === null) return '-';
  return value < 10 ? `${value.toFixed(1)}s` : formatDuration(Math.round(value) * 1000);
}

function sla(job: JobStats): string {
  const { on_time, late, missed, on_time_share } = job.sla;
  return on_time_share === null ? '-' : `${percent(on_time_share)} (${on_time}/${on_time + late + missed})`;
}

function streak(job: JobStats): string {
  return job.streak ? `${job.streak.count} ${job.streak.status}` : '-';
}

function lastFailure(job: JobStats): string {
  const failure = job.last_failure;
  if (!failure) return '-';
  return `${job.job_name}#${failure.run_number} ${failure.status} ${when(failure.finished_at)}${failure.error_line ? `: ${failure.error_line}` : ''}`;
}
