-- PLACEHOLDER on branch r4 only, so that 0009_run_retries.sql is in sequence: the real version 8
-- (runner credentials) comes from the runner-auth branch, and a merge must take that file instead
-- of this one (git reports the add/add conflict). This file creates nothing.
SELECT 1;
