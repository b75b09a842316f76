-- Placeholder for migration 0013, which belongs to the stats-speed branch. It exists only so that
-- this branch's 0014 is in sequence; when both branches are merged, delete this file and keep
-- stats-speed's 0013 (loadMigrations refuses two files numbered 0013, so it cannot be missed).
SELECT 1;
