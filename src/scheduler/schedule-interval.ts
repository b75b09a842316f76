// The longest wait between two fire times of a schedule: what "the job has not succeeded within its
// schedule" is measured against (kubescribe_job_schedule_interval_seconds, deploy/prometheus/rules.yaml).
// The longest gap rather than the next one, so that a weekday job is not overdue every Saturday.
import { cronFor, nextFireTime } from './slots.ts';

// A week and a day covers every weekly pattern, and three gaps a monthly or yearly one. 500 fires
// bound the work of a frequent schedule (croner takes ~0.1 ms a fire), whose gaps matter less than the
// grace anyway. The result changes only with DST and calendar quirks, so it is kept an hour.
const HORIZON_MS = 8 * 86_400_000;
const MIN_GAPS = 3;
const MAX_FIRES = 500;
const KEEP_MS = 3_600_000;

const cache = new Map<string, { seconds: number | null; until: number }>();

/** The longest gap in seconds between consecutive fire times over the next 8 days (or 3 gaps); null when it fires fewer than twice. */
export function longestScheduleGapSeconds(schedule: string, timeZone: string, now: Date = new Date()): number | null {
  const key = `${schedule}\u0000${timeZone}`;
  const cached = cache.get(key);
  if (cached && cached.until > now.getTime()) return cached.seconds;
  const cron = cronFor(schedule, timeZone);
  const end = now.getTime() + HORIZON_MS;
  let previous = nextFireTime(cron, now);
  let longest: number | null = null;
  for (let i = 0; previous && (previous.getTime() <= end || i < MIN_GAPS) && i < MAX_FIRES; i++) {
    const next = nextFireTime(cron, previous);
    if (!next) break;
    longest = Math.max(longest ?? 0, next.getTime() - previous.getTime());
    previous = next;
  }
  const seconds = longest === null ? null : longest / 1000;
  cache.set(key, { seconds, until: now.getTime() + KEEP_MS });
  return seconds;
}
