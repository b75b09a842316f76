// How the UI shows times, durations, statuses and run names: one place, used by every page.
import { formatDuration } from '../config/durations.ts';
import { when } from '../cli/format.ts';
import { runDurationMs, type RunTimes } from '../runlog/run-duration.ts';
import { runLabel } from '../runlog/run-ref.ts';
import { LIVE_STATUSES, type RunStatus } from '../runlog/types.ts';

/** A time as the pages show it: `2026-12-04 14:03 UTC`, or in another zone with its offset. */
export function formatTime(value: Date | string | null, timeZone: string = 'UTC'): string {
  if (value === null) return '-';
  // The CLI's formatter (seconds, zone); pages show minutes, which is what a person compares.
  return when(value, timeZone).replace(/^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}):\d{2}/, '$1');
}

/** The ISO form for `<time datetime>`, which the viewer's-zone script reads. */
export function isoTime(value: Date | string | null): string {
  return value === null ? '' : new Date(value).toISOString();
}

/** A run's duration (so far, for a live run), e.g. `1.8s` or `1m30s`; `-` when it never started. */
export function formatRunDuration(run: RunTimes, now: Date = new Date()): string {
  return formatMs(runDurationMs(run, now));
}

/**
 * Milliseconds for a person: `450ms`, `1.8s` under a minute (a tenth of a second is what tells two
 * runs apart), then the config's notation to the second (`1m30s`, `2h5m`); `-` for null.
 */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')}s`;
  return formatDuration(Math.round(ms / 1000) * 1000);
}

// Each status has a colour (the CSS class) and a symbol, and its text is always shown: colour alone
// says nothing to a colour-blind reader or a screen reader.
const STATUS_SYMBOLS: Record<RunStatus, string> = {
  queued: '◷',
  starting: '▷',
  running: '▶',
  succeeded: '✓',
  failed: '✗',
  cancelled: '⊘',
  timed_out: '⌛',
  lost: '?',
};

/** What a status badge shows: its CSS class, its symbol and its words. */
export function statusBadge(status: string): { className: string; symbol: string; text: string } {
  const known = Object.hasOwn(STATUS_SYMBOLS, status);
  return {
    className: `status status-${known ? status : 'unknown'}`,
    symbol: known ? STATUS_SYMBOLS[status as RunStatus] : '•',
    text: status.replace('_', ' '),
  };
}

/** True while a run is not finished: its row keeps updating. */
export function isLive(status: string): boolean {
  return (LIVE_STATUSES as readonly string[]).includes(status);
}

/** `job#42`: how every page names a run. */
export function runName(run: { job: string; run_number: number }): string {
  return runLabel(run);
}

/** The run page's URL (ui-run's page): by id, which is what alerts link to. */
export function runUrl(run: { run_id: string }): string {
  return `/ui/runs/${run.run_id}`;
}

/** Formatting helpers as templates see them (`it.fmt`). */
export const fmt = { formatTime, isoTime, formatRunDuration, formatMs, statusBadge, isLive, runName, runUrl };
export type Fmt = typeof fmt;
