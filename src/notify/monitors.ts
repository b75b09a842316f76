// The monitors find what no status change announces: runs still going past their expected duration
// (late) and schedule slots the ledger records as missed, whoever scheduled them; and they sweep up
// the outcome of a run whose trigger could not write its event. They only write
// outbox events (once each, by dedupe key); dispatch applies the rules like for any other event.
import type { KubescribeConfig } from '../config/job-definition.ts';
import type { Db } from '../runlog/db.ts';
import { withAdvisoryXactLock } from '../runlog/sql/advisory-lock.ts';
import { insertLateEvents, insertMissedEvents, insertUnrecordedOutcomes } from '../runlog/sql/notification-events.ts';

// A slot missed longer ago than this is history, not news: after a long outage of every server the
// first one back does not page anyone for last week.
const MISSED_LOOKBACK_MS = 86_400_000;
// Runs created this long ago are still checked for an outcome event the trigger failed to write.
const SWEEP_LOOKBACK_MS = 6 * 3_600_000;

/** How many events a monitor pass wrote; `ran: false` when another replica held the lock. */
export interface MonitorResult { ran: boolean; late: number; missed: number; swept: number }

/** One pass of the late and missed monitors, on one replica at a time. */
export async function runMonitors(db: Db, config: KubescribeConfig): Promise<MonitorResult> {
  const jobs = [...config.jobs.values()]
    .filter((job) => job.expected_duration_ms !== undefined)
    .map((job) => ({ name: job.name, expected_ms: job.expected_duration_ms! }));
  const result = await withAdvisoryXactLock(db, 'notify-monitors', async (tx) => ({
    late: (await insertLateEvents(tx, jobs)).length,
    missed: (await insertMissedEvents(tx, MISSED_LOOKBACK_MS)).length,
    swept: (await insertUnrecordedOutcomes(tx, SWEEP_LOOKBACK_MS)).length,
  }));
  return result.acquired ? { ran: true, ...result.value } : { ran: false, late: 0, missed: 0, swept: 0 };
}
