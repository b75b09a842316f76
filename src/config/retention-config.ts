// The `retention:` section of kubescribe.yaml: how long run logs and the notification outbox are
// kept. Both keys are optional and nothing is pruned without them: the RunLog is the permanent
// record. Run rows, their events and summaries are never pruned (docs/reporting.md#retention).
import { formatDuration } from './durations.ts';
import type { Entry, Reader } from './yaml-reader.ts';

/** The `retention:` section, in milliseconds; an unset key keeps those rows forever. */
export interface RetentionSettings { logs_ms?: number; notifications_ms?: number }

const RETENTION_KEYS = ['logs', 'notifications'];
// A bare number is seconds in kubescribe.yaml: `logs: 90` would keep 90 seconds of logs. A day is the
// shortest retention that is a policy rather than a typo.
const MIN_LOGS_MS = 86_400_000;
// The notifier writes a missed slot's event up to 24 h late and re-checks 6 h of run outcomes by their
// dedupe keys; an outbox pruned sooner would let those checks write (and send) the same alert again.
const MIN_NOTIFICATIONS_MS = 2 * 86_400_000;

/** Reads `retention:`; problems are reported on the Reader with their lines. */
export function readRetention(r: Reader, e: Entry): RetentionSettings {
  const settings: RetentionSettings = {};
  for (const entry of r.entries(e.value, e.path, e.line, RETENTION_KEYS) ?? []) {
    const ms = r.duration(entry);
    if (ms === undefined) continue;
    const min = entry.key === 'logs' ? MIN_LOGS_MS : MIN_NOTIFICATIONS_MS;
    if (ms < min) {
      const why = entry.key === 'logs'
        ? 'a bare number is seconds, so write days: 90d'
        : 'the notifier re-checks the last day of alerts by what the outbox holds, so a shorter retention would send some twice';
      r.report(entry.line, entry.path, `must be at least ${formatDuration(min)} (${why}); got ${formatDuration(ms)}`);
    } else if (entry.key === 'logs') settings.logs_ms = ms;
    else settings.notifications_ms = ms;
  }
  return settings;
}
