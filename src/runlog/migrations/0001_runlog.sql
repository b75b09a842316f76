-- KubeScribe RunLog, version 1: jobs, their revisions, runs, run events and run logs.
-- Documented table by table in docs/runlog.md. Runs on PostgreSQL 13+ and PGlite.

CREATE TABLE jobs (
  name             text PRIMARY KEY,
  description      text,
  tenant           text,
  -- false for a job seen only in `kubescribe run --job X` without a definition in kubescribe.yaml
  declared         boolean NOT NULL DEFAULT true,
  current_revision integer,
  suspended        boolean NOT NULL DEFAULT false,
  labels           jsonb NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  -- set when the job disappears from the config; its history stays
  removed_at       timestamptz
);

CREATE TABLE job_revisions (
  job          text NOT NULL REFERENCES jobs (name),
  revision     integer NOT NULL CHECK (revision > 0),
  definition   jsonb NOT NULL,
  content_hash text NOT NULL,
  source       text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job, revision)
);
CREATE INDEX job_revisions_hash_idx ON job_revisions (job, content_hash);

CREATE TABLE runs (
  run_id          uuid PRIMARY KEY,
  job             text NOT NULL REFERENCES jobs (name),
  job_revision    integer,
  trigger         text NOT NULL CHECK (trigger IN ('schedule', 'manual', 'api', 'retry', 'chain')),
  triggered_by    text,
  params          jsonb NOT NULL DEFAULT '{}',
  status          text NOT NULL CHECK (status IN
                    ('queued', 'starting', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'lost')),
  attempt         integer NOT NULL DEFAULT 1 CHECK (attempt > 0),
  retry_of        uuid REFERENCES runs (run_id),
  executor        text NOT NULL DEFAULT 'local',
  -- {"pid": 123, "host": "..."} locally; {"namespace", "job", "pod"} on Kubernetes
  executor_ref    jsonb NOT NULL DEFAULT '{}',
  image           text,
  command         jsonb,
  tenant          text,
  labels          jsonb NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  heartbeat_at    timestamptz,
  exit_code       integer,
  signal          text,
  error_type      text,
  error_message   text,
  error_tail      text,
  outputs         jsonb NOT NULL DEFAULT '{}',
  metrics         jsonb NOT NULL DEFAULT '{}',
  idempotency_key text UNIQUE,
  log_bytes       bigint NOT NULL DEFAULT 0,
  log_dropped_bytes bigint NOT NULL DEFAULT 0,
  FOREIGN KEY (job, job_revision) REFERENCES job_revisions (job, revision)
);
CREATE INDEX runs_job_created_idx ON runs (job, created_at DESC, run_id DESC);
CREATE INDEX runs_created_idx ON runs (created_at DESC, run_id DESC);
CREATE INDEX runs_status_idx ON runs (status, created_at DESC);
CREATE INDEX runs_trigger_idx ON runs (trigger, created_at DESC);
CREATE INDEX runs_retry_of_idx ON runs (retry_of) WHERE retry_of IS NOT NULL;
-- the reaper looks for live runs whose heartbeat stopped
CREATE INDEX runs_live_idx ON runs (heartbeat_at) WHERE status IN ('starting', 'running');

-- A terminal run never changes state, whatever code or person issues the UPDATE.
CREATE FUNCTION runs_terminal_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost')
     AND (NEW.status IS DISTINCT FROM OLD.status
          OR NEW.exit_code IS DISTINCT FROM OLD.exit_code
          OR NEW.finished_at IS DISTINCT FROM OLD.finished_at) THEN
    RAISE EXCEPTION 'run % is % (terminal) and cannot change', OLD.run_id, OLD.status
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER runs_terminal_guard BEFORE UPDATE ON runs
  FOR EACH ROW EXECUTE FUNCTION runs_terminal_guard();

CREATE TABLE run_events (
  -- client-generated UUIDv7 so that a runner replaying its offline buffer never records an event twice
  event_id    uuid PRIMARY KEY,
  run_id      uuid NOT NULL REFERENCES runs (run_id),
  at          timestamptz NOT NULL DEFAULT now(),
  type        text NOT NULL,
  from_status text,
  to_status   text,
  actor       text,
  detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX run_events_run_idx ON run_events (run_id, at, event_id);

-- Audit records are append-only.
CREATE FUNCTION run_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'run_events is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER run_events_append_only BEFORE UPDATE OR DELETE ON run_events
  FOR EACH ROW EXECUTE FUNCTION run_events_append_only();

CREATE TABLE run_logs (
  run_id uuid NOT NULL REFERENCES runs (run_id),
  seq    integer NOT NULL,
  stream text NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
  at     timestamptz NOT NULL,
  text   text NOT NULL,
  PRIMARY KEY (run_id, seq)
);
