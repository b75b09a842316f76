-- The admin UI's session keys (docs/ui.md, "The session cookie"). A server seals each sign-in cookie
-- with the newest key and accepts cookies of any key still in this table, so a restarted server and
-- every replica of one RunLog accept each other's cookies. The first server to need a key inserts
-- one; rotating (`kubescribe ui rotate-key`) inserts a newer key and deletes the older ones, which
-- signs everyone out. `secret` is 32 random bytes (base64url): with it and a stolen cookie, the API
-- token inside can be read, so reporting roles (Grafana) should get no grant on this table.
-- key_id is computed by the inserting statement, not an identity column: no sequence grant needed.
CREATE TABLE ui_session_keys (
  key_id     integer PRIMARY KEY CHECK (key_id > 0),
  secret     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
