-- KubeScribe RunLog, version 11: retention of run logs and of the notification outbox
-- (`retention:` in kubescribe.yaml, docs/reporting.md#retention). Runs on PostgreSQL 13+ and PGlite.
-- Run rows, their events and summaries are never pruned; only the bulky, fast-growing parts are.

-- When the run's stored output was pruned: GET /runs/{run_id}/logs then says so (410 log_pruned)
-- instead of answering with an empty log that looks complete.
ALTER TABLE runs ADD COLUMN log_pruned_at timestamptz;

-- The retention pass's work, oldest first: finished runs whose log is still stored. Partial, so it
-- shrinks as logs are pruned rather than growing with the whole history.
CREATE INDEX runs_log_retention_idx ON runs (finished_at) WHERE log_pruned_at IS NULL AND finished_at IS NOT NULL;

-- Deliveries that are done with (sent, failed for good, suppressed), oldest first.
CREATE INDEX notification_deliveries_retention_idx ON notification_deliveries (created_at)
  WHERE state IN ('sent', 'failed', 'suppressed');

-- Dispatched events, oldest first; an event goes once none of its deliveries is left.
CREATE INDEX notification_events_retention_idx ON notification_events (dispatched_at) WHERE dispatched_at IS NOT NULL;
