// A million finished runs in one statement, for the benchmarks that read the RunLog at scale
// (bench/api.ts's GET /runs, bench/ui.ts's pages): shared so both measure the same history.
import { performance } from 'node:perf_hooks';
import type { Db } from '../src/runlog/db.ts';
import { progress } from './report.ts';

/**
 * Seeds `rows` finished runs of `jobs` (round-robin), spread over the last 90 days, and ANALYZEs;
 * returns the milliseconds it took.
 */
export async function seedFinishedRuns(db: Db, rows: number, jobs: readonly string[]): Promise<number> {
  for (const job of jobs) {
    await db.query('INSERT INTO jobs (name, declared) VALUES ($1, false) ON CONFLICT (name) DO NOTHING', [job]);
  }
  const started = performance.now();
  // History, not news: the outbox, retry and totals triggers would each write a row per seeded run,
  // and the run-number trigger would update its job's counter a million times (a 50-row table that
  // bloats until each update crawls: half an hour on a loaded 2-CPU machine). Run numbers are set
  // here, the counters, the all-time totals and the daily rollup rebuilt after, in one statement each.
  // One transaction: the table's lock is held from the first ALTER to the last, so nothing (autovacuum
  // of the fresh rows) stands between them; the lock wait allowed is the seed's, not the RunLog's 5 s.
  await db.transaction(async (tx) => {
    await tx.query("SET LOCAL lock_timeout = '10min'");
    await tx.query("SET LOCAL statement_timeout = '30min'");
    await tx.query('ALTER TABLE runs DISABLE TRIGGER USER');
    // One statement: the jobs round-robin (run number = the job's count so far), ~5 % failed and a
    // few other end states, triggers mostly schedule, created_at spread evenly (with jitter) over the
    // last 90 days, older than the bench's own runs.
    await tx.query(
      `INSERT INTO runs (run_id, job, run_number, trigger, triggered_by, params, status, attempt, executor, command, labels,
                         created_at, started_at, finished_at, heartbeat_at, exit_code, error_type, error_message, log_bytes)
       SELECT gen_random_uuid(), jobs[1 + i % cardinality(jobs)], 1 + i / cardinality(jobs), triggers[1 + (i / 4) % 8],
              CASE WHEN (i / 4) % 8 < 5 THEN 'scheduler@bench' ELSE 'token:bench' END,
              jsonb_build_object('date', to_char(t, 'YYYY-MM-DD'), 'batch', i % 100),
              st, 1, 'local', '["python", "script.py"]'::jsonb,
              jsonb_build_object('team', CASE WHEN i % 2 = 0 THEN 'data' ELSE 'ops' END),
              t, t + interval '1 second', t + interval '1 second' + (i % 600) * interval '1 second', t + interval '1 second',
              CASE st WHEN 'succeeded' THEN 0 WHEN 'failed' THEN 1 ELSE NULL END,
              CASE st WHEN 'failed' THEN 'ExitCode' WHEN 'timed_out' THEN 'Timeout' WHEN 'cancelled' THEN 'Cancelled' END,
              CASE st WHEN 'failed' THEN 'exited with code 1' END,
              (i % 5000) * 100
       FROM (
         SELECT i,
                now() - interval '1 minute' - (($1::bigint - i) * (90 * 86400.0 / $1::bigint) + (i % 7) * 0.1) * interval '1 second' AS t,
                CASE WHEN i % 20 = 0 THEN 'failed' WHEN i % 97 = 0 THEN 'timed_out' WHEN i % 101 = 0 THEN 'cancelled'
                     WHEN i % 499 = 0 THEN 'lost' ELSE 'succeeded' END AS st,
                $2::text[] AS jobs,
                ARRAY['schedule','schedule','schedule','schedule','schedule','manual','api','retry'] AS triggers
         FROM generate_series(1, $1::bigint) AS i
       ) AS s`,
      [rows, [...jobs]],
    );
    await tx.query('ALTER TABLE runs ENABLE TRIGGER USER');
  });
  await db.query('UPDATE jobs SET last_run_number = (SELECT coalesce(max(run_number), 0) FROM runs WHERE runs.job = jobs.name)');
  await db.query('SELECT kubescribe_rebuild_totals()');
  await db.query('SELECT kubescribe_rebuild_run_days()');
  progress(`seeded ${rows} runs in ${((performance.now() - started) / 1000).toFixed(1)} s; ANALYZE`);
  await db.query('ANALYZE runs');
  await db.query('ANALYZE run_days');
  return performance.now() - started;
}
