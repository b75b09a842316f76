// The one definition of a run's duration, shared by the runner's final event, `kubescribe runs`,
// the API's run view and notifications: they must never disagree (issue 10: 408ms vs 439).

/** What a duration is computed from: the run record's own times. */
export interface RunTimes {
  started_at: Date | string | null;
  finished_at: Date | string | null;
}

/**
 * finished_at − started_at in milliseconds; for a run still going, until `now` when given (else null).
 * Null for a run that never started (queued, a command that could not be spawned, invalid params).
 */
export function runDurationMs(run: RunTimes, now?: Date): number | null {
  if (run.started_at === null) return null;
  const end = run.finished_at ?? now ?? null;
  if (end === null) return null;
  return Math.max(0, new Date(end).getTime() - new Date(run.started_at).getTime());
}
