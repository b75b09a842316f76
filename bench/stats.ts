/**
 * Reporting benchmark: job stats and the metrics snapshot over a long history, on PostgreSQL.
 *
 *   1. seed:      5 M runs over 2 years for 200 jobs (INSERT … SELECT FROM generate_series, in slices),
 *                 a schedule slot for each scheduled run plus some missed and skipped ones, the
 *                 all-time totals rebuilt by migration 10's own function, then VACUUM ANALYZE
 *   2. stats:     p50/p99 of one job's 30-day stats (the module, and GET /jobs/{name}/stats over HTTP),
 *                 of GET /stats for every job, and of the metrics snapshot /metrics reads
 *      compare:   the window aggregates of every job through the daily rollup (migration 13) against the
 *                 same read from every run of the window and against the rollup's first statement (every
 *                 value fully sorted), and a job's 90-day daily buckets through the rollup against them
 *                 read from every run, interleaved, with the PostgreSQL backend's CPU time (from /proc,
 *                 when the server runs on this machine)
 *   3. size:      the bytes one run costs in the RunLog: a typical run recorded by the real runner
 *                 (runs row, its events, its log, its outbox row), and the seeded table with its indexes
 *
 * A benchmark, not a test: it prints figures and verdicts against the targets of issue 14 and exits 0
 * whatever they are; non-zero only when a measurement failed. Requests are sequential (latency, not
 * throughput), from this process to the real `buildApp` listening on 127.0.0.1. Everything lives in a
 * fresh schema, dropped at the end (--keep leaves it, to explore with psql).
 *
 *   npm run bench:stats [-- --quick | --runs 5000000 --jobs 200 --requests 200 --keep]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { buildApp } from '../src/api/app.ts';
import { statsRoutes } from '../src/api/routes/stats.ts';
import { parseConfig } from '../src/config/job-config.ts';
import { RecordingExecutor } from '../src/executors/executor.ts';
import { readMetricsSnapshot } from '../src/reports/metrics-snapshot.ts';
import { jobStats, windowRange } from '../src/reports/stats.ts';
import type { Db, Queryable } from '../src/runlog/db.ts';
import { redactUrl } from '../src/runlog/db.ts';
import { openRunLogDb } from '../src/runlog/open-runlog.ts';
import { metricBuckets, runBuckets, statsJobNames, windowAggregates, windowDays } from '../src/runlog/sql/stats.ts';
import { createToken } from '../src/runlog/sql/tokens.ts';
import { type Cleanups, MeasurementError, numberOption, out, progress, quantile, runWithCleanups, table } from './report.ts';

const TARGETS = { jobStatsP99Ms: 50, allStatsP99Ms: 200 };
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const YEARS = 2;

const USAGE = `usage: npm run bench:stats [-- options]   (or: node --import tsx bench/stats.ts [options])

  --runs N        runs seeded over ${YEARS} years (default 5000000)
  --jobs N        jobs they belong to (default 200)
  --requests N    sequential requests per measured query, after warm-ups (default 200; GET /stats: a quarter)
  --keep          leave the schema (its name is printed) instead of dropping it
  --schema NAME   measure a schema an earlier --keep run seeded (no seeding; it is left as it is);
                  when no schema of that name exists, seed it under that name and keep it
  --quick         a short run: --runs 500000 --jobs 50 --requests 50
  -h, --help      this text
`;

interface Options {
  runs: number;
  jobs: number;
  requests: number;
  keep: boolean;
  schema: string | null;
}

function readOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' }, jobs: { type: 'string' }, requests: { type: 'string' },
      keep: { type: 'boolean' }, schema: { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return null;
  const quick = values.quick ?? false;
  return {
    runs: numberOption('runs', values.runs, quick ? 500_000 : 5_000_000, 10_000, 50_000_000),
    jobs: numberOption('jobs', values.jobs, quick ? 50 : 200, 1, 10_000),
    requests: numberOption('requests', values.requests, quick ? 50 : 200, 10, 100_000),
    keep: (values.keep ?? false) || values.schema !== undefined,
    schema: values.schema ?? null,
  };
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(value < 10 ? 2 : 1)} ms` : 'n/a');
const jobName = (i: number) => `job-${String(i).padStart(3, '0')}`;

// ---------------------------------------------------------------------------------------------
// Seeding

/**
 * Runs i = 1…N, evenly spread over the last two years and round-robin over the jobs, so each job has
 * N/jobs runs. Durations are per job (from seconds to ~25 min) with ±50 % spread; about 4 % fail,
 * 0.5 % time out, 0.2 % are lost and 0.3 % cancelled; 80 % scheduled; a quarter of the jobs on
 * Kubernetes. Pseudo-random but deterministic (a multiplicative hash of i), so two runs compare.
 */
const SEED_RUNS_SQL = `
INSERT INTO runs (run_id, job, run_number, trigger, triggered_by, status, attempt, executor, created_at, started_at,
                  finished_at, heartbeat_at, exit_code, error_type, error_message, metrics, log_bytes)
SELECT gen_random_uuid(), 'job-' || lpad((i % $3)::text, 3, '0'), (i / $3)::int + 1,
       CASE WHEN h % 10 < 8 THEN 'schedule' WHEN h % 10 = 8 THEN 'manual' ELSE 'api' END,
       CASE WHEN h % 10 < 8 THEN 'scheduler' ELSE 'token:bench' END,
       st, 1, CASE WHEN (i % $3) % 4 = 0 THEN 'kubernetes' ELSE 'local' END,
       t, t + wait, t + wait + dur, t + wait + dur,
       CASE st WHEN 'succeeded' THEN 0 WHEN 'failed' THEN 1 END,
       CASE st WHEN 'failed' THEN 'ExitCode' WHEN 'timed_out' THEN 'Timeout' WHEN 'lost' THEN 'Lost' WHEN 'cancelled' THEN 'Cancelled' END,
       CASE st WHEN 'failed' THEN 'exited with code 1' || chr(10) || 'Traceback (most recent call last): …' END,
       CASE WHEN st = 'succeeded' THEN jsonb_build_object('rows_read', 10000 + h % 5000) ELSE '{}'::jsonb END,
       (h % 50000) * 10
FROM (
  SELECT i, h, t,
         (h % 5000) * interval '1 millisecond' AS wait,
         (5 + ((i % $3) % 50) * 30) * (0.5 + (h % 1000) / 1000.0) * interval '1 second' AS dur,
         CASE WHEN h % 1000 < 40 THEN 'failed' WHEN h % 1000 < 45 THEN 'timed_out' WHEN h % 1000 < 47 THEN 'lost'
              WHEN h % 1000 < 50 THEN 'cancelled' ELSE 'succeeded' END AS st
  FROM (
    SELECT i, (i * 2654435761) % 4294967296 / 7 AS h,
           $5::timestamptz - (($4::bigint - i) * ($6::float8 * 86400.0 / $4::bigint)) * interval '1 second' AS t
    FROM generate_series($1::bigint, $2::bigint) AS i
  ) AS base
) AS s`;

async function seed(db: Queryable, options: Options, now: Date): Promise<{ seconds: number; slots: number }> {
  const started = performance.now();
  await db.query(`INSERT INTO jobs (name, declared) SELECT 'job-' || lpad(j::text, 3, '0'), false FROM generate_series(0, $1 - 1) AS j`, [options.jobs]);
  // Every job on a schedule, so the snapshot computes next fire times as it would in production.
  await db.query(
    `INSERT INTO job_revisions (job, revision, definition, content_hash)
     SELECT name, 1, jsonb_build_object('schedule', '*/30 * * * *', 'time_zone', 'UTC'), 'bench' FROM jobs`,
  );
  await db.query('UPDATE jobs SET current_revision = 1');
  // History, not news: the outbox, retry and totals triggers would each write a row per seeded run
  // (the totals are rebuilt below in one statement), and run numbers are set here directly.
  await db.query('ALTER TABLE runs DISABLE TRIGGER USER');
  await db.query('ALTER TABLE schedule_slots DISABLE TRIGGER USER');
  const slice = 500_000;
  for (let lo = 1; lo <= options.runs; lo += slice) {
    const hi = Math.min(lo + slice - 1, options.runs);
    await db.query(SEED_RUNS_SQL, [lo, hi, options.jobs, options.runs, now, YEARS * 365]);
    progress(`seed: ${hi} runs (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  await db.query('UPDATE jobs SET last_run_number = (SELECT coalesce(max(run_number), 0) FROM runs WHERE runs.job = jobs.name)');
  // A slot for each scheduled run, fired 0–3 s after its time; one slot in 200 missed, one in 400 skipped.
  await db.query(
    `INSERT INTO schedule_slots (job, scheduled_for, state, run_id)
     SELECT job, created_at - (run_number % 3000) * interval '1 millisecond', 'started', run_id FROM runs WHERE trigger = 'schedule'`,
  );
  await db.query(
    `INSERT INTO schedule_slots (job, scheduled_for, state, reason)
     SELECT job, created_at - interval '1 hour', CASE WHEN run_number % 400 = 0 THEN 'skipped' ELSE 'missed' END, 'bench'
     FROM runs WHERE trigger = 'schedule' AND run_number % 200 = 0
     ON CONFLICT DO NOTHING`,
  );
  await db.query('ALTER TABLE runs ENABLE TRIGGER USER');
  await db.query('ALTER TABLE schedule_slots ENABLE TRIGGER USER');
  // A few runs live now: queued and running, as a busy day has.
  await db.query(
    `INSERT INTO runs (run_id, job, trigger, status, executor, created_at, started_at, heartbeat_at)
     SELECT gen_random_uuid(), name, 'api', CASE WHEN j % 2 = 0 THEN 'queued' ELSE 'running' END, 'local',
            $1::timestamptz - interval '10 seconds', CASE WHEN j % 2 = 1 THEN $1::timestamptz - interval '5 seconds' END, $1
     FROM (SELECT name, row_number() OVER (ORDER BY name) AS j FROM jobs) AS x WHERE j <= 20`,
    [now],
  );
  progress('seed: rebuilding the all-time totals and the daily rollup (kubescribe_rebuild_totals, kubescribe_rebuild_run_days)');
  await db.query('SELECT kubescribe_rebuild_totals()');
  await db.query('SELECT kubescribe_rebuild_run_days()');
  progress('seed: VACUUM ANALYZE');
  for (const table of ['runs', 'schedule_slots', 'run_totals', 'schedule_slot_totals', 'run_days', 'jobs']) await db.query(`VACUUM ANALYZE ${table}`);
  const [{ n } = { n: 0 }] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM schedule_slots');
  return { seconds: (performance.now() - started) / 1000, slots: n };
}

// ---------------------------------------------------------------------------------------------
// The baseline: the window aggregates read from every run of the window (the statement before the
// daily rollup of migration 13), to compare with in the same run, since the machine's load moves
// every absolute figure.
const AGGREGATES_FROM_RUNS_SQL = `
SELECT j.job, a.* FROM unnest($1::text[]) AS j(job)
CROSS JOIN LATERAL (
  SELECT count(*) AS n, count(*) FILTER (WHERE f.status = 'succeeded') AS succeeded,
         percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY f.duration_seconds) AS duration_percentiles,
         max(f.duration_seconds) AS duration_max,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY f.queue_wait_seconds) AS queue_wait_p95,
         count(*) FILTER (WHERE f.failing) AS failing, min(f.ended_at) FILTER (WHERE f.failing) AS first_failure_at,
         max(f.ended_at) FILTER (WHERE f.failing) AS last_failure_at
  FROM finished_runs f WHERE f.job = j.job AND f.ended_at >= $2 AND f.ended_at < $3
) AS a WHERE a.n > 0`;

// The window aggregates through run_days as migration 13 first read them (stats-speed): every
// duration and queue wait of the window unnested in FROM (a tuplestore copy) and fully sorted.
const S = ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'];
const ROLLUP_EDGE = (lo: string, hi: string) => `SELECT ${S.map((status) => `(f.status = '${status}')::int AS ${status}`).join(', ')},
  CASE WHEN f.duration_seconds IS NULL THEN '{}'::float8[] ELSE ARRAY[f.duration_seconds] END,
  CASE WHEN f.queue_wait_seconds IS NULL THEN '{}'::float8[] ELSE ARRAY[f.queue_wait_seconds] END,
  CASE WHEN f.failing THEN ARRAY[f.ended_at] ELSE '{}'::timestamptz[] END
  FROM finished_runs f WHERE f.job = j.job AND f.ended_at >= ${lo} AND f.ended_at < ${hi}`;
const AGGREGATES_ROLLUP_BEFORE_SQL = `
SELECT j.job, a.counts,
       (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99, 1]) WITHIN GROUP (ORDER BY v) FROM unnest(a.durations) AS v) AS duration_percentiles,
       (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY v) FROM unnest(a.queue_waits) AS v) AS queue_wait_p95,
       cardinality(a.failure_ends) AS failing,
       (SELECT min(t) FROM unnest(a.failure_ends) AS t) AS first_failure_at, (SELECT max(t) FROM unnest(a.failure_ends) AS t) AS last_failure_at
FROM unnest($1::text[]) AS j(job)
CROSS JOIN LATERAL (
  SELECT ARRAY[${S.map((status) => `coalesce(sum(x.${status}), 0)::int`).join(', ')}] AS counts,
         coalesce(sum(${S.map((status) => `x.${status}`).join(' + ')}), 0) AS n,
         kubescribe_array_cat_agg(x.durations) AS durations, kubescribe_array_cat_agg(x.queue_waits) AS queue_waits,
         kubescribe_array_cat_agg(x.failure_ends) AS failure_ends
  FROM (
    SELECT ${S.map((status) => `d.${status}`).join(', ')}, d.durations, d.queue_waits, d.failure_ends
    FROM run_days d WHERE d.job = j.job AND d.day >= $4 AND d.day < $5
    UNION ALL ${ROLLUP_EDGE('$2', '$4')}
    UNION ALL ${ROLLUP_EDGE('$5', '$3')}
  ) AS x
) AS a
WHERE a.n > 0`;

// A job's daily buckets from every run of the window (the statement before they read run_days).
const BUCKETS_FROM_RUNS_SQL = `
WITH b AS (
  SELECT start FROM generate_series(date_trunc('day', $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                                    $3::timestamptz - interval '1 microsecond', interval '1 day') AS start
), agg AS (
  SELECT date_trunc('day', ended_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start, count(*)::int AS runs,
         count(*) FILTER (WHERE succeeded)::int AS succeeded, count(*) FILTER (WHERE failing)::int AS failed,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds) AS p95
  FROM finished_runs WHERE job = $1 AND ended_at >= $2 AND ended_at < $3 GROUP BY 1
)
SELECT b.start, coalesce(agg.runs, 0) AS runs, coalesce(agg.succeeded, 0) AS succeeded, coalesce(agg.failed, 0) AS failed,
       agg.p95 AS p95_duration_seconds
FROM b LEFT JOIN agg ON agg.start = b.start ORDER BY b.start`;

// A job's daily metric series as read before: finished_runs joined back to runs for the metrics.
const METRIC_VIA_VIEW_SQL = `
WITH b AS (
  SELECT start FROM generate_series(date_trunc('day', $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                                    $3::timestamptz - interval '1 microsecond', interval '1 day') AS start
), v AS (
  SELECT date_trunc('day', coalesce(r.finished_at, r.created_at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start, (r.metrics->>$4)::float8 AS value
  FROM finished_runs f JOIN runs r ON r.run_id = f.run_id
  WHERE f.job = $1 AND f.ended_at >= $2 AND f.ended_at < $3 AND jsonb_typeof(r.metrics->$4) = 'number'
), agg AS (
  SELECT start, count(*)::int AS count, avg(value) AS avg, min(value) AS min, max(value) AS max FROM v GROUP BY start
)
SELECT b.start, coalesce(agg.count, 0) AS count, agg.avg, agg.min, agg.max FROM b LEFT JOIN agg ON agg.start = b.start ORDER BY b.start`;

/** CPU time (user + sys, ms) a local PostgreSQL backend has used so far, from /proc; null when the server is elsewhere. */
function backendCpuMs(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

interface Compared { label: string; wall: number; cpu: number | null }

/**
 * Runs each statement `rounds` times, interleaved, on one connection of its own: median wall time
 * and mean backend CPU per call.
 */
async function compareStatements(url: string, schema: string, rounds: number, statements: Array<{ label: string; run: (client: pg.Client) => Promise<unknown> }>): Promise<Compared[]> {
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${quoteIdent(schema)}` });
  await client.connect();
  try {
    const [{ pid }] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
    const walls = statements.map(() => new Float64Array(rounds));
    const cpus = statements.map(() => 0 as number | null);
    for (const statement of statements) await statement.run(client); // warm-up
    for (let round = 0; round < rounds; round++) {
      for (const [i, statement] of statements.entries()) {
        const cpuBefore = backendCpuMs(pid);
        const began = performance.now();
        await statement.run(client);
        walls[i]![round] = performance.now() - began;
        const cpuAfter = backendCpuMs(pid);
        cpus[i] = cpuBefore === null || cpuAfter === null || cpus[i] === null ? null : cpus[i]! + (cpuAfter - cpuBefore);
      }
    }
    return statements.map((statement, i) => ({ label: statement.label, wall: quantile(walls[i]!, 0.5), cpu: cpus[i] === null ? null : cpus[i]! / rounds }));
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Latency { label: string; n: number; p50: number; p99: number; max: number; target?: number }

async function measure(label: string, n: number, warmup: number, call: (i: number) => Promise<unknown>, target?: number): Promise<Latency> {
  progress(`measure: ${n} x ${label}`);
  for (let i = 0; i < warmup; i++) await call(i);
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const began = performance.now();
    await call(i + warmup);
    samples[i] = performance.now() - began;
  }
  return { label, n, p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), max: Math.max(...samples), target };
}

async function getJson(url: string, token: string): Promise<unknown> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const body = await response.text();
  if (response.status !== 200) throw new MeasurementError(`GET ${url}: ${response.status} ${body.slice(0, 300)}`);
  return JSON.parse(body);
}

/** Records one typical run with the real runner (a log of ~200 lines, a metric, an output) and sums the bytes of its rows. */
async function typicalRunBytes(env: Record<string, string>, db: Db, home: string): Promise<Record<string, number>> {
  const config = join(home, 'kubescribe.yaml');
  writeFileSync(config, 'jobs:\n  typical:\n    command: [sh, -c, "true"]\n');
  const script = 'for i in $(seq 1 200); do echo "2026-01-01T06:00:00Z INFO processed batch $i of 200: 5000 rows read, 4990 written"; done; '
    + 'echo "{\\"metric\\": \\"rows_read\\", \\"value\\": 1000000}" >> "$KUBESCRIBE_OUTPUT"; '
    + 'echo "{\\"output\\": \\"report\\", \\"value\\": {\\"path\\": \\"s3://bucket/report.csv\\"}}" >> "$KUBESCRIBE_OUTPUT"';
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/kubescribe.js'), 'run', '--job', 'typical', '--', 'sh', '-c', script], {
      cwd: home, env: { ...process.env, ...env, KUBESCRIBE_CONFIG: config }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (exit) => (exit === 0 ? resolve(exit) : reject(new MeasurementError(`kubescribe run exited ${exit}: ${err.slice(-500)}`))));
  });
  void code;
  const [row] = await db.query<Record<string, string>>(
    `SELECT (SELECT pg_column_size(r.*) FROM runs r WHERE r.run_id = x.run_id) AS run_row,
            (SELECT coalesce(sum(pg_column_size(e.*)), 0) FROM run_events e WHERE e.run_id = x.run_id) AS events,
            (SELECT count(*) FROM run_events e WHERE e.run_id = x.run_id) AS event_rows,
            (SELECT coalesce(sum(pg_column_size(l.*)), 0) FROM run_logs l WHERE l.run_id = x.run_id) AS log,
            (SELECT count(*) FROM run_logs l WHERE l.run_id = x.run_id) AS log_rows,
            (SELECT log_bytes FROM runs r WHERE r.run_id = x.run_id) AS log_text,
            (SELECT coalesce(sum(pg_column_size(n.*)), 0) FROM notification_events n WHERE n.run_id = x.run_id) AS outbox
     FROM (SELECT run_id FROM runs WHERE job = 'typical' ORDER BY created_at DESC LIMIT 1) AS x`,
  );
  if (!row) throw new MeasurementError('the typical run was not recorded');
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [key, Number(value)]));
}

// ---------------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  let options: Options | null;
  try {
    options = readOptions(argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    process.stdout.write(USAGE);
    return 0;
  }
  return runWithCleanups((cleanups) => bench(options, cleanups));
}

async function bench(options: Options, cleanups: Cleanups): Promise<number> {
  const benchStart = performance.now();
  const loadAtStart = loadavg()[0]!;
  const url = process.env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
  const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  admin.on('error', () => {});
  try {
    await admin.connect();
  } catch (error) {
    await admin.end().catch(() => {});
    throw new MeasurementError(`cannot connect to PostgreSQL at ${redactUrl(url)}: ${(error as Error).message || String(error)}`);
  }
  cleanups.push(() => admin.end());
  const schema = options.schema ?? `kubescribe_bench_stats_${randomBytes(4).toString('hex')}`;
  // A named schema that does not exist yet is seeded under that name, so a later run can reuse it by name.
  const [{ exists } = { exists: false }] = (await admin.query<{ exists: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS exists', [schema])).rows;
  const seeding = !exists;
  if (seeding) await admin.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
  if (!options.keep) {
    cleanups.push(async () => {
      progress(`dropping schema ${schema}`);
      await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
    });
  }
  const [{ server_version: serverVersion } = { server_version: '?' }] = (await admin.query<{ server_version: string }>('SHOW server_version')).rows;
  const home = mkdtempSync(join(tmpdir(), 'kubescribe-bench-stats-'));
  cleanups.push(async () => rmSync(home, { recursive: true, force: true }));
  const db = await openRunLogDb({ databaseUrl: url, databaseSchema: schema, home });
  cleanups.push(() => db.close());

  const now = new Date();
  let seeded: { seconds: number; slots: number };
  if (seeding) {
    progress(`seed: ${options.runs} runs over ${YEARS} years for ${options.jobs} jobs into ${schema}`);
    // Its own connection: the RunLog's pool holds statements to the server's timeouts (src/runlog/pg-timeouts.ts),
    // and a slice of half a million runs takes longer than a request may.
    const seeder = new pg.Client({ connectionString: url, options: `-c search_path=${quoteIdent(schema)}` });
    await seeder.connect();
    seeded = await seed({ query: async (sql, params) => (await seeder.query(sql, params as unknown[])).rows }, options, now)
      .finally(() => seeder.end());
  } else {
    const [counts] = await db.query<{ runs: number; jobs: number; slots: number }>(
      `SELECT (SELECT count(*)::int FROM runs) AS runs, (SELECT count(*)::int FROM jobs WHERE name LIKE 'job-%') AS jobs,
              (SELECT count(*)::int FROM schedule_slots) AS slots`,
    );
    options.runs = counts!.runs;
    options.jobs = counts!.jobs;
    seeded = { seconds: 0, slots: counts!.slots };
    progress(`reusing ${schema}: ${counts!.runs} runs, ${counts!.jobs} jobs`);
  }

  const app = await buildApp({ db, config: parseConfig('jobs: {}\n', 'bench-stats.yaml'), executor: new RecordingExecutor(), logger: false }, [statsRoutes]);
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  const token = (await createToken(db, { name: `bench-read-${randomBytes(3).toString('hex')}`, scope: 'read', expires_at: null, created_by: 'bench' })).token;

  const n = options.requests;
  const job = (i: number) => jobName((i * 37) % options.jobs);
  const results: Latency[] = [];
  results.push(await measure('jobStats(job, 30d) — module', n, 20, (i) => jobStats(db, job(i), { window: '30d' })));
  results.push(await measure('GET /jobs/{name}/stats?window=30d', n, 20,
    (i) => getJson(`${baseUrl}/jobs/${job(i)}/stats?window=30d`, token), TARGETS.jobStatsP99Ms));
  results.push(await measure('GET /jobs/{name}/stats?window=90d&bucket=1d&metric=rows_read', n, 20,
    (i) => getJson(`${baseUrl}/jobs/${job(i)}/stats?window=90d&bucket=1d&metric=rows_read`, token)));
  results.push(await measure(`GET /stats?window=30d (${options.jobs} jobs)`, Math.max(10, Math.round(n / 4)), 5,
    () => getJson(`${baseUrl}/stats?window=30d`, token), TARGETS.allStatsP99Ms));
  results.push(await measure(`GET /stats?window=7d (${options.jobs} jobs)`, Math.max(10, Math.round(n / 4)), 5,
    () => getJson(`${baseUrl}/stats?window=7d`, token)));
  results.push(await measure('readMetricsSnapshot (what /metrics reads)', n, 20, () => readMetricsSnapshot(db)));

  progress('compare: window aggregates of every job, through the daily rollup and from every run');
  const jobs = await statsJobNames(db);
  // Groups of statements measured together; the first of each is the baseline the others are compared with.
  const compared: Compared[][] = [];
  for (const window of ['30d', '7d'] as const) {
    const { from, to } = windowRange(window, new Date());
    const viaClient = (client: pg.Client): Queryable => ({ query: async (sql, params) => (await client.query(sql, params as unknown[])).rows });
    compared.push(await compareStatements(url, schema, Math.max(5, Math.round(n / 20)), [
      { label: `${window}, ${jobs.length} jobs: from every run (baseline)`, run: (client) => client.query(AGGREGATES_FROM_RUNS_SQL, [jobs, from, to]) },
      { label: `${window}, ${jobs.length} jobs: through run_days, sorting every value (before)`, run: (client) => {
        const { dayFrom, dayTo } = windowDays(from, to);
        return client.query(AGGREGATES_ROLLUP_BEFORE_SQL, [jobs, from, to, dayFrom, dayTo]);
      } },
      { label: `${window}, ${jobs.length} jobs: through run_days`, run: (client) => windowAggregates(viaClient(client), jobs, from, to) },
    ]));
  }
  {
    const { from, to } = windowRange('90d', new Date());
    const viaClient = (client: pg.Client): Queryable => ({ query: async (sql, params) => (await client.query(sql, params as unknown[])).rows });
    compared.push(await compareStatements(url, schema, Math.max(5, Math.round(n / 4)), [
      { label: '90d daily buckets of a job: from every run (baseline)', run: (client) => client.query(BUCKETS_FROM_RUNS_SQL, [job(0), from, to]) },
      { label: '90d daily buckets of a job: through run_days', run: (client) => runBuckets(viaClient(client), job(0), from, to, '1d') },
    ]));
    compared.push(await compareStatements(url, schema, Math.max(5, Math.round(n / 4)), [
      { label: '90d daily metric of a job: finished_runs joined to runs (before)', run: (client) => client.query(METRIC_VIA_VIEW_SQL, [job(0), from, to, 'rows_read']) },
      { label: '90d daily metric of a job: runs alone', run: (client) => metricBuckets(viaClient(client), job(0), 'rows_read', from, to, '1d') },
    ]));
  }

  progress('size: recording a typical run with the real runner');
  const env = { DATABASE_URL: url, KUBESCRIBE_DB_SCHEMA: schema, KUBESCRIBE_HOME: join(home, 'ks') };
  const typical = await typicalRunBytes(env, db, home);
  const [sizes] = await db.query<Record<string, string>>(
    `SELECT pg_relation_size('runs') AS heap, pg_total_relation_size('runs') AS total,
            pg_indexes_size('runs') AS indexes, pg_relation_size('runs_job_ended_idx') + pg_relation_size('runs_job_failed_idx') AS stats_index,
            (SELECT count(*) FROM runs) AS runs, pg_total_relation_size('schedule_slots') AS slots_total,
            pg_total_relation_size('run_totals') AS run_totals, (SELECT count(*) FROM run_totals) AS run_totals_rows,
            pg_total_relation_size('run_days') AS run_days, (SELECT count(*) FROM run_days) AS run_days_rows`,
  );
  const size = Object.fromEntries(Object.entries(sizes!).map(([k, v]) => [k, Number(v)]));

  out(`KubeScribe reporting benchmark — node ${process.version}, ${process.platform}/${process.arch}, ${availableParallelism()} CPUs`);
  out(`  PostgreSQL: ${redactUrl(url)} (server ${serverVersion}), schema ${schema} (${options.keep ? 'kept' : 'new; dropped at the end'})`);
  out(`  load:       1-minute load average ${loadAtStart.toFixed(2)} at the start (other processes compete for the CPUs)`);
  out(`  seeded:     ${options.runs} runs over ${YEARS} years for ${options.jobs} jobs (${Math.round(options.runs / options.jobs)} per job),`);
  out(`              ${seeded.slots} schedule slots, 20 live runs; ${!seeding ? 'seeded by an earlier --keep run' : `in ${seeded.seconds.toFixed(0)} s incl. totals rebuild and VACUUM ANALYZE`}`);
  out(`  requests:   sequential, after warm-ups; HTTP from this process to buildApp on ${baseUrl}`);
  out('');
  out(table(['query', 'n', 'p50', 'p99', 'max', 'target (p99)', 'verdict'], results.map((r) => [
    r.label, String(r.n), ms(r.p50), ms(r.p99), ms(r.max), r.target ? `≤ ${r.target} ms` : '',
    r.target ? (r.p99 <= r.target ? 'meets target' : 'misses target') : '',
  ]), [false, true, true, true, true, false, false]));
  out('');
  out('  window aggregates (counts, exact duration percentiles, queue-wait p95) and daily buckets, same run, interleaved:');
  out(table(['statement', 'wall p50', 'PostgreSQL CPU', 'vs baseline'], compared.flatMap((group) => group.map((c, i) => {
    const base = group[0]!;
    return [c.label, ms(c.wall), c.cpu === null ? 'n/a (remote server)' : ms(c.cpu),
      i === 0 ? '' : `${(c.wall / base.wall).toFixed(2)}x wall${c.cpu !== null && base.cpu ? `, ${(c.cpu / base.cpu).toFixed(2)}x CPU` : ''}`];
  })), [false, true, true, false]));
  out('');
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  const typicalTotal = typical.run_row! + typical.events! + typical.log! + typical.outbox!;
  out('  bytes one run costs in the RunLog');
  out(`    typical run (real runner, ${typical.log_text} bytes of output in ${typical.log_rows} chunk(s), ${typical.event_rows} events):`);
  out(`      runs row ${typical.run_row} B, run_events ${typical.events} B, run_logs ${typical.log} B (TOAST-compressed), outbox ${typical.outbox} B`);
  out(`      = ${typicalTotal} B of row data (${kb(typicalTotal)}), before per-row overhead and indexes`);
  out(`    seeded runs table: ${kb(size.total! / size.runs!)} per run with its ${kb(size.indexes! / size.runs!)} of indexes `
    + `(heap ${kb(size.heap! / size.runs!)}); the two stats indexes ${(size.stats_index! / size.runs!).toFixed(0)} B per run`);
  out(`    all-time totals: ${size.run_totals_rows} rows in run_totals (${kb(size.run_totals!)}), whatever the history's length`);
  out(`    daily rollup: ${size.run_days_rows} rows in run_days (${kb(size.run_days!)}, ${(size.run_days! / size.runs!).toFixed(0)} B per run)`);
  out('');
  out(`bench finished in ${((performance.now() - benchStart) / 1000).toFixed(1)} s; 1-minute load average ${loadavg()[0]!.toFixed(2)} at the end`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
