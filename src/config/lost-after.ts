// The one definition of "lost" by silence: how long a `starting` or `running` run may show no sign
// of life before it is `lost`. The reaper (every executor's runs) and the local executor's
// reconciliation at start use it; the Kubernetes executor's runs are reaped by the same reaper, and
// its watcher marks a run lost only on what the cluster says (pod deleted, evicted, ended without a
// record), never on a clock of its own (docs/runner.md#lost-runs).
import type { RunLogSettings } from './job-definition.ts';

// The default threshold. Six heartbeats: the runner queues its heartbeats behind its log writes and
// retries them while the RunLog is unreachable, so a few late ones are normal; and at least 60 s,
// which covers a managed PostgreSQL failover (typically 30-60 s) during which no heartbeat lands.
const DEFAULT_LOST_AFTER_HEARTBEATS = 6;
const MIN_DEFAULT_LOST_AFTER_MS = 60_000;

/** How long a live run's heartbeat may be silent before it is `lost`: `runlog.lost_after`, else 6 heartbeats (at least 60 s). */
export function lostAfterMs(runlog: RunLogSettings): number {
  return runlog.lost_after_ms ?? Math.max(DEFAULT_LOST_AFTER_HEARTBEATS * runlog.heartbeat_ms, MIN_DEFAULT_LOST_AFTER_MS);
}
