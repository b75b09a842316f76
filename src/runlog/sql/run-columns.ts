// The one column list of `runs` as a RunRecord: every query that returns runs (one run, a list, an
// insert's RETURNING) selects exactly this, so a RunRecord looks the same wherever it came from.

/** `runs` columns as RunRecord fields (uuids as text). Unqualified: use it where `runs` is the only table in scope. */
export const RUN_COLUMNS = `run_id::text AS run_id, job, run_number, job_revision, trigger, triggered_by, params, status,
  attempt, retry_of::text AS retry_of, executor, executor_ref, image, command, tenant, labels, created_at, started_at,
  finished_at, heartbeat_at, exit_code, signal, error_type, error_message, error_tail, outputs, metrics,
  idempotency_key, log_bytes, log_dropped_bytes`;
