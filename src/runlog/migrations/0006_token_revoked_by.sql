-- KubeScribe RunLog, version 6: who revoked an API token (`token:<name>` over the API, the OS user
-- from the CLI), next to when, so a token's whole life is in the RunLog and not only in a server log.
ALTER TABLE api_tokens ADD COLUMN revoked_by text;
