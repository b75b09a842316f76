-- KubeScribe RunLog, version 2: API tokens and the schedule-slot ledger.

-- Bearer tokens for the API. Only a SHA-256 of each token is kept; the token itself is shown once.
CREATE TABLE api_tokens (
  token_id     uuid PRIMARY KEY,
  name         text NOT NULL UNIQUE,
  scope        text NOT NULL CHECK (scope IN ('read', 'trigger', 'admin')),
  token_hash   text NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text,
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz
);

-- Every expected fire time of every schedule, so that missed and skipped runs are facts.
CREATE TABLE schedule_slots (
  job           text NOT NULL REFERENCES jobs (name),
  scheduled_for timestamptz NOT NULL,
  state         text NOT NULL CHECK (state IN ('expected', 'started', 'skipped', 'missed')),
  run_id        uuid REFERENCES runs (run_id),
  reason        text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job, scheduled_for)
);
CREATE INDEX schedule_slots_state_idx ON schedule_slots (state, scheduled_for);
CREATE INDEX schedule_slots_run_idx ON schedule_slots (run_id) WHERE run_id IS NOT NULL;
