/**
 * API benchmark: what the KubeScribe API and scheduler cost on PostgreSQL, with a no-op executor.
 *
 *   1. trigger:   `POST /runs/trigger` throughput and p50/p99 latency at concurrency 1, 16 and 64 over
 *                 real HTTP, side by side with (a) a bare single-row INSERT loop through `pg` into a
 *                 table like `runs` and (b) pg-boss `send()`, at the same concurrency, in the same run
 *   2. list:      `GET /runs` p50/p99 with 1 M runs in the RunLog (seeded by one INSERT … SELECT)
 *   3. scheduler: fire lag p50/p99 of a per-second schedule over 200 fires
 *   4. summary:   the figures against their targets
 *
 * A benchmark, not a test: it prints numbers and verdicts and exits 0 whatever they are; non-zero only
 * when a measurement itself failed. The server is the real `buildApp` with the real route groups,
 * listening on 127.0.0.1; the HTTP load comes from a worker thread, so the client does not share the
 * server's event loop. Everything lives in a fresh PostgreSQL schema, dropped at the end.
 *
 *   npm run bench:api [-- --quick | --seconds 4 --rows 1000000 --fires 200]   (see bench/README.md)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { buildApp } from '../src/api/app.ts';
import { jobsRoutes } from '../src/api/routes/jobs.ts';
import { runsReadRoutes } from '../src/api/routes/runs-read.ts';
import { runsWriteRoutes } from '../src/api/routes/runs-write.ts';
import { parseConfig } from '../src/config/job-config.ts';
import { RecordingExecutor } from '../src/executors/executor.ts';
import type { Db } from '../src/runlog/db.ts';
import { openRunLogDb } from '../src/runlog/open-runlog.ts';
import { createToken } from '../src/runlog/sql/tokens.ts';
import { syncJobs } from '../src/runlog/sync-jobs.ts';
import { triggerRun } from '../src/runs/trigger-run.ts';
import { Scheduler } from '../src/scheduler/scheduler.ts';
import { redactUrl } from '../src/runlog/db.ts';
import { seedFinishedRuns } from './seed-runs.ts';
import { type Cleanups, MeasurementError, numberOption, out, progress, quantile, ratio, runWithCleanups, table } from './report.ts';

const TARGETS = { triggersPerS: 1000, triggerP99Ms: 25, insertShare: 0.4, bossRatio: 1, listP99Ms: 10, fireLagMs: 1000 };
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const CONCURRENCY = [1, 16, 64] as const;
/** The concurrency the targets are held to. */
const TARGET_CONCURRENCY = 16;
const SEED_JOBS = ['etl-orders', 'etl-customers', 'report-daily', 'cleanup-tmp'];
const SCHEDULED_JOBS = 5;

const USAGE = `usage: npm run bench:api [-- options]   (or: node --import tsx bench/api.ts [options])

  --seconds S     measured seconds per trigger measurement, after a ${'1/4'}-as-long warm-up (default 4)
  --rows N        runs seeded for the GET /runs part (default 1000000)
  --requests N    GET /runs requests per query, after 20 warm-ups (default 200)
  --fires N       scheduler fires to measure, ${SCHEDULED_JOBS} jobs firing every second (default 200)
  --quick         a short run: --seconds 1.5 --rows 200000 --requests 100 --fires 50
  -h, --help      this text

PostgreSQL: $DATABASE_URL, else ${DEFAULT_DATABASE_URL}; a fresh schema is created and dropped.
`;

// ---------------------------------------------------------------------------------------------
// Options


interface Options {
  seconds: number;
  rows: number;
  requests: number;
  fires: number;
  quick: boolean;
}

function readOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      rows: { type: 'string' },
      requests: { type: 'string' },
      fires: { type: 'string' },
      quick: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return null;
  const num = numberOption;
  const quick = values.quick ?? false;
  return {
    seconds: num('seconds', values.seconds, quick ? 1.5 : 4, 0.5, 120, false),
    rows: num('rows', values.rows, quick ? 200_000 : 1_000_000, 1000, 20_000_000),
    requests: num('requests', values.requests, quick ? 100 : 200, 10, 100_000),
    fires: num('fires', values.fires, quick ? 50 : 200, 5, 10_000),
    quick,
  };
}

// ---------------------------------------------------------------------------------------------
// Output: results on stdout, progress on stderr (so `npm run bench:api > results.txt` keeps just the results)


const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(value < 10 ? 2 : 1)} ms` : 'n/a');
const perS = (value: number) => (Number.isFinite(value) ? `${value.toFixed(0)}/s` : 'n/a');
const verdict = (ok: boolean) => (ok ? 'meets target' : 'misses target');



const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

// ---------------------------------------------------------------------------------------------
// Load generation: closed loops of `concurrency` workers, each issuing its next request as soon as
// the previous one answered. Requests that complete inside the measured window count.

interface LoadResult {
  /** Completed requests per second inside the measured window. */
  rate: number;
  completed: number;
  /** Latency of each request that completed inside the window, in ms. */
  latencies: Float64Array;
  /** Requests that failed (an exception, or an HTTP status other than the expected one). */
  errors: number;
  firstError: string | null;
}

interface WindowSpec {
  concurrency: number;
  /** Warm-up before the window: requests are made but not counted. */
  warmupMs: number;
  durationMs: number;
}

/** The same closed loop as the HTTP worker below, for the in-process baselines (pg INSERT, pg-boss). */
async function closedLoop(spec: WindowSpec, op: (seq: number) => Promise<void>): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let seq = 0;
  const t0 = performance.now();
  const start = t0 + spec.warmupMs;
  const end = start + spec.durationMs;
  const loop = async () => {
    while (performance.now() < end) {
      const began = performance.now();
      try {
        await op(seq++);
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
      }
      const done = performance.now();
      if (done >= start && done <= end) latencies.push(done - began);
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, loop));
  return { rate: latencies.length / (spec.durationMs / 1000), completed: latencies.length, latencies: Float64Array.from(latencies), errors, firstError };
}

// The HTTP client runs in a worker thread, so the server's event loop serves requests and nothing
// else. Plain JavaScript, evaluated as CommonJS. It uses node:http with a keep-alive agent rather
// than fetch: on this kind of machine fetch (undici's web streams) costs the client several times the
// CPU of the request itself — a bare Fastify route answered ~1,600 requests/s through fetch and
// ~13,000/s through node:http at concurrency 16 — and the client shares the CPUs with the server.
const WORKER_SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const http = require('node:http');

// One connection per in-flight request, kept alive between requests.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function call(request) {
  return new Promise((resolve, reject) => {
    const headers = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
    const req = http.request(request.url, { method: request.method, headers, agent }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => {
        if (response.statusCode !== request.expect) reject(new Error(request.method + ' ' + request.url + ' -> ' + response.statusCode + ': ' + text.slice(0, 300)));
        else resolve();
      });
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end(request.body);
  });
}

async function window(task) {
  const latencies = [];
  let errors = 0, firstError = null;
  const t0 = performance.now();
  const start = t0 + task.warmupMs, end = start + task.durationMs;
  async function loop() {
    while (performance.now() < end) {
      const began = performance.now();
      try { await call(task.request); } catch (error) { errors++; if (firstError === null) firstError = String(error && error.message || error); }
      const done = performance.now();
      if (done >= start && done <= end) latencies.push(done - began);
    }
  }
  await Promise.all(Array.from({ length: task.concurrency }, loop));
  return { rate: latencies.length / (task.durationMs / 1000), completed: latencies.length, latencies: Float64Array.from(latencies), errors, firstError };
}

async function count(task) {
  for (let i = 0; i < task.warmup; i++) await call(task.request);
  const latencies = new Float64Array(task.count);
  let errors = 0, firstError = null;
  const t0 = performance.now();
  for (let i = 0; i < task.count; i++) {
    const began = performance.now();
    try { await call(task.request); } catch (error) { errors++; if (firstError === null) firstError = String(error && error.message || error); }
    latencies[i] = performance.now() - began;
  }
  return { rate: task.count / ((performance.now() - t0) / 1000), completed: task.count, latencies, errors, firstError };
}

parentPort.on('message', async (task) => {
  try {
    const result = task.kind === 'window' ? await window(task) : await count(task);
    parentPort.postMessage({ ok: true, result }, [result.latencies.buffer]);
  } catch (error) {
    parentPort.postMessage({ ok: false, error: String(error && error.stack || error) });
  }
});
`;

interface HttpRequestSpec {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  expect: number;
}

class HttpLoad {
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true });
  private queue: Promise<unknown> = Promise.resolve();

  private send(task: Record<string, unknown>): Promise<LoadResult> {
    const next = this.queue.then(
      () =>
        new Promise<LoadResult>((resolve, reject) => {
          const onError = (error: Error) => reject(new MeasurementError(`HTTP load worker crashed: ${error.message}`));
          this.worker.once('error', onError);
          this.worker.once('message', (message: { ok: boolean; result?: LoadResult; error?: string }) => {
            this.worker.off('error', onError);
            if (message.ok) resolve(message.result!);
            else reject(new MeasurementError(`HTTP load worker failed: ${message.error}`));
          });
          this.worker.postMessage(task);
        }),
    );
    this.queue = next.catch(() => {});
    return next;
  }

  window(request: HttpRequestSpec, spec: WindowSpec): Promise<LoadResult> {
    return this.send({ kind: 'window', request, ...spec });
  }

  count(request: HttpRequestSpec, count: number, warmup: number): Promise<LoadResult> {
    return this.send({ kind: 'count', request, count, warmup });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

// ---------------------------------------------------------------------------------------------
// The system under test

const API_CONFIG = `version: 1
jobs:
  bench:
    description: The job the trigger benchmark fires (no-op executor).
    command: ["true"]
    concurrency_policy: Allow
`;

function scheduledConfig(): string {
  const jobs = Array.from({ length: SCHEDULED_JOBS }, (_, i) =>
    `  tick-${i + 1}:\n    command: ["true"]\n    schedule: "* * * * * *"\n    time_zone: UTC\n    concurrency_policy: Allow\n    catch_up: none\n`,
  );
  return `version: 1\njobs:\n${jobs.join('')}`;
}

interface Context {
  url: string;
  schema: string;
  bossSchema: string;
  admin: pg.Client;
  db: Db;
  app: FastifyInstance;
  baseUrl: string;
  load: HttpLoad;
  tokens: { trigger: string; read: string };
}

// ---------------------------------------------------------------------------------------------
// Part 1: triggers vs INSERT vs pg-boss

interface Side {
  label: string;
  byConcurrency: Map<number, LoadResult>;
  note?: string;
}

const INSERT_SQL = `INSERT INTO insert_baseline (run_id, job, trigger, triggered_by, params, status, attempt, executor,
    command, labels, created_at)
  VALUES (gen_random_uuid(), $1, 'api', $2, $3::jsonb, 'queued', 1, 'none', $4::jsonb, '{}'::jsonb, now())`;

async function measureTriggers(ctx: Context, options: Options): Promise<{ sides: Side[]; bossVersion: string | null; notes: string[] }> {
  const spec = (concurrency: number): WindowSpec => ({ concurrency, warmupMs: Math.round((options.seconds * 1000) / 4), durationMs: options.seconds * 1000 });
  const notes: string[] = [];

  // --- the API
  const trigger: HttpRequestSpec = {
    url: `${ctx.baseUrl}/runs/trigger`,
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.tokens.trigger}`, 'content-type': 'application/json' },
    body: JSON.stringify({ job: 'bench', reason: 'bench' }),
    expect: 202,
  };
  const api: Side = { label: 'POST /runs/trigger (HTTP)', byConcurrency: new Map() };
  const before = await countRuns(ctx.db, 'bench');
  for (const concurrency of CONCURRENCY) {
    progress(`trigger: POST /runs/trigger at concurrency ${concurrency} (${options.seconds} s + warm-up)`);
    api.byConcurrency.set(concurrency, await ctx.load.window(trigger, spec(concurrency)));
  }
  const created = (await countRuns(ctx.db, 'bench')) - before;
  const failed = [...api.byConcurrency.values()].reduce((sum, r) => sum + r.errors, 0);
  notes.push(`RunLog check: ${created} runs of job "bench" created by the trigger part${failed ? `; ${failed} requests failed` : ', every request answered 202'}.`);

  // --- bare INSERT through pg, into a table like runs (same columns, defaults, constraints, indexes)
  const insert: Side = { label: 'bare INSERT (pg)', byConcurrency: new Map(), note: 'single-row INSERT into a copy of `runs` (LIKE … INCLUDING ALL)' };
  await ctx.admin.query(`CREATE TABLE ${quoteIdent(ctx.schema)}.insert_baseline (LIKE ${quoteIdent(ctx.schema)}.runs INCLUDING ALL)`);
  const pool = new pg.Pool({ connectionString: ctx.url, max: Math.max(...CONCURRENCY), options: `-c search_path=${quoteIdent(ctx.schema)}` });
  pool.on('error', () => {});
  try {
    const params = JSON.stringify({});
    const command = JSON.stringify(['true']);
    for (const concurrency of CONCURRENCY) {
      progress(`trigger: bare INSERT at concurrency ${concurrency}`);
      insert.byConcurrency.set(
        concurrency,
        await closedLoop(spec(concurrency), async () => {
          await pool.query(INSERT_SQL, ['bench', 'token:bench', params, command]);
        }),
      );
    }
  } finally {
    await pool.end();
  }

  // --- pg-boss send()
  const boss: Side = { label: 'pg-boss send()', byConcurrency: new Map() };
  let bossVersion: string | null = null;
  try {
    const { default: PgBoss } = await import('pg-boss');
    const { createRequire } = await import('node:module');
    bossVersion = (createRequire(import.meta.url)('pg-boss/package.json') as { version: string }).version;
    boss.label = `pg-boss ${bossVersion} send()`;
    boss.note = `its own pool (max ${Math.max(...CONCURRENCY)}), schema ${ctx.bossSchema}, no supervisor/scheduler`;
    const instance = new PgBoss({
      connectionString: ctx.url,
      schema: ctx.bossSchema,
      max: Math.max(...CONCURRENCY),
      supervise: false,
      schedule: false,
      migrate: true,
    });
    instance.on('error', () => {});
    progress('trigger: starting pg-boss (creates its schema)');
    await instance.start();
    try {
      await instance.createQueue('bench');
      const payload = { job: 'bench', reason: 'bench' };
      for (const concurrency of CONCURRENCY) {
        progress(`trigger: pg-boss send() at concurrency ${concurrency}`);
        boss.byConcurrency.set(
          concurrency,
          await closedLoop(spec(concurrency), async () => {
            const id = await instance.send('bench', payload);
            if (!id) throw new Error('send() returned no job id');
          }),
        );
      }
    } finally {
      await instance.stop({ graceful: false, wait: true } as Parameters<typeof instance.stop>[0]);
    }
  } catch (error) {
    notes.push(`pg-boss not measured: ${(error as Error).message}`);
  }
  return { sides: [api, insert, boss], bossVersion, notes };
}

async function countRuns(db: Db, job: string): Promise<number> {
  const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM runs WHERE job = $1', [job]);
  return row?.n ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Part 2: GET /runs with many runs

interface ListResult {
  label: string;
  result: LoadResult;
  rows: number;
}

async function seedRuns(ctx: Context, rows: number): Promise<number> {
  return seedFinishedRuns(ctx.db, rows, SEED_JOBS);
}

async function measureList(ctx: Context, options: Options): Promise<{ results: ListResult[]; seedMs: number; total: number }> {
  progress(`list: seeding ${options.rows} runs with one INSERT … SELECT FROM generate_series`);
  const seedMs = await seedRuns(ctx, options.rows);
  const [{ n: total } = { n: 0 }] = await ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM runs');
  const headers = { authorization: `Bearer ${ctx.tokens.read}` };
  const get = (path: string): HttpRequestSpec => ({ url: `${ctx.baseUrl}${path}`, method: 'GET', headers, expect: 200 });

  // The cursor of page 3: follow next_cursor twice.
  let cursor: string | null = null;
  for (let page = 1; page <= 2; page++) {
    const response: Response = await fetch(`${ctx.baseUrl}/runs?limit=50${cursor ? `&cursor=${cursor}` : ''}`, { headers });
    if (response.status !== 200) throw new MeasurementError(`GET /runs page ${page}: ${response.status} ${await response.text()}`);
    cursor = ((await response.json()) as { next_cursor: string | null }).next_cursor;
    if (!cursor) throw new MeasurementError(`GET /runs page ${page} has no next_cursor with ${total} runs`);
  }
  const queries: Array<[string, string]> = [
    ['GET /runs?limit=50', '/runs?limit=50'],
    [`GET /runs?job=${SEED_JOBS[1]}&limit=50`, `/runs?job=${SEED_JOBS[1]}&limit=50`],
    ['GET /runs?status=failed&limit=50', '/runs?status=failed&limit=50'],
    ['GET /runs?limit=50&cursor=<page 3>', `/runs?limit=50&cursor=${cursor}`],
  ];
  const results: ListResult[] = [];
  for (const [label, path] of queries) {
    progress(`list: ${options.requests} x ${label}`);
    const response = await fetch(`${ctx.baseUrl}${path}`, { headers });
    const rows = ((await response.json()) as { runs?: unknown[] }).runs?.length ?? 0;
    results.push({ label, rows, result: await ctx.load.count(get(path), options.requests, 20) });
  }
  return { results, seedMs, total };
}

// ---------------------------------------------------------------------------------------------
// Part 3: scheduler fire lag

interface FireResult {
  /** scheduled_for → the fire callback is called, the slot claimed in the ledger (the scheduler's own lagMs). */
  firedLag: number[];
  /** scheduled_for → the run is recorded (triggerRun returned). */
  recordedLag: number[];
  tickFailures: string[];
  missed: number;
  elapsedMs: number;
}

async function measureScheduler(ctx: Context, options: Options): Promise<FireResult> {
  const config = parseConfig(scheduledConfig(), 'bench-scheduler.yaml');
  await syncJobs(ctx.db, config);
  const deps = { db: ctx.db, config, executor: new RecordingExecutor() };
  const recordedLag: number[] = [];
  const firedLag: number[] = [];
  const tickFailures: string[] = [];
  let missed = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const scheduler = new Scheduler({
    db: ctx.db,
    config,
    fire: async (job, scheduledFor) => {
      // What `kubescribe serve` does for a slot (src/server/server.ts).
      const outcome = await triggerRun(deps, {
        job: job.name,
        trigger: 'schedule',
        triggered_by: 'scheduler@bench',
        reason: `schedule slot ${scheduledFor.toISOString()}`,
        idempotency_key: `schedule:${job.name}:${scheduledFor.toISOString()}`,
      });
      recordedLag.push(Date.now() - scheduledFor.getTime());
      return outcome.run!.run_id;
    },
    onEvent: (event) => {
      if (event.type === 'slot_fired') {
        // The first pass may fire a catch-up slot (catch_up: none records none, but be safe): count on-time ones.
        if (event.reason === null || event.reason === undefined) firedLag.push(event.lagMs);
        if (firedLag.length >= options.fires) done();
      } else if (event.type === 'slot_missed') missed++;
      else if (event.type === 'tick_failed') tickFailures.push(event.error.message);
    },
  });
  const started = performance.now();
  progress(`scheduler: ${SCHEDULED_JOBS} jobs on "* * * * * *" until ${options.fires} fires (~${Math.ceil(options.fires / SCHEDULED_JOBS)} s)`);
  const deadline = setTimeout(done, (options.fires / SCHEDULED_JOBS) * 1000 + 30_000);
  await scheduler.start();
  await finished;
  clearTimeout(deadline);
  await scheduler.stop();
  return { firedLag: firedLag.slice(0, options.fires), recordedLag: recordedLag.slice(0, options.fires), tickFailures, missed, elapsedMs: performance.now() - started };
}

// ---------------------------------------------------------------------------------------------
// The benchmark

async function main(): Promise<number> {
  let options: Options | null;
  try {
    options = readOptions(process.argv.slice(2));
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
  const url = process.env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;

  // --- a fresh schema, taken now so nothing of anyone else's is in it and the bench may drop it
  progress(`connecting to PostgreSQL at ${redactUrl(url)}`);
  const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  admin.on('error', () => {});
  try {
    await admin.connect();
  } catch (error) {
    await admin.end().catch(() => {});
    throw new MeasurementError(`cannot connect to PostgreSQL at ${redactUrl(url)}: ${(error as Error).message || String(error)}`);
  }
  cleanups.push(() => admin.end());
  let schema = '';
  for (;;) {
    schema = `kubescribe_bench_${randomBytes(4).toString('hex')}`;
    const { rows } = await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = ANY($1)', [[schema, `${schema}_pgboss`]]);
    if (rows.length === 0) break;
  }
  const bossSchema = `${schema}_pgboss`;
  await admin.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
  await admin.query(`CREATE SCHEMA ${quoteIdent(bossSchema)}`);
  cleanups.push(async () => {
    progress(`dropping schemas ${schema} and ${bossSchema}`);
    for (const name of [schema, bossSchema]) {
      await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(name)} CASCADE`).catch((error: Error) => {
        process.stderr.write(`bench: could not drop schema ${name}: ${error.message}; drop it by hand\n`);
      });
    }
  });
  const [{ server_version: serverVersion } = { server_version: '?' }] = (await admin.query<{ server_version: string }>('SHOW server_version')).rows;

  // --- the API, as `kubescribe serve` opens it: same RunLog opener (pool size included), real routes
  const home = mkdtempSync(join(tmpdir(), 'kubescribe-bench-api-'));
  cleanups.push(async () => rmSync(home, { recursive: true, force: true }));
  progress('opening the RunLog (migrations) and starting the API');
  const db = await openRunLogDb({ databaseUrl: url, databaseSchema: schema, home });
  cleanups.push(() => db.close());
  const config = parseConfig(API_CONFIG, 'bench-api.yaml');
  await syncJobs(db, config);
  const app = await buildApp({ db, config, executor: new RecordingExecutor(), logger: false }, [runsReadRoutes, runsWriteRoutes, jobsRoutes]);
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  const tokens = {
    trigger: (await createToken(db, { name: 'bench-trigger', scope: 'trigger', expires_at: null, created_by: 'bench' })).token,
    read: (await createToken(db, { name: 'bench-read', scope: 'read', expires_at: null, created_by: 'bench' })).token,
  };
  const load = new HttpLoad();
  cleanups.push(() => load.terminate());
  const ctx: Context = { url, schema, bossSchema, admin, db, app, baseUrl, load, tokens };

  out(`KubeScribe API benchmark — node ${process.version}, ${process.platform}/${process.arch}, ${availableParallelism()} CPUs`);
  out(`  PostgreSQL: ${redactUrl(url)} (server ${serverVersion}), schema ${schema} (new; dropped at the end)`);
  out(`  API:        buildApp + runs-read, runs-write, jobs routes at ${baseUrl}; RecordingExecutor (no-op);`);
  out('              RunLog opened with openRunLogDb, as `kubescribe serve` does; one Allow job "bench"');
  out('  client:     node:http (keep-alive agent) in a worker thread; closed loops, one connection per loop');
  out(`  trigger:    ${options.seconds} s measured per point after a ${(options.seconds / 4).toFixed(2)} s warm-up; concurrency ${CONCURRENCY.join(', ')}`);
  out(`  list:       ${options.rows} seeded runs; ${options.requests} sequential requests per query after 20 warm-ups`);
  out(`  scheduler:  ${SCHEDULED_JOBS} jobs on "* * * * * *", ${options.fires} fires`);
  out(`  load:       1-minute load average ${loadavg()[0]!.toFixed(2)} at the start (other processes compete for the CPUs)`);
  if (options.quick) out('  --quick:    shorter run; figures are noisier');
  out();

  // --- 1. triggers
  const { sides, notes } = await measureTriggers(ctx, options);
  out('## 1. Trigger throughput and latency');
  out();
  const [api, insert, boss] = sides as [Side, Side, Side];
  const rows: string[][] = [];
  for (const concurrency of CONCURRENCY) {
    for (const side of sides) {
      const r = side.byConcurrency.get(concurrency);
      if (!r) continue;
      const apiR = api.byConcurrency.get(concurrency)!;
      const vs = (other: Side) => {
        const o = other.byConcurrency.get(concurrency);
        return side === api && o ? ratio(apiR.rate / o.rate) : '-';
      };
      rows.push([
        String(concurrency),
        side.label,
        perS(r.rate),
        ms(quantile(r.latencies, 0.5)),
        ms(quantile(r.latencies, 0.99)),
        String(r.completed),
        String(r.errors),
        vs(insert),
        vs(boss),
      ]);
    }
  }
  out(table(['conc.', 'system', 'rate', 'p50', 'p99', 'done', 'errors', 'API/INSERT', 'API/pg-boss'], rows, [true, false, true, true, true, true, true, true, true]));
  for (const side of sides) if (side.note) out(`  ${side.label}: ${side.note}.`);
  out('  rate = requests completed inside the measured window / its length; latency from request start to response read.');
  for (const note of notes) out(`  ${note}`);
  for (const side of sides) {
    for (const r of side.byConcurrency.values()) if (r.firstError) out(`  WARNING: ${side.label}: ${r.errors} errors, first: ${r.firstError}`);
  }
  out();

  // --- 2. GET /runs
  const list = await measureList(ctx, options);
  out(`## 2. GET /runs with ${list.total.toLocaleString('en-US')} runs in the RunLog`);
  out();
  out(table(
    ['request', 'rows', 'p50', 'p99', 'max', 'errors'],
    list.results.map(({ label, rows: n, result }) => [
      label, String(n), ms(quantile(result.latencies, 0.5)), ms(quantile(result.latencies, 0.99)), ms(quantile(result.latencies, 1)), String(result.errors),
    ]),
    [false, true, true, true, true, true],
  ));
  out(`  seeded with one INSERT … SELECT FROM generate_series + ANALYZE in ${(list.seedMs / 1000).toFixed(1)} s; ${options.requests} sequential requests each.`);
  for (const { label, result } of list.results) if (result.firstError) out(`  WARNING: ${label}: ${result.errors} errors, first: ${result.firstError}`);
  out();

  // --- 3. scheduler
  const fires = await measureScheduler(ctx, options);
  out(`## 3. Scheduler fire lag over ${fires.firedLag.length} fires`);
  out();
  out(table(
    ['measured', 'p50', 'p99', 'max'],
    [
      ['fire lag: scheduled_for → slot claimed, fire called (slot_fired lagMs)', ms(quantile(fires.firedLag, 0.5)), ms(quantile(fires.firedLag, 0.99)), ms(quantile(fires.firedLag, 1))],
      ['scheduled_for → run recorded (triggerRun returned)', ms(quantile(fires.recordedLag, 0.5)), ms(quantile(fires.recordedLag, 0.99)), ms(quantile(fires.recordedLag, 1))],
    ],
    [false, true, true, true],
  ));
  out(`  ${SCHEDULED_JOBS} jobs x "* * * * * *" for ${(fires.elapsedMs / 1000).toFixed(1)} s; fire = triggerRun as \`kubescribe serve\` does; ${fires.missed} slots missed.`);
  if (fires.firedLag.length < options.fires) out(`  WARNING: only ${fires.firedLag.length} of ${options.fires} fires seen before the deadline.`);
  for (const failure of fires.tickFailures.slice(0, 3)) out(`  WARNING: tick failed: ${failure}`);
  out();

  // --- 4. summary
  out('## 4. Summary (informational: the bench never fails on these)');
  out();
  const a16 = api.byConcurrency.get(TARGET_CONCURRENCY)!;
  const i16 = insert.byConcurrency.get(TARGET_CONCURRENCY)!;
  const b16 = boss.byConcurrency.get(TARGET_CONCURRENCY);
  const p99 = quantile(a16.latencies, 0.99);
  const share = a16.rate / i16.rate;
  const summary: string[][] = [
    [`triggers/s at concurrency ${TARGET_CONCURRENCY}`, `≥ ${TARGETS.triggersPerS}/s`, perS(a16.rate), verdict(a16.rate >= TARGETS.triggersPerS)],
    [`trigger p99 at concurrency ${TARGET_CONCURRENCY}`, `≤ ${TARGETS.triggerP99Ms} ms`, ms(p99), verdict(p99 <= TARGETS.triggerP99Ms)],
    [`API / bare INSERT rate at concurrency ${TARGET_CONCURRENCY}`, `≥ ${TARGETS.insertShare.toFixed(2)}`, ratio(share), verdict(share >= TARGETS.insertShare)],
    b16
      ? [`API / pg-boss send() rate at concurrency ${TARGET_CONCURRENCY}`, `≥ ${TARGETS.bossRatio.toFixed(2)}`, ratio(a16.rate / b16.rate), verdict(a16.rate / b16.rate >= TARGETS.bossRatio)]
      : [`API / pg-boss send() rate at concurrency ${TARGET_CONCURRENCY}`, `≥ ${TARGETS.bossRatio.toFixed(2)}`, 'n/a', 'not measured (pg-boss unavailable)'],
  ];
  for (const { label, result } of list.results) {
    const value = quantile(result.latencies, 0.99);
    summary.push([`${label} p99 (${list.total.toLocaleString('en-US')} runs)`, `≤ ${TARGETS.listP99Ms} ms`, ms(value), verdict(value <= TARGETS.listP99Ms)]);
  }
  const lag = quantile(fires.firedLag, 0.99);
  summary.push([`scheduler fire lag p99 (${fires.firedLag.length} fires)`, `< ${TARGETS.fireLagMs} ms`, ms(lag), verdict(lag < TARGETS.fireLagMs)]);
  out(table(['figure', 'target', 'measured', 'verdict'], summary, [false, false, true, false]));
  out('  Ratios come from one run on one machine: the API, its client, PostgreSQL and the baselines share its CPUs.');
  out();
  out(`bench finished in ${((performance.now() - benchStart) / 1000).toFixed(1)} s; 1-minute load average ${loadavg()[0]!.toFixed(2)} at the end`);
  return 0;
}

process.exitCode = await main();
