// Slot arithmetic, free of I/O so that DST, bounding and catch-up rules can be tested on their own:
// which fire times of a schedule fall in a window, and what becomes of each one that is due.
import { Cron } from 'croner';
import type { CatchUpPolicy } from '../config/job-definition.ts';

/** Slots written per job per tick at most: a per-second job down for a day would otherwise write 86,400 rows at once. */
export const MAX_SLOTS_PER_CATCH_UP = 1000;

/**
 * How late the latest due slot may be seen and still count as on time rather than overdue. The
 * scheduler wakes at each fire time (sleeps are capped at 1 s), so while it runs a slot is seen within
 * milliseconds; 10 s (10 sleep caps) absorbs a slow tick, a GC pause or a database blip, while a
 * stopped process, a crash or a sleeping laptop leave slots much later than that.
 */
export const ON_TIME_MS = 10_000;

// Croner objects are immutable once built; one per (expression, zone) is shared by every tick.
const compiled = new Map<string, Cron>();

/** The paused croner schedule of an expression in an IANA zone, compiled once. */
export function cronFor(schedule: string, timeZone: string): Cron {
  const key = `${schedule}\u0000${timeZone}`;
  let cron = compiled.get(key);
  if (!cron) {
    cron = new Cron(schedule, { timezone: timeZone, paused: true });
    compiled.set(key, cron);
  }
  return cron;
}

/** The first fire time strictly after `after`, or null when the schedule never fires again. */
export function nextFireTime(cron: Cron, after: Date): Date | null {
  return cron.nextRun(after);
}

/** The fire times of a window, oldest first; `truncated` when older ones were left out to respect the bound. */
export interface DueSlots {
  slots: Date[];
  truncated: boolean;
}

/**
 * Fire times in `(after, until]`, oldest first, at most `max` of them: when there are more, the
 * latest `max` (the ones a catch-up can still act on) and `truncated` is set.
 */
export function fireTimesBetween(cron: Cron, after: Date, until: Date, max = MAX_SLOTS_PER_CATCH_UP): DueSlots {
  const slots: Date[] = [];
  for (let t = cron.nextRun(after); t && t.getTime() <= until.getTime(); t = cron.nextRun(t)) {
    if (slots.length === max) {
      // Walking forward through a long outage would cost O(outage); croner walks back from the end instead.
      // previousRuns excludes its reference time, hence the extra millisecond to include `until`.
      const latest = cron.previousRuns(max, new Date(until.getTime() + 1)).reverse();
      return { slots: latest.filter((slot) => slot.getTime() > after.getTime()), truncated: true };
    }
    slots.push(t);
  }
  return { slots, truncated: false };
}

/** What becomes of one due slot. */
export interface SlotDecision {
  at: Date;
  state: 'fire' | 'missed' | 'skipped';
  /** Why, for the ledger's `reason` column (null for a slot fired on time). */
  reason: string | null;
  /** Not the latest slot seen on time: found late, after a stop, a crash, a sleep or an outage. */
  overdue: boolean;
}

/** Everything the decision for a job's due slots depends on. */
export interface CatchUpInput {
  /** Due fire times, oldest first, none after `now`. */
  due: Date[];
  now: Date;
  policy: CatchUpPolicy;
  startingDeadlineMs?: number;
  suspended: boolean;
  onTimeMs?: number;
}

/** Human-readable duration for reasons: whole ms below 1 s, else seconds with up to one decimal. */
function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

/**
 * Decides every due slot of a job. Suspended: all skipped. Otherwise the latest slot is on time when
 * seen within `onTimeMs` and fires; the others (and the latest, when late) are overdue and follow the
 * catch-up policy: `none` fires none, `latest` only the most recent, `all` each in order. A slot older
 * than the starting deadline never fires, whatever the policy.
 */
export function decideSlots(input: CatchUpInput): SlotDecision[] {
  const { due, now, policy, startingDeadlineMs, suspended } = input;
  const onTimeMs = input.onTimeMs ?? ON_TIME_MS;
  const last = due.length - 1;
  const lateness = (at: Date) => now.getTime() - at.getTime();
  const onTime = last >= 0 && lateness(due[last]!) <= onTimeMs;
  return due.map((at, i): SlotDecision => {
    const overdue = !(i === last && onTime);
    const decide = (state: SlotDecision['state'], reason: string | null): SlotDecision => ({ at, state, reason, overdue });
    if (suspended) return decide('skipped', 'job suspended');
    let reason: string | null;
    if (!overdue) reason = null;
    else if (policy === 'all' || (policy === 'latest' && i === last)) reason = `caught up (catch_up: ${policy})`;
    else if (policy === 'latest') return decide('missed', 'overdue and superseded by a later slot (catch_up: latest)');
    else return decide('missed', `overdue: not fired within ${formatMs(onTimeMs)} of its time (catch_up: none)`);
    if (startingDeadlineMs !== undefined && lateness(at) > startingDeadlineMs) {
      return decide('missed', `past the starting deadline of ${formatMs(startingDeadlineMs)} (${formatMs(lateness(at))} late)`);
    }
    return decide('fire', reason);
  });
}
