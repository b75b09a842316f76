-- KubeScribe RunLog, version 13: a daily rollup of finished runs for the stats (docs/reporting.md#how-stats-stay-fast).
-- Runs on PostgreSQL 13+ and PGlite.
--
-- The stats of a window used to read every run of it: ~1,000 per job for 30 days, ~200,000 for
-- `GET /stats` over 200 jobs, too slow for its 200 ms target at 5 M runs. `run_days` keeps, per job
-- and UTC day (by the run's end, as the stats count it), the runs by status and that day's durations,
-- queue waits and failure times as arrays: a window's whole days are read from here (30 rows per job
-- instead of ~1,000 index entries), and only its partial first and last day from the runs. The
-- arrays keep every value, so percentile_cont over them is exactly the percentile over the runs.
CREATE TABLE run_days (
  job          text NOT NULL,
  -- The UTC midnight that starts the day; a run belongs to the day of coalesce(finished_at, created_at).
  day          timestamptz NOT NULL,
  succeeded    integer NOT NULL DEFAULT 0,
  failed       integer NOT NULL DEFAULT 0,
  cancelled    integer NOT NULL DEFAULT 0,
  timed_out    integer NOT NULL DEFAULT 0,
  lost         integer NOT NULL DEFAULT 0,
  -- finished_runs.duration_seconds and queue_wait_seconds of the day's runs that have them, unordered.
  durations    float8[] NOT NULL DEFAULT '{}',
  queue_waits  float8[] NOT NULL DEFAULT '{}',
  -- End times of the day's failing runs (failed, timed_out, lost): their count, first and last (MTBF).
  failure_ends timestamptz[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (job, day)
);

-- The array without one occurrence of the value (array_remove drops them all); unchanged for NULL
-- or a value it does not hold.
CREATE FUNCTION kubescribe_array_remove_one(a anyarray, v anyelement) RETURNS anyarray
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN v IS NULL OR array_position(a, v) IS NULL THEN a
              ELSE a[:array_position(a, v) - 1] || a[array_position(a, v) + 1:] END
$$;

-- Concatenates arrays over rows: a window's days (and its edge runs, as one-value arrays) into the
-- window's values, so the stats sort them once per job.
CREATE AGGREGATE kubescribe_array_cat_agg(anycompatiblearray) (SFUNC = array_cat, STYPE = anycompatiblearray, INITCOND = '{}');

-- Adds a finished run to its day (delta 1) or takes it out again (delta -1). The values are the
-- expressions of the view finished_runs (migration 10), so the rollup and the runs agree to the bit.
CREATE FUNCTION run_days_count(r runs, delta integer) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
  v_ended timestamptz := coalesce(r.finished_at, r.created_at);
  v_day timestamptz := date_trunc('day', v_ended AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  v_duration float8 := CASE WHEN r.started_at IS NOT NULL AND r.finished_at IS NOT NULL
                            THEN greatest(date_part('epoch', r.finished_at - r.started_at), 0) END;
  v_wait float8 := CASE WHEN r.started_at IS NOT NULL
                        THEN greatest(date_part('epoch', r.started_at - r.created_at), 0) END;
  v_failure timestamptz := CASE WHEN r.status IN ('failed', 'timed_out', 'lost') THEN v_ended END;
BEGIN
  IF delta > 0 THEN
    INSERT INTO run_days AS d (job, day, succeeded, failed, cancelled, timed_out, lost, durations, queue_waits, failure_ends)
    VALUES (r.job, v_day, (r.status = 'succeeded')::int, (r.status = 'failed')::int, (r.status = 'cancelled')::int,
            (r.status = 'timed_out')::int, (r.status = 'lost')::int,
            CASE WHEN v_duration IS NULL THEN '{}' ELSE ARRAY[v_duration] END,
            CASE WHEN v_wait IS NULL THEN '{}' ELSE ARRAY[v_wait] END,
            CASE WHEN v_failure IS NULL THEN '{}' ELSE ARRAY[v_failure] END)
    ON CONFLICT (job, day) DO UPDATE SET
      succeeded = d.succeeded + EXCLUDED.succeeded, failed = d.failed + EXCLUDED.failed,
      cancelled = d.cancelled + EXCLUDED.cancelled, timed_out = d.timed_out + EXCLUDED.timed_out, lost = d.lost + EXCLUDED.lost,
      durations = d.durations || EXCLUDED.durations, queue_waits = d.queue_waits || EXCLUDED.queue_waits,
      failure_ends = d.failure_ends || EXCLUDED.failure_ends;
  ELSE
    UPDATE run_days AS d SET
      succeeded = d.succeeded - (r.status = 'succeeded')::int, failed = d.failed - (r.status = 'failed')::int,
      cancelled = d.cancelled - (r.status = 'cancelled')::int, timed_out = d.timed_out - (r.status = 'timed_out')::int,
      lost = d.lost - (r.status = 'lost')::int,
      durations = kubescribe_array_remove_one(d.durations, v_duration),
      queue_waits = kubescribe_array_remove_one(d.queue_waits, v_wait),
      failure_ends = kubescribe_array_remove_one(d.failure_ends, v_failure)
    WHERE d.job = r.job AND d.day = v_day;
  END IF;
END
$$;

-- Kept in the transaction that records each fact, like the totals of migration 10. A terminal run
-- never changes status or end (runs_terminal_guard), but any change of what places or measures a
-- finished run (job, created_at, started_at) moves it: out of its old day, into its new one.
CREATE FUNCTION runs_count_days() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost') THEN
    PERFORM run_days_count(OLD, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost') THEN
    PERFORM run_days_count(NEW, 1);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER runs_count_days_insert AFTER INSERT ON runs
  FOR EACH ROW
  WHEN (NEW.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost'))
  EXECUTE FUNCTION runs_count_days();
CREATE TRIGGER runs_count_days AFTER UPDATE OF job, status, created_at, started_at, finished_at ON runs
  FOR EACH ROW
  WHEN ((OLD.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost')
         OR NEW.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost'))
        AND (OLD.job, OLD.status, OLD.created_at, OLD.started_at, OLD.finished_at)
            IS DISTINCT FROM (NEW.job, NEW.status, NEW.created_at, NEW.started_at, NEW.finished_at))
  EXECUTE FUNCTION runs_count_days();
CREATE TRIGGER runs_count_days_delete AFTER DELETE ON runs
  FOR EACH ROW
  WHEN (OLD.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost'))
  EXECUTE FUNCTION runs_count_days();

-- ---------------------------------------------------------------------------------------------
-- The same for the SLA: the slot ledger's outcomes per job and UTC day of `scheduled_for`, so a
-- window's whole days are ~30 rows per job instead of ~800 slots. The outcome is the view
-- schedule_slot_outcomes' once its 60 s have passed: a fired slot whose run has not started is late
-- (the view says pending within the 60 s; the stats read the window's last day, and the minute
-- before it, from the ledger itself). Claimed slots (expected, or no run) are not judged: not counted.
CREATE TABLE slot_days (
  job      text NOT NULL,
  day      timestamptz NOT NULL,
  on_time  integer NOT NULL DEFAULT 0,
  late     integer NOT NULL DEFAULT 0,
  missed   integer NOT NULL DEFAULT 0,
  skipped  integer NOT NULL DEFAULT 0,
  PRIMARY KEY (job, day)
);

-- A slot's outcome once its 60 s have passed (NULL: not judged). The rules of schedule_slot_outcomes.
CREATE FUNCTION kubescribe_slot_final_outcome(state text, run_id uuid, run_started_at timestamptz, scheduled_for timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
           WHEN state IN ('missed', 'skipped') THEN state
           WHEN state = 'expected' OR run_id IS NULL THEN NULL
           WHEN run_started_at <= scheduled_for + interval '60 seconds' THEN 'on_time'
           ELSE 'late'
         END
$$;

CREATE FUNCTION slot_days_count(v_job text, v_scheduled_for timestamptz, v_outcome text, delta integer) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  IF v_outcome IS NULL THEN
    RETURN;
  END IF;
  INSERT INTO slot_days AS d (job, day, on_time, late, missed, skipped)
  VALUES (v_job, date_trunc('day', v_scheduled_for AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
          (v_outcome = 'on_time')::int * delta, (v_outcome = 'late')::int * delta,
          (v_outcome = 'missed')::int * delta, (v_outcome = 'skipped')::int * delta)
  ON CONFLICT (job, day) DO UPDATE SET
    on_time = d.on_time + EXCLUDED.on_time, late = d.late + EXCLUDED.late,
    missed = d.missed + EXCLUDED.missed, skipped = d.skipped + EXCLUDED.skipped;
END
$$;

-- A slot moves between outcomes as the scheduler and its run change it (claimed, fired, started);
-- each change takes its old outcome out and puts its new one in.
CREATE FUNCTION schedule_slots_count_days() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM slot_days_count(OLD.job, OLD.scheduled_for,
                            kubescribe_slot_final_outcome(OLD.state, OLD.run_id, OLD.run_started_at, OLD.scheduled_for), -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM slot_days_count(NEW.job, NEW.scheduled_for,
                            kubescribe_slot_final_outcome(NEW.state, NEW.run_id, NEW.run_started_at, NEW.scheduled_for), 1);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER schedule_slots_count_days_insert AFTER INSERT ON schedule_slots
  FOR EACH ROW EXECUTE FUNCTION schedule_slots_count_days();
CREATE TRIGGER schedule_slots_count_days AFTER UPDATE OF job, scheduled_for, state, run_id, run_started_at ON schedule_slots
  FOR EACH ROW
  WHEN ((OLD.job, OLD.scheduled_for, OLD.state, OLD.run_id, OLD.run_started_at)
        IS DISTINCT FROM (NEW.job, NEW.scheduled_for, NEW.state, NEW.run_id, NEW.run_started_at))
  EXECUTE FUNCTION schedule_slots_count_days();
CREATE TRIGGER schedule_slots_count_days_delete AFTER DELETE ON schedule_slots
  FOR EACH ROW EXECUTE FUNCTION schedule_slots_count_days();

-- The stats read the rollups where they read the totals: a role granted SELECT on run_totals table by
-- table (docs/kubernetes.md's least-privilege grants) gets it on both, so the API role of an
-- existing installation still serves the stats after the upgrade, before anyone re-runs the grants.
DO $$
DECLARE
  reader record;
BEGIN
  FOR reader IN
    SELECT DISTINCT grantee FROM information_schema.role_table_grants
    WHERE table_schema = current_schema() AND table_name = 'run_totals' AND privilege_type = 'SELECT'
      AND grantee <> current_user
  LOOP
    EXECUTE format('GRANT SELECT ON run_days, slot_days TO %s',
                   CASE WHEN reader.grantee = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(reader.grantee) END);
  END LOOP;
END
$$;

-- Backfill: the days of the history already recorded (runs and slots), from what the stats read. A function, so
-- that an operator (or the benchmark, which seeds with the triggers off) can recompute them from the
-- record: `SELECT kubescribe_rebuild_run_days();`. It locks both rollups against the triggers until it
-- commits, so runs that finish meanwhile wait for it (and are then added), none is lost or counted twice.
CREATE FUNCTION kubescribe_rebuild_run_days() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE run_days, slot_days IN EXCLUSIVE MODE;
  DELETE FROM run_days;
  DELETE FROM slot_days;
  INSERT INTO run_days (job, day, succeeded, failed, cancelled, timed_out, lost, durations, queue_waits, failure_ends)
  SELECT job, date_trunc('day', ended_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
         count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
         count(*) FILTER (WHERE status = 'cancelled'), count(*) FILTER (WHERE status = 'timed_out'),
         count(*) FILTER (WHERE status = 'lost'),
         coalesce(array_agg(duration_seconds) FILTER (WHERE duration_seconds IS NOT NULL), '{}'),
         coalesce(array_agg(queue_wait_seconds) FILTER (WHERE queue_wait_seconds IS NOT NULL), '{}'),
         coalesce(array_agg(ended_at) FILTER (WHERE failing), '{}')
  FROM finished_runs
  GROUP BY 1, 2;

  INSERT INTO slot_days (job, day, on_time, late, missed, skipped)
  SELECT job, date_trunc('day', scheduled_for AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
         count(*) FILTER (WHERE outcome = 'on_time'), count(*) FILTER (WHERE outcome = 'late'),
         count(*) FILTER (WHERE outcome = 'missed'), count(*) FILTER (WHERE outcome = 'skipped')
  FROM (SELECT job, scheduled_for, kubescribe_slot_final_outcome(state, run_id, run_started_at, scheduled_for) AS outcome
        FROM schedule_slots) AS s
  WHERE outcome IS NOT NULL
  GROUP BY 1, 2;
END
$$;

SELECT kubescribe_rebuild_run_days();
-- Statistics for the planner at once: the stats read these tables from the first request on.
ANALYZE run_days;
ANALYZE slot_days;
