// The job health table of `kubescribe report` and the UI's reports page: which figures it has and
// how each cell is written, in one place, so the terminal, the Markdown for a ticket and the web
// page say the same thing. The numbers themselves come from src/reports/stats.ts.
import { formatDuration } from '../config/durations.ts';
import { table, when } from '../cli/format.ts';
import type { JobStats, StatsWindow } from './stats.ts';

/** The columns of the health table, as the Markdown and the web page head them. */
export const HEALTH_COLUMNS = ['Job', 'Runs', 'Success', 'p95 duration', 'SLA on time', 'Streak', 'Last failure'] as const;

/** One job's row of the health table, each cell as text. */
export interface HealthCells {
  job: string;
  runs: string;
  success: string;
  p95: string;
  sla: string;
  streak: string;
  lastFailure: string;
}

/** The cells of one job's row: the same text in the terminal, the Markdown and the UI. */
export function healthCells(job: JobStats): HealthCells {
  return {
    job: job.job_name,
    runs: String(job.runs.total),
    success: percent(job.success_rate),
    p95: seconds(job.duration_seconds.p95),
    sla: sla(job),
    streak: streak(job),
    lastFailure: lastFailure(job),
  };
}

const cellList = (cells: HealthCells) => [cells.job, cells.runs, cells.success, cells.p95, cells.sla, cells.streak, cells.lastFailure];

/** The health table for the terminal, with the window it covers. */
export function textReport(jobs: JobStats[], window: StatsWindow): string {
  const header = `Job health over the last ${window} (${when(jobs[0]?.from ?? null)} to ${when(jobs[0]?.to ?? null)})\n\n`;
  return header + table(HEALTH_COLUMNS.map((column) => column.toUpperCase()), jobs.map((job) => cellList(healthCells(job))));
}

/** The health table as Markdown, short enough to paste into a ticket. */
export function markdownReport(jobs: JobStats[], window: StatsWindow): string {
  const cell = (text: string) => text.replaceAll('\\', '\\\\').replaceAll('|', '\\|').replace(/\s*\n\s*/g, ' ');
  const rows = jobs.map((job) => `| ${cellList(healthCells(job)).map(cell).join(' | ')} |`);
  return [
    `**Job health, last ${window}** (to ${when(jobs[0]?.to ?? null)})`,
    '',
    `| ${HEALTH_COLUMNS.join(' | ')} |`,
    '|---|---:|---:|---:|---:|---|---|',
    ...rows,
    '',
  ].join('\n');
}

/** A share as the table writes it: `87.5%`, `-` when there is none. */
export function percent(share: number | null): string {
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
