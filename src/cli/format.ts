import { formatDuration } from '../config/durations.ts';
import { runDurationMs } from '../runlog/run-duration.ts';
import type { RunRecord } from '../runlog/types.ts';

/** Lays out rows as an aligned plain-text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** A run's wall time so far or in total, for people. */
export function runDuration(run: Pick<RunRecord, 'started_at' | 'finished_at'>, now: Date = new Date()): string {
  const ms = runDurationMs(run, now);
  return ms === null ? '-' : formatDuration(ms);
}

/** A timestamp in local ISO-like form, to the second. */
export function when(value: Date | string | null): string {
  if (!value) return '-';
  const date = new Date(value);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** JSON for machines: dates as ISO strings, two-space indent. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}
