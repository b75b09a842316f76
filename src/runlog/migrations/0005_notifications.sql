-- KubeScribe RunLog, version 5: the notification outbox, its deliveries and every delivery attempt
-- (docs/notifications.md). Runs on PostgreSQL 13+ and PGlite.
-- Keys are gen_random_uuid() rather than identity columns: a sequence needs its own USAGE grant,
-- and a runner whose database role may only write rows must never fail to record a run's end.

-- The outbox: one row per thing worth telling someone about. Run outcomes are written by a trigger
-- on `runs`, in the transaction that changes the status, so no writer of a status can forget them;
-- the monitors add `late`, `missed` and `abnormal`. `dedupe_key` makes every fact one row.
CREATE TABLE notification_events (
  event_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind          text NOT NULL CHECK (kind IN
                  ('succeeded', 'failed', 'timed_out', 'lost', 'missed', 'late', 'abnormal')),
  job           text NOT NULL REFERENCES jobs (name),
  run_id        uuid REFERENCES runs (run_id),
  scheduled_for timestamptz,
  dedupe_key    text NOT NULL UNIQUE,
  detail        jsonb NOT NULL DEFAULT '{}',
  -- clock_timestamp, not now(): events written in one transaction (a monitor pass) keep their order
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- set once the rules were applied and the deliveries written; `outcome` says what was decided
  dispatched_at timestamptz,
  outcome       jsonb
);
CREATE INDEX notification_events_pending_idx ON notification_events (created_at) WHERE dispatched_at IS NULL;
CREATE INDEX notification_events_job_idx ON notification_events (job, created_at);
CREATE INDEX notification_events_run_idx ON notification_events (run_id) WHERE run_id IS NOT NULL;

-- One message to one channel: pending → sending → sent | failed (retries exhausted), or suppressed
-- by the rules (repeat within the throttle window, maintenance window) with the reason.
CREATE TABLE notification_deliveries (
  delivery_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id        uuid NOT NULL REFERENCES notification_events (event_id),
  job             text NOT NULL,
  run_id          uuid,
  channel         text NOT NULL,
  rule            text NOT NULL,
  state           text NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'suppressed')),
  reason          text,
  summary         text,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_owner     text,
  lease_until     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  sent_at         timestamptz,
  UNIQUE (event_id, channel)
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at)
  WHERE state IN ('pending', 'sending');
CREATE INDEX notification_deliveries_run_idx ON notification_deliveries (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX notification_deliveries_job_idx ON notification_deliveries (job, channel, created_at DESC);

-- Every attempt to send a delivery, with its result: what `GET /runs/{run_id}` shows.
CREATE TABLE notification_attempts (
  delivery_id uuid NOT NULL REFERENCES notification_deliveries (delivery_id),
  attempt     integer NOT NULL CHECK (attempt > 0),
  sender      text NOT NULL,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  ok          boolean NOT NULL,
  error       text,
  PRIMARY KEY (delivery_id, attempt)
);

-- The run's own record comes first: should the outbox insert fail (a role without INSERT on this
-- table after an upgrade), the status change still commits, with a warning in the server log, and the
-- notifier's sweep writes the missing event later (docs/notifications.md#guarantees).
CREATE FUNCTION runs_notification_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    INSERT INTO notification_events (kind, job, run_id, dedupe_key)
    VALUES (NEW.status, NEW.job, NEW.run_id, 'run:' || NEW.run_id::text)
    ON CONFLICT (dedupe_key) DO NOTHING;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'kubescribe: no notification event for run %: %', NEW.run_id, SQLERRM;
  END;
  RETURN NULL;
END
$$;
-- cancelled is left out: someone chose it, and no rule alerts on it.
CREATE TRIGGER runs_notification_outbox AFTER UPDATE OF status ON runs
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status
        AND NEW.status IN ('succeeded', 'failed', 'timed_out', 'lost'))
  EXECUTE FUNCTION runs_notification_outbox();
-- A run may be recorded already finished (a runner replaying its offline buffer, a rejected trigger).
CREATE TRIGGER runs_notification_outbox_insert AFTER INSERT ON runs
  FOR EACH ROW
  WHEN (NEW.status IN ('succeeded', 'failed', 'timed_out', 'lost'))
  EXECUTE FUNCTION runs_notification_outbox();
