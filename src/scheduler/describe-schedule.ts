// A job's schedule in words ("at 06:00 every day (Europe/Berlin)") and its next fire times. The words
// cover the common cron shapes; anything else is shown as the expression itself, never guessed at.
import { Cron } from 'croner';

const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAY_ALIASES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MONTH_ALIASES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** The schedule in words with its time zone, e.g. "at 06:00 every day (Europe/Berlin)"; the expression itself when uncommon. */
export function describeSchedule(expression: string, timeZone: string): string {
  return `${describeCron(expression) ?? expression.trim()} (${timeZone})`;
}

// Croner's search for the next fire times was the largest part of listing 50 jobs (GET /jobs, the
// jobs page: docs/benchmarks.md, the jobs page profile), and every request asked it the same
// question. The fire times after `from` are the same for every `from` from the one they were computed
// for up to the first of them, so they are kept per schedule and answered again until that one passes.
const upcoming = new Map<string, { from: number; times: readonly Date[] }>();
// Far more schedules than a RunLog has jobs; past it the map starts afresh rather than grow.
const MAX_KEPT_SCHEDULES = 10_000;

/** The next `count` fire times of a schedule after `from` (default now), as croner computes them in the time zone. */
export function nextFireTimes(expression: string, timeZone: string, count = 3, from: Date = new Date()): Date[] {
  const key = `${count} ${timeZone} ${expression}`;
  const at = from.getTime();
  const kept = upcoming.get(key);
  if (kept && at >= kept.from && at < kept.times[0]!.getTime()) return kept.times.map((time) => new Date(time));
  const cron = new Cron(expression.trim(), { timezone: timeZone, paused: true });
  let times: Date[];
  try {
    times = cron.nextRuns(count, from);
  } finally {
    cron.stop();
  }
  if (times.length > 0 && !Number.isNaN(at)) {
    if (upcoming.size >= MAX_KEPT_SCHEDULES) upcoming.clear();
    upcoming.set(key, { from: at, times: times.map((time) => new Date(time)) });
  }
  return times;
}

/** The words for a cron expression, or null for a shape without a plain description. */
export function describeCron(expression: string): string | null {
  const trimmed = expression.trim();
  const fields = (NICKNAMES[trimmed.toLowerCase()] ?? trimmed).split(/\s+/);
  if (fields.length === 5) fields.unshift('0');
  if (fields.length !== 6) return null;
  const [second, minute, hour, dayOfMonth, month, dayOfWeek] = fields.map((field) => field.toUpperCase()) as [string, string, string, string, string, string];
  const time = describeTime(second, minute, hour);
  const days = describeDays(dayOfMonth, month, dayOfWeek);
  if (time === null || days === null) return null;
  if (time.kind === 'at') return `${time.text} ${days}`;
  if (days === 'every day') return time.text;
  return `${time.text} ${days.replace(/^every day in /, 'in ')}`;
}

type TimeWords = { kind: 'at' | 'repeat'; text: string };

function describeTime(second: string, minute: string, hour: string): TimeWords | null {
  const pad = (n: number) => String(n).padStart(2, '0');
  const seconds = numbers(second, 0, 59);
  const minutes = numbers(minute, 0, 59);
  const hours = numbers(hour, 0, 23);
  const secondStep = step(second, 59);
  const minuteStep = step(minute, 59);
  const hourStep = step(hour, 23);

  if (second === '*' && minute === '*' && hour === '*') return { kind: 'repeat', text: 'every second' };
  if (secondStep && minute === '*' && hour === '*') return { kind: 'repeat', text: `every ${secondStep} seconds` };
  if (!seconds || seconds.length !== 1) return null;
  const sec = seconds[0]!;
  const suffix = sec === 0 ? '' : `:${pad(sec)}`;

  if (hours && minutes && hours.length * minutes.length <= 4) {
    const times = hours.flatMap((h) => minutes.map((m) => `${pad(h)}:${pad(m)}${suffix}`));
    return { kind: 'at', text: `at ${list(times)}` };
  }
  if (sec !== 0) return null;
  const within = hours && hours.length >= 2 && isRange(hour) ? ` from ${pad(hours[0]!)}:00 to ${pad(hours[hours.length - 1]!)}:59` : null;
  if (minute === '*' && hour === '*') return { kind: 'repeat', text: 'every minute' };
  if (minuteStep && hour === '*') return { kind: 'repeat', text: `every ${minuteStep} minutes` };
  if (minute === '*' && within) return { kind: 'repeat', text: `every minute${within}` };
  if (minuteStep && within) return { kind: 'repeat', text: `every ${minuteStep} minutes${within}` };
  if (minutes && minutes.length === 1) {
    const at = `:${pad(minutes[0]!)}`;
    if (hour === '*') return { kind: 'repeat', text: `every hour at ${at}` };
    if (hourStep) return { kind: 'repeat', text: `every ${hourStep} hours at ${at}` };
    if (hours && isRange(hour)) {
      return { kind: 'repeat', text: `every hour from ${pad(hours[0]!)}${at} to ${pad(hours[hours.length - 1]!)}${at}` };
    }
  }
  return null;
}

function describeDays(dayOfMonth: string, month: string, dayOfWeek: string): string | null {
  const anyDom = dayOfMonth === '*' || dayOfMonth === '?';
  const anyDow = dayOfWeek === '*' || dayOfWeek === '?';
  if (anyDom && month === '*' && anyDow) return 'every day';
  if (anyDom && month === '*') {
    const days = numbers(dayOfWeek.replace(/\b7\b/g, '0'), 0, 6, DAY_ALIASES);
    if (!days) return null;
    if (isRange(dayOfWeek) && days.length > 2) return `on ${DAY_NAMES[days[0]!]} to ${DAY_NAMES[days[days.length - 1]!]}`;
    return `on ${list(days.map((day) => DAY_NAMES[day]!))}`;
  }
  if (!anyDow) return null;
  if (dayOfMonth === 'L' && month === '*') return 'on the last day of every month';
  const doms = anyDom ? null : numbers(dayOfMonth, 1, 31);
  if (!anyDom && !doms) return null;
  if (month === '*') return doms!.length === 1 ? `on day ${doms![0]} of every month` : `on days ${list(doms!.map(String))} of every month`;
  const months = numbers(month, 1, 12, MONTH_ALIASES, 1);
  if (!months) return null;
  const monthNames = months.map((m) => MONTH_NAMES[m - 1]!);
  if (!doms) return `every day in ${list(monthNames)}`;
  if (doms.length === 1) return `on ${list(monthNames.map((name) => `${doms[0]} ${name}`))}`;
  return `on days ${list(doms.map(String))} of ${list(monthNames)}`;
}

/** The values of a field made of numbers, names, lists and plain ranges (no steps, no wildcards), or null. */
function numbers(field: string, min: number, max: number, aliases: string[] = [], aliasBase = 0): number[] | null {
  const value = (part: string): number | null => {
    const alias = aliases.indexOf(part);
    if (alias >= 0) return alias + aliasBase;
    if (!/^\d{1,2}$/.test(part)) return null;
    const n = Number(part);
    return n >= min && n <= max ? n : null;
  };
  const result: number[] = [];
  for (const part of field.split(',')) {
    const [from, to, extra] = part.split('-');
    if (extra !== undefined || from === undefined) return null;
    const start = value(from);
    const end = to === undefined ? start : value(to);
    if (start === null || end === null || end < start) return null;
    for (let n = start; n <= end; n++) result.push(n);
  }
  const unique = [...new Set(result)].sort((a, b) => a - b);
  return unique.length > 0 ? unique : null;
}

/** N for a step field (star-slash-N or 0/N) that divides the range evenly, so "every N" is exact; else null. */
function step(field: string, max: number): number | null {
  const match = /^(?:\*|0)\/(\d+)$/.exec(field);
  if (!match) return null;
  const n = Number(match[1]);
  return n >= 2 && (max + 1) % n === 0 ? n : null;
}

function isRange(field: string): boolean {
  return /^[^,]+-[^,]+$/.test(field);
}

function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
