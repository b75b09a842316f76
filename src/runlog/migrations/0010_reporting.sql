-- KubeScribe RunLog, version 10: reporting (docs/reporting.md). Runs on PostgreSQL 13+ and PGlite.
--
-- Two kinds of reads must stay fast however long the history grows (the benchmark holds them to
-- 5 M runs over 2 years):
--   * a window of runs (stats over 24h … 90d): the raw runs, over an index whose key starts with the
--     job and the end time and which covers the columns the stats read (an index-only range scan of
--     the window, ~1,000 entries for a month of a busy job), so percentiles stay exact;
--   * all-time counters (/metrics): totals kept by triggers in the transaction that records each
--     fact, so a scrape sums a few thousand rows instead of every run. They are counters: a pruned
--     notification or log never decrements them.

-- When a finished run counts: when it ended; a run recorded already finished without an end time
-- (an offline replay, a rejected trigger) counts when it was created. The key orders a job's runs by
-- end (run_id breaks ties), so a window is one range scan, the newest runs (a streak, the last
-- success) are read backwards from its end, and the included columns spare the table.
CREATE INDEX runs_job_ended_idx ON runs (job, (coalesce(finished_at, created_at)), run_id)
  INCLUDE (status, started_at, finished_at, created_at)
  WHERE status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost');
-- The last failure of a job that rarely fails, without reading back through its successes.
CREATE INDEX runs_job_failed_idx ON runs (job, (coalesce(finished_at, created_at)), run_id)
  WHERE status IN ('failed', 'timed_out', 'lost');

-- The SLA of a slot depends on when its run started. Kept on the slot itself, so that the SLA of a
-- window reads the ledger alone instead of looking up a run per slot (200 jobs × 30 days of slots
-- is ~150,000 lookups). Set when the slot is linked to a run, and when that run starts (or ends
-- without starting: then its creation time, when it was fired).
ALTER TABLE schedule_slots ADD COLUMN run_started_at timestamptz;
UPDATE schedule_slots s
SET run_started_at = coalesce(r.started_at, CASE WHEN r.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost') THEN r.created_at END)
FROM runs r WHERE r.run_id = s.run_id;
CREATE INDEX schedule_slots_sla_idx ON schedule_slots (job, scheduled_for) INCLUDE (state, run_started_at);

CREATE FUNCTION schedule_slots_run_started() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
BEGIN
  IF NEW.run_id IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.run_id IS DISTINCT FROM OLD.run_id) THEN
    SELECT coalesce(r.started_at, CASE WHEN r.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost') THEN r.created_at END)
    INTO NEW.run_started_at FROM runs r WHERE r.run_id = NEW.run_id;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER schedule_slots_run_started BEFORE INSERT OR UPDATE OF run_id ON schedule_slots
  FOR EACH ROW EXECUTE FUNCTION schedule_slots_run_started();

CREATE FUNCTION runs_slot_started() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
BEGIN
  UPDATE schedule_slots SET run_started_at = coalesce(NEW.started_at, NEW.created_at)
  WHERE run_id = NEW.run_id AND run_started_at IS NULL;
  RETURN NULL;
END
$$;
CREATE TRIGGER runs_slot_started AFTER UPDATE OF started_at, status ON runs
  FOR EACH ROW
  WHEN ((OLD.started_at IS NULL AND NEW.started_at IS NOT NULL)
        OR (NEW.started_at IS NULL AND OLD.status IS DISTINCT FROM NEW.status
            AND NEW.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost')))
  EXECUTE FUNCTION runs_slot_started();

-- ---------------------------------------------------------------------------------------------
-- Views: the definitions the API, `kubescribe report` and Grafana share (docs/runlog.md#views).

-- One row per finished run, with what stats are computed from. Seconds come from date_part, a
-- float8: extract() returns numeric since PostgreSQL 14, ~0.3–0.7 µs more per row (1 M intervals:
-- 1.0–1.5 s against 0.76–0.86 s on the benchmark machine), paid on every run a window reads.
CREATE VIEW finished_runs AS
SELECT r.job, r.run_id, r.run_number, r.status, r.trigger, r.executor, r.attempt,
       r.created_at, r.started_at, r.finished_at,
       coalesce(r.finished_at, r.created_at) AS ended_at,
       -- null for a run that never started (bad params, cancelled while queued)
       CASE WHEN r.started_at IS NOT NULL AND r.finished_at IS NOT NULL
            THEN greatest(date_part('epoch', r.finished_at - r.started_at), 0) END AS duration_seconds,
       CASE WHEN r.started_at IS NOT NULL
            THEN greatest(date_part('epoch', r.started_at - r.created_at), 0) END AS queue_wait_seconds,
       r.status = 'succeeded' AS succeeded,
       r.status IN ('failed', 'timed_out', 'lost') AS failing
FROM runs r
WHERE r.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost');

-- One row per slot of the schedule-slot ledger with its SLA outcome. A slot is on time when its run
-- started within 60 s of the scheduled time, late when later or not at all by then (a run that ended
-- without starting is judged by when it was fired). missed and skipped are the ledger's states;
-- `pending`: claimed and not fired yet, or fired and still within its 60 s.
CREATE VIEW schedule_slot_outcomes AS
SELECT s.job, s.scheduled_for, s.state, s.run_id, s.reason, s.run_started_at,
       date_part('epoch', s.run_started_at - s.scheduled_for) AS start_delay_seconds,
       CASE
         WHEN s.state IN ('missed', 'skipped') THEN s.state
         WHEN s.state = 'expected' OR s.run_id IS NULL THEN 'pending'
         WHEN s.run_started_at <= s.scheduled_for + interval '60 seconds' THEN 'on_time'
         WHEN s.run_started_at IS NULL AND now() <= s.scheduled_for + interval '60 seconds' THEN 'pending'
         ELSE 'late'
       END AS outcome
FROM schedule_slots s;

-- ---------------------------------------------------------------------------------------------
-- All-time totals for /metrics. Written by SECURITY DEFINER triggers: whoever records the fact (the
-- API role, a runner's role) needs no grant on them, so an upgrade never makes a run's end fail for
-- want of a grant, and nothing is swallowed that would make a total drift from the runs.

-- Fixed histogram bounds, in seconds; a value falls in the first bucket whose bound is >= it (the
-- Prometheus `le`), 'Infinity' past the last; NULL for no value.
CREATE FUNCTION kubescribe_histogram_le(value float8, bounds float8[]) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT coalesce((SELECT min(b) FROM unnest(bounds) AS b WHERE b >= value), 'Infinity'::float8)
$$;

CREATE FUNCTION kubescribe_run_duration_bounds() RETURNS float8[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400]::float8[] $$;

CREATE FUNCTION kubescribe_fire_lag_bounds() RETURNS float8[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]::float8[] $$;

-- Finished runs by job, status, trigger, executor and duration bucket (`le`; NULL: no duration, the
-- run never started). `duration_sum` in seconds.
CREATE TABLE run_totals (
  job          text NOT NULL,
  status       text NOT NULL,
  trigger      text NOT NULL,
  executor     text NOT NULL,
  le           float8,
  runs         bigint NOT NULL DEFAULT 0,
  duration_sum float8 NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX run_totals_key_idx ON run_totals (job, status, trigger, executor, (coalesce(le, -1)));

CREATE FUNCTION runs_count_finished() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
  duration float8 := CASE WHEN NEW.started_at IS NOT NULL AND NEW.finished_at IS NOT NULL
                          THEN greatest(date_part('epoch', NEW.finished_at - NEW.started_at), 0) END;
BEGIN
  INSERT INTO run_totals AS t (job, status, trigger, executor, le, runs, duration_sum)
  VALUES (NEW.job, NEW.status, NEW.trigger, NEW.executor,
          CASE WHEN duration IS NOT NULL THEN kubescribe_histogram_le(duration, kubescribe_run_duration_bounds()) END,
          1, coalesce(duration, 0))
  ON CONFLICT (job, status, trigger, executor, (coalesce(le, -1)))
  DO UPDATE SET runs = t.runs + 1, duration_sum = t.duration_sum + EXCLUDED.duration_sum;
  RETURN NULL;
END
$$;
-- A terminal status is reached once (runs_terminal_guard), so each finished run is counted once.
CREATE TRIGGER runs_count_finished AFTER UPDATE OF status ON runs
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status
        AND OLD.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost')
        AND NEW.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost'))
  EXECUTE FUNCTION runs_count_finished();
CREATE TRIGGER runs_count_finished_insert AFTER INSERT ON runs
  FOR EACH ROW
  WHEN (NEW.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost'))
  EXECUTE FUNCTION runs_count_finished();

-- Slots of the ledger by job and state; for slots that started a run, by fire-lag bucket (`lag_le`:
-- the run's created_at − scheduled_for) with the lag's sum in seconds. A slot that changes state
-- moves from one row to the other.
CREATE TABLE schedule_slot_totals (
  job     text NOT NULL,
  state   text NOT NULL,
  lag_le  float8,
  slots   bigint NOT NULL DEFAULT 0,
  lag_sum float8 NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX schedule_slot_totals_key_idx ON schedule_slot_totals (job, state, (coalesce(lag_le, -1)));

CREATE FUNCTION schedule_slots_count() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
  lag float8;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    SELECT greatest(date_part('epoch', r.created_at - OLD.scheduled_for), 0) INTO lag
    FROM runs r WHERE OLD.state = 'started' AND r.run_id = OLD.run_id;
    UPDATE schedule_slot_totals SET slots = slots - 1, lag_sum = lag_sum - coalesce(lag, 0)
    WHERE job = OLD.job AND state = OLD.state
      AND coalesce(lag_le, -1) = coalesce(kubescribe_histogram_le(lag, kubescribe_fire_lag_bounds()), -1);
    lag := NULL;
  END IF;
  SELECT greatest(date_part('epoch', r.created_at - NEW.scheduled_for), 0) INTO lag
  FROM runs r WHERE NEW.state = 'started' AND r.run_id = NEW.run_id;
  INSERT INTO schedule_slot_totals AS t (job, state, lag_le, slots, lag_sum)
  VALUES (NEW.job, NEW.state,
          CASE WHEN lag IS NOT NULL THEN kubescribe_histogram_le(lag, kubescribe_fire_lag_bounds()) END,
          1, coalesce(lag, 0))
  ON CONFLICT (job, state, (coalesce(lag_le, -1)))
  DO UPDATE SET slots = t.slots + 1, lag_sum = t.lag_sum + EXCLUDED.lag_sum;
  RETURN NULL;
END
$$;
CREATE TRIGGER schedule_slots_count AFTER INSERT ON schedule_slots
  FOR EACH ROW EXECUTE FUNCTION schedule_slots_count();
CREATE TRIGGER schedule_slots_count_update AFTER UPDATE OF state, run_id ON schedule_slots
  FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.run_id IS DISTINCT FROM NEW.run_id)
  EXECUTE FUNCTION schedule_slots_count();

-- Notification deliveries by channel and final result (sent, failed, suppressed), counted when the
-- delivery reaches it; pruning deliveries leaves the count.
CREATE TABLE notification_totals (
  channel    text NOT NULL,
  result     text NOT NULL,
  deliveries bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (channel, result)
);

CREATE FUNCTION notification_deliveries_count() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO notification_totals AS t (channel, result, deliveries) VALUES (NEW.channel, NEW.state, 1)
  ON CONFLICT (channel, result) DO UPDATE SET deliveries = t.deliveries + 1;
  RETURN NULL;
END
$$;
CREATE TRIGGER notification_deliveries_count AFTER UPDATE OF state ON notification_deliveries
  FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state AND NEW.state IN ('sent', 'failed', 'suppressed'))
  EXECUTE FUNCTION notification_deliveries_count();
CREATE TRIGGER notification_deliveries_count_insert AFTER INSERT ON notification_deliveries
  FOR EACH ROW
  WHEN (NEW.state IN ('sent', 'failed', 'suppressed'))
  EXECUTE FUNCTION notification_deliveries_count();

-- ---------------------------------------------------------------------------------------------
-- Backfill: the totals of the history already recorded, computed as the triggers would have. A
-- function, so that an operator (or the benchmark, which seeds with the triggers off) can recompute
-- them from the record: `SELECT kubescribe_rebuild_totals();` in a quiet moment, as it locks the
-- totals against the triggers until it commits.
CREATE FUNCTION kubescribe_rebuild_totals() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE run_totals, schedule_slot_totals, notification_totals IN EXCLUSIVE MODE;
  DELETE FROM run_totals;
  DELETE FROM schedule_slot_totals;
  DELETE FROM notification_totals;

  INSERT INTO run_totals (job, status, trigger, executor, le, runs, duration_sum)
  SELECT job, status, trigger, executor, kubescribe_histogram_le(duration_seconds, kubescribe_run_duration_bounds()),
         count(*), coalesce(sum(duration_seconds), 0)
  FROM finished_runs
  GROUP BY 1, 2, 3, 4, 5;

  INSERT INTO schedule_slot_totals (job, state, lag_le, slots, lag_sum)
  SELECT job, state, kubescribe_histogram_le(lag, kubescribe_fire_lag_bounds()), count(*), coalesce(sum(lag), 0)
  FROM (SELECT s.job, s.state,
               CASE WHEN s.state = 'started' THEN greatest(date_part('epoch', r.created_at - s.scheduled_for), 0) END AS lag
        FROM schedule_slots s LEFT JOIN runs r ON r.run_id = s.run_id) AS x
  GROUP BY 1, 2, 3;

  INSERT INTO notification_totals (channel, result, deliveries)
  SELECT channel, state, count(*) FROM notification_deliveries
  WHERE state IN ('sent', 'failed', 'suppressed')
  GROUP BY 1, 2;
END
$$;

SELECT kubescribe_rebuild_totals();
