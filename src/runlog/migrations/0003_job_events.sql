-- KubeScribe RunLog, version 3: an append-only audit trail for actions on jobs (suspend, resume),
-- as run_events is for runs.
CREATE TABLE job_events (
  event_id uuid PRIMARY KEY,
  job      text NOT NULL REFERENCES jobs (name),
  at       timestamptz NOT NULL DEFAULT now(),
  type     text NOT NULL,
  actor    text,
  detail   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX job_events_job_idx ON job_events (job, at);

CREATE FUNCTION job_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'job_events is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER job_events_append_only BEFORE UPDATE OR DELETE ON job_events
  FOR EACH ROW EXECUTE FUNCTION job_events_append_only();
