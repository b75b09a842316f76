-- KubeScribe RunLog, version 8: runner credentials. A runner that records through the API (instead of
-- holding DATABASE_URL) presents a run token (`ksr_…`) that can touch one run, or create and write
-- runs of one job (a CronJob's runs). Only a SHA-256 of each token is kept; the token is shown once.
-- No foreign key to runs: a credential may be minted for a run id before the run is written.
CREATE TABLE runner_credentials (
  credential_id uuid PRIMARY KEY,
  token_hash    text NOT NULL UNIQUE,
  run_id        uuid,
  job           text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text,
  expires_at    timestamptz NOT NULL,
  CHECK ((run_id IS NULL) <> (job IS NULL))
);
CREATE INDEX runner_credentials_expires_idx ON runner_credentials (expires_at);
