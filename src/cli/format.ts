import { formatDuration } from '../config/durations.ts';
import { runDurationMs, type RunTimes } from '../runlog/run-duration.ts';

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

/** A run's wall time so far or in total, for people: the API's `duration_ms` when given (so both sources agree), else runDurationMs until now. */
export function runDuration(run: RunTimes & { duration_ms?: number | null }, now: Date = new Date()): string {
  const ms = typeof run.duration_ms === 'number' ? run.duration_ms : runDurationMs(run, now);
  return ms === null ? '-' : formatDuration(ms);
}

// One formatter per zone: building an Intl.DateTimeFormat costs far more than using one.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string | undefined): Intl.DateTimeFormat {
  const key = timeZone ?? '';
  let formatter = formatters.get(key);
  if (!formatter) {
    // A zone this Node does not know (its ICU is older than the config's) falls back to the local one.
    try {
      new Intl.DateTimeFormat('en-US', { timeZone });
    } catch {
      return formatterFor(undefined);
    }
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      timeZoneName: 'longOffset',
    });
    formatters.set(key, formatter);
  }
  return formatter;
}

/**
 * A timestamp to the second with its zone, for people: `2026-12-04 06:00:00 +01:00`, or `… UTC` at
 * offset zero. In `timeZone` (a job's own IANA zone) when given, else in this machine's zone: a time
 * without its zone was read an hour off next to a schedule written in another one.
 */
export function when(value: Date | string | null, timeZone?: string | null): string {
  if (!value) return '-';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  if (timeZone === 'UTC') {
    // The same text without Intl: formatToParts was the jobs page's costliest call (a time for each
    // of ~400 slots and every run, docs/benchmarks.md). ISO has four-digit years only from 1000 to 9999.
    const iso = date.toISOString();
    if (iso.length === 24 && iso[0] !== '0') return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  }
  const parts = Object.fromEntries(formatterFor(timeZone ?? undefined).formatToParts(date).map((part) => [part.type, part.value]));
  // longOffset reads `GMT+01:00`, and `GMT` or `GMT+00:00` at offset zero.
  const offset = /^GMT(?:[+-]00:00)?$/.test(parts.timeZoneName ?? 'GMT') ? 'UTC' : parts.timeZoneName!.replace(/^GMT/, '');
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${offset}`;
}

/** JSON for machines: dates as ISO strings, two-space indent. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}
