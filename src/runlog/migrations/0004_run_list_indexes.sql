-- KubeScribe RunLog, version 4: the status and trigger indexes get the run_id tie-breaker that
-- GET /runs sorts by (created_at DESC, run_id DESC), so a filtered page is a single index scan
-- instead of an index scan plus an incremental sort (p99 10-14 ms over a million runs before).
DROP INDEX runs_status_idx;
CREATE INDEX runs_status_idx ON runs (status, created_at DESC, run_id DESC);
DROP INDEX runs_trigger_idx;
CREATE INDEX runs_trigger_idx ON runs (trigger, created_at DESC, run_id DESC);
