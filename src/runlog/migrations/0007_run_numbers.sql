-- KubeScribe RunLog, version 7: a per-job run number (`report#42`, as CI systems number builds).
-- Run ids are UUIDv7, whose first 8 characters change only every ~65 s, so a short id prefix is
-- often ambiguous; the run number is short, unique within its job and never reused.
ALTER TABLE jobs ADD COLUMN last_run_number integer NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN run_number integer;

-- Existing runs are numbered in the order they were created (run_id breaks ties, as in every list).
UPDATE runs SET run_number = numbered.n
FROM (SELECT run_id, row_number() OVER (PARTITION BY job ORDER BY created_at, run_id) AS n FROM runs) AS numbered
WHERE runs.run_id = numbered.run_id;
UPDATE jobs SET last_run_number = COALESCE((SELECT max(run_number) FROM runs WHERE runs.job = jobs.name), 0);

-- Assigned at insert from the job's counter. The UPDATE locks the job's row until the inserting
-- transaction ends, so two inserts of one job never draw the same number. An insert that then loses
-- an ON CONFLICT leaves a gap, as a sequence would: numbers are unique, not dense.
CREATE FUNCTION runs_assign_run_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE jobs SET last_run_number = last_run_number + 1 WHERE name = NEW.job
  RETURNING last_run_number INTO NEW.run_number;
  -- Said here as the foreign key would say it: NOT NULL on run_number is checked before the key.
  IF NOT FOUND THEN
    RAISE EXCEPTION 'insert or update on table "runs" violates foreign key constraint: no job %', NEW.job
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER runs_assign_run_number BEFORE INSERT ON runs
  FOR EACH ROW EXECUTE FUNCTION runs_assign_run_number();

ALTER TABLE runs ALTER COLUMN run_number SET NOT NULL;
CREATE UNIQUE INDEX runs_job_run_number_idx ON runs (job, run_number);
