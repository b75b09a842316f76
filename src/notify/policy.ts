// The pure parts of the notification rules: which rule an event falls under, whether it repeats the
// last state, quiet hours and maintenance windows, and the "failed 5 times since 09:00" summary.
import { Cron } from 'croner';
import type { MaintenanceWindow, QuietHours } from '../config/notify-config.ts';
import type { EventKind } from '../runlog/sql/notification-events.ts';
import { FAILING_STATUSES } from '../runlog/types.ts';

export const FAILING: ReadonlySet<string> = new Set(FAILING_STATUSES);

/** The rule (a `notify.on` event name) of an event, given the job's previous run outcome. */
export function ruleOf(kind: EventKind, previous: string | null): string {
  if (kind === 'succeeded') return previous !== null && FAILING.has(previous) ? 'recovered' : 'succeeded';
  return kind;
}

/** Rules that throttle together: a timeout after a failure is still the same broken job. */
export function ruleFamily(rule: string): string[] {
  return FAILING.has(rule) ? [...FAILING] : [rule];
}

/**
 * True when the event only repeats what was already said: a failure after a failure, or another
 * missed slot, late run or abnormal run. A first failure and a recovery are state changes, never repeats.
 */
export function isRepeat(rule: string, previous: string | null): boolean {
  if (FAILING.has(rule)) return previous !== null && FAILING.has(previous);
  return rule === 'missed' || rule === 'late' || rule === 'abnormal';
}

/** Hours and minutes of `at` on the wall clock of `zone`. */
function clockMinutes(at: Date, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return get('hour') * 60 + get('minute');
}

/** When the quiet hours that contain `at` end, or null when `at` is outside them. */
export function quietUntil(at: Date, quiet: QuietHours | null, zone: string): Date | null {
  if (!quiet) return null;
  const now = clockMinutes(at, quiet.time_zone ?? zone);
  const inside = quiet.from < quiet.to ? now >= quiet.from && now < quiet.to : now >= quiet.from || now < quiet.to;
  if (!inside) return null;
  const minutesLeft = (quiet.to - now + 1440) % 1440;
  // Whole minutes from the start of the current minute; a DST change inside the span shifts it by its hour.
  const startOfMinute = Math.floor(at.getTime() / 60_000) * 60_000;
  return new Date(startOfMinute + minutesLeft * 60_000);
}

/** The maintenance window `at` falls in, described, or null. */
export function activeMaintenance(at: Date, windows: readonly MaintenanceWindow[]): string | null {
  for (const window of windows) {
    if ('from' in window) {
      if (at >= new Date(window.from) && at < new Date(window.to)) return `maintenance window ${window.from} – ${window.to}`;
      continue;
    }
    const cron = new Cron(window.schedule, { timezone: window.time_zone ?? undefined, paused: true });
    // The last fire at or before `at` (previousRuns looks strictly before, so ask from one ms later).
    const [last] = cron.previousRuns(1, new Date(at.getTime() + 1));
    cron.stop();
    if (last && at.getTime() - last.getTime() < window.duration_ms) {
      return `maintenance window "${window.schedule}" from ${last.toISOString()} for ${Math.round(window.duration_ms / 60_000)} min`;
    }
  }
  return null;
}

/** "09:00", or "Nov 25 09:00" when not today, on the clock of `zone`. */
export function clockTime(at: Date, now: Date, zone: string): string {
  const day = (d: Date) => new Intl.DateTimeFormat('en-CA', { timeZone: zone }).format(d);
  const time = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at);
  if (day(at) === day(now)) return time;
  const date = new Intl.DateTimeFormat('en-US', { timeZone: zone, month: 'short', day: 'numeric' }).format(at);
  return `${date} ${time}`;
}

/** The summary of a message that stands for `count` events since `first`; null for a single one. */
export function summaryText(rule: string, count: number, first: Date | null, now: Date, zone: string): string | null {
  if (count <= 1 || !first) return null;
  const since = `since ${clockTime(first, now, zone)}${zone === 'UTC' ? ' UTC' : ''}`;
  if (FAILING.has(rule)) return `failed ${count} times in a row ${since}`;
  if (rule === 'missed') return `missed ${count} scheduled runs ${since}`;
  if (rule === 'late') return `late ${count} times ${since}`;
  if (rule === 'abnormal') return `abnormal ${count} times ${since}`;
  return `${rule} ${count} times ${since}`;
}
