-- Log text compressed with lz4 where the server has it (PostgreSQL 14+ built with lz4, as Debian's and
-- the official images are): a fast child's output cost PostgreSQL ~40% less CPU to store than with
-- the default pglz (60-70 ms against 110-160 ms per 10 MB here), for ~25% more disk. PostgreSQL 13
-- and PGlite (no lz4 in its build) keep pglz. Only new values change: stored chunks stay as they are.
DO $$
BEGIN
  IF current_setting('server_version_num')::integer >= 140000 THEN
    EXECUTE 'ALTER TABLE run_logs ALTER COLUMN text SET COMPRESSION lz4';
  END IF;
EXCEPTION WHEN feature_not_supported THEN
  NULL;
END
$$;
