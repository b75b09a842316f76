-- KubeScribe RunLog, version 9: automatic retries decided once, from a run's terminal transition,
-- for every executor (docs/runner.md#retries). Runs on PostgreSQL 13+ and PGlite.
--
-- One row per run that ended failed, timed_out or lost, written by a trigger on `runs` in the
-- transaction that records the outcome, so no writer of a status (runner, watcher, reaper,
-- executor) can forget it. The server's retrier takes the rows under an advisory lock and decides
-- each once from the job's `retries` policy: `pending` → `scheduled` (with the time the retry is due)
-- → `created` (with the retry's run id), or `skipped` with the reason. The decision and its due time
-- are in the RunLog, so a server that dies during the backoff leaves nothing to forget: whichever
-- replica runs the retrier next creates the retry when it is due.
CREATE TABLE run_retries (
  run_id       uuid PRIMARY KEY REFERENCES runs (run_id),
  job          text NOT NULL,
  state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'scheduled', 'created', 'skipped')),
  -- the attempt the retry is (the failed run's attempt + 1) and the job's limit when decided
  attempt      integer,
  retry_limit  integer,
  due_at       timestamptz,
  retry_run_id uuid REFERENCES runs (run_id),
  reason       text,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  decided_at   timestamptz
);
-- The retrier's work: undecided rows and retries waiting for their time; a handful, however long the history.
CREATE INDEX run_retries_open_idx ON run_retries (due_at NULLS FIRST) WHERE state IN ('pending', 'scheduled');

-- As the notification outbox (0005): the run's own record comes first. Should this insert fail (a
-- runner's role without INSERT on the table after an upgrade), the outcome still commits, with a
-- warning, and the retrier's sweep writes the missing row.
CREATE FUNCTION runs_retry_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    INSERT INTO run_retries (run_id, job) VALUES (NEW.run_id, NEW.job) ON CONFLICT (run_id) DO NOTHING;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'kubescribe: no retry decision row for run %: %', NEW.run_id, SQLERRM;
  END;
  RETURN NULL;
END
$$;
-- succeeded and cancelled are never retried, so they get no row.
CREATE TRIGGER runs_retry_outbox AFTER UPDATE OF status ON runs
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('failed', 'timed_out', 'lost'))
  EXECUTE FUNCTION runs_retry_outbox();
CREATE TRIGGER runs_retry_outbox_insert AFTER INSERT ON runs
  FOR EACH ROW
  WHEN (NEW.status IN ('failed', 'timed_out', 'lost'))
  EXECUTE FUNCTION runs_retry_outbox();
