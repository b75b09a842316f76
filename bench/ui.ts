/**
 * Admin UI benchmark: how long the server takes to render the UI's pages with a large RunLog on
 * PostgreSQL, and what a run with a 10 MB log sends.
 *
 *   1. pages:  p50/p99 of GET /ui/runs (newest, by job, by status), GET /ui/runs/<id> (runs from all
 *              over the history, each with its events and a log) and GET /ui/jobs (50 jobs), with
 *              1,000,000 runs in the RunLog (seeded by bench/seed-runs.ts, as bench/api.ts does)
 *   2. log:    the run page of a run with a 10 MB log: bytes sent, against the log's size, and the
 *              bytes of one "load more"
 *   3. summary: the figures against their targets (runs and run page p99 ≤ 50 ms, jobs ≤ 100 ms)
 *
 * A benchmark, not a test: it prints numbers and verdicts and exits 0 whatever they are; non-zero only
 * when a measurement itself failed. The server is the real `buildApp` with the API's route groups and
 * the UI's, listening on 127.0.0.1, signed in through the UI's one-time sign-in link. Requests are
 * sequential over one keep-alive connection from the same process, so a time is the whole request as
 * the client sees it over loopback: the server's render time plus the HTTP round trip (an upper bound).
 * Everything lives in a fresh PostgreSQL schema, dropped at the end.
 *
 * With --schema NAME the RunLog lives in that schema: seeded when it holds no runs yet, reused
 * as it is when it does (a million-run seed takes minutes on a loaded machine), and kept at the end,
 * so before/after rounds of a change read the same history. --pages jobs measures the jobs page, --pages
 * job a job's page (four scheduled jobs, the 30- and 90-day windows) and the reports page, each after
 * the runs page as the reference for what the machine's load does to any page in the same run.
 *
 *   npm run bench:ui [-- --quick | --rows 1000000 --requests 200 | --schema NAME --pages jobs|job]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { buildApp } from '../src/api/app.ts';
import { jobsRoutes } from '../src/api/routes/jobs.ts';
import { runsReadRoutes } from '../src/api/routes/runs-read.ts';
import { runsWriteRoutes } from '../src/api/routes/runs-write.ts';
import { tokensRoutes } from '../src/api/routes/tokens.ts';
import { parseConfig } from '../src/config/job-config.ts';
import { RecordingExecutor } from '../src/executors/executor.ts';
import { redactUrl, type Db } from '../src/runlog/db.ts';
import { openRunLogDb } from '../src/runlog/open-runlog.ts';
import { insertLogChunks } from '../src/runlog/sql/run-logs.ts';
import { createToken } from '../src/runlog/sql/tokens.ts';
import { syncJobs } from '../src/runlog/sync-jobs.ts';
import { uuidv7 } from '../src/runlog/uuidv7.ts';
import { uiRoutes } from '../src/ui/ui-routes.ts';
import { SignInCodes } from '../src/ui/sign-in-codes.ts';
import { type Cleanups, MeasurementError, UsageError, numberOption, out, progress, quantile, runWithCleanups, table } from './report.ts';
import { seedFinishedRuns } from './seed-runs.ts';

const TARGETS = { runsP99Ms: 50, runP99Ms: 50, jobsP99Ms: 100, jobP99Ms: 100 };
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const JOBS = 50;
const LOG_BYTES = 10 * 1024 * 1024;
const SAMPLE_RUNS = 100;

const USAGE = `usage: npm run bench:ui [-- options]   (or: node --import tsx bench/ui.ts [options])

  --rows N        runs seeded (default 1000000)
  --requests N    requests per page, after 20 warm-ups (default 200)
  --quick         a short run: --rows 200000 --requests 100
  --schema NAME   use (and keep) this schema: seeded if it has no runs, else reused as it is
  --pages WHICH   all (default), jobs (GET /ui/jobs) or job (GET /ui/jobs/<name> and /ui/reports),
                  the last two after GET /ui/runs as the run's reference
  -h, --help      this text

PostgreSQL: $DATABASE_URL, else ${DEFAULT_DATABASE_URL}; without --schema a fresh schema is
created and dropped.
`;

interface Options { rows: number; requests: number; quick: boolean; schema: string | null; pages: 'all' | 'jobs' | 'job' }

function readOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: 'string' }, requests: { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      schema: { type: 'string' }, pages: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return null;
  const quick = values.quick ?? false;
  if (values.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(values.schema)) {
    throw new UsageError(`--schema: expected a lower-case identifier, got ${values.schema}`);
  }
  const pages = values.pages ?? 'all';
  if (pages !== 'all' && pages !== 'jobs' && pages !== 'job') throw new UsageError(`--pages: expected all, jobs or job, got ${pages}`);
  return {
    schema: values.schema ?? null,
    pages,
    rows: numberOption('rows', values.rows, quick ? 200_000 : 1_000_000, 1000, 20_000_000),
    requests: numberOption('requests', values.requests, quick ? 100 : 200, 10, 100_000),
    quick,
  };
}

const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(value < 10 ? 2 : 1)} ms` : 'n/a');
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const verdict = (ok: boolean) => (ok ? 'meets target' : 'misses target (or failed)');
const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** `url` with its statement and query timeouts raised to `duration` (parameters pg-timeouts.ts reads). */
function withTimeouts(url: string, duration: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('statement_timeout', duration);
  parsed.searchParams.set('query_timeout', duration);
  return parsed.toString();
}

/** 50 jobs, a third of them scheduled in zones other than UTC, as a team's kubescribe.yaml might hold. */
function jobsConfig(): string {
  const jobs = Array.from({ length: JOBS }, (_, i) => {
    const name = `job-${String(i + 1).padStart(2, '0')}`;
    const schedule = i % 3 === 0 ? `    schedule: "${i % 60} ${i % 24} * * *"\n    time_zone: ${i % 2 ? 'Europe/Berlin' : 'America/New_York'}\n` : '';
    return `  ${name}:\n    description: Benchmark job ${i + 1}\n    command: ["true"]\n${schedule}    labels: {team: ${i % 2 ? 'data' : 'ops'}}\n`;
  });
  return `version: 1\njobs:\n${jobs.join('')}`;
}

/**
 * One GET over the keep-alive agent: status, body bytes, and the time to the last byte. The body stays
 * bytes (`text()` decodes it): decoding 170 KiB of HTML in the timed client took milliseconds of the same
 * CPUs as the server it times.
 */
function get(agent: Agent, baseUrl: string, path: string, cookie: string): Promise<{ status: number; bytes: number; ms: number; text: () => string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = httpRequest(`${baseUrl}${path}`, { agent, headers: { cookie } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, bytes: body.length, ms: performance.now() - started, text: () => body.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface PageResult { label: string; latencies: number[]; bytes: number; cpuMsPerRequest?: number; error?: string }

async function measurePage(agent: Agent, baseUrl: string, cookie: string, label: string, paths: string[], requests: number): Promise<PageResult> {
  progress(`${requests} x ${label}`);
  // A page that fails is reported as failed (with the time it took to fail) and the bench goes on.
  const failure = (result: { status: number; ms: number; bytes: number; text: () => string }) => {
    const body = result.text();
    const message = /<p class="error-message">([^<]*)<\/p>/.exec(body)?.[1] ?? body.slice(0, 200);
    progress(`${label}: answered ${result.status} after ${ms(result.ms)}: ${message}`);
    return { label, latencies: [result.ms], bytes: result.bytes, error: `${result.status} after ${ms(result.ms)}` };
  };
  for (let i = 0; i < 20; i++) {
    const warm = await get(agent, baseUrl, paths[i % paths.length]!, cookie);
    if (warm.status !== 200) return failure(warm);
  }
  const latencies: number[] = [];
  let bytes = 0;
  // This process's CPU time (server and client) per request: far steadier than wall time on a shared machine.
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < requests; i++) {
    const result = await get(agent, baseUrl, paths[i % paths.length]!, cookie);
    if (result.status !== 200) return failure(result);
    latencies.push(result.ms);
    bytes = result.bytes;
  }
  const cpu = process.cpuUsage(cpuBefore);
  return { label, latencies, bytes, cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / requests };
}

/** The pages' figures as a table: p50, p99, max, the HTML's size and the CPU per request, or how a page failed. */
function pageTable(results: PageResult[]): string {
  return table(['page', 'p50', 'p99', 'max', 'HTML', 'CPU/request'], results.map((r) => r.error
    ? [r.label, `failed: ${r.error}`, '', '', '', '']
    : [r.label, ms(quantile(r.latencies, 0.5)), ms(quantile(r.latencies, 0.99)), ms(Math.max(...r.latencies)), kib(r.bytes), ms(r.cpuMsPerRequest!)]),
  [false, true, true, true, true, true]);
}

/** Gives `runIds` what a run page reads besides the run: its events and a ~16 KiB log of both streams. */
async function furnishRuns(db: Db, runIds: string[]): Promise<void> {
  for (const runId of runIds) {
    const at = new Date();
    for (const [type, from, to] of [['adopted', 'queued', 'starting'], ['started', 'starting', 'running'], ['succeeded', 'running', 'succeeded']] as const) {
      await db.query(
        `INSERT INTO run_events (event_id, run_id, at, type, from_status, to_status, actor, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, '{}'::jsonb)`,
        [uuidv7(), runId, at, type, from, to, 'executor:local@bench'],
      );
    }
    const rows = Array.from({ length: 16 }, (_, i) => ({
      seq: i + 1, stream: i % 4 === 3 ? 'stderr' as const : 'stdout' as const, at: at.toISOString(),
      text: Array.from({ length: 12 }, (_, line) => `step ${i}.${line}: processed rows ${'<&>'.repeat(3)} ${'x'.repeat(60)}\n`).join(''),
    }));
    await insertLogChunks(db, runId, rows);
  }
}

/**
 * The schedule-slot ledger of the scheduled jobs: a slot a day over the seeded 90 days, most started
 * on time by a run of the job, some late, missed or skipped, so the jobs page draws its slot strips
 * (24 slots each) as it does for a scheduled job in use.
 */
async function seedSlots(db: Db, jobs: readonly string[]): Promise<void> {
  await db.query(
    `INSERT INTO schedule_slots (job, scheduled_for, state, run_id, reason, run_started_at)
     SELECT j.name, r.created_at - CASE WHEN g % 7 = 0 THEN interval '5 minutes' ELSE interval '0' END,
            CASE WHEN g % 11 = 0 THEN 'missed' WHEN g % 13 = 0 THEN 'skipped' ELSE 'started' END,
            CASE WHEN g % 11 = 0 OR g % 13 = 0 THEN NULL ELSE r.run_id END,
            CASE WHEN g % 11 = 0 THEN 'the server was down' WHEN g % 13 = 0 THEN 'suspended' END,
            CASE WHEN g % 11 = 0 OR g % 13 = 0 THEN NULL ELSE r.started_at END
     FROM unnest($1::text[]) AS j(name)
     CROSS JOIN generate_series(1, 89) AS g
     CROSS JOIN LATERAL (
       SELECT run_id, created_at, started_at FROM runs
       WHERE runs.job = j.name AND runs.created_at >= now() - g * interval '1 day'
       ORDER BY runs.created_at LIMIT 1
     ) AS r
     ON CONFLICT DO NOTHING`,
    [[...jobs]],
  );
}

/** A finished run with `bytes` of log in 64 KiB chunks, as the runner stores a capped log. */
async function runWithBigLog(db: Db, bytes: number): Promise<string> {
  const [run] = await db.query<{ run_id: string }>(
    `INSERT INTO runs (run_id, job, trigger, triggered_by, params, status, attempt, executor, labels, created_at, started_at, finished_at, exit_code, log_bytes)
     VALUES ($1, 'job-01', 'manual', 'token:bench', '{}'::jsonb, 'succeeded', 1, 'local', '{}'::jsonb, now(), now(), now(), 0, $2)
     RETURNING run_id::text AS run_id`,
    [uuidv7(), bytes],
  );
  const line = `${'y'.repeat(99)}\n`;
  const text = line.repeat(Math.ceil(65536 / line.length)).slice(0, 65536);
  let seq = 0;
  for (let written = 0; written < bytes;) {
    const rows = [];
    for (let i = 0; i < 16 && written < bytes; i++, written += text.length) {
      seq++;
      rows.push({ seq, stream: 'stdout' as const, at: new Date().toISOString(), text: `${seq} ${text}` });
    }
    await insertLogChunks(db, run!.run_id, rows);
  }
  return run!.run_id;
}

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
  const schema = options.schema ?? `kubescribe_bench_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  if (!options.schema) {
    cleanups.push(async () => {
      progress(`dropping schema ${schema}`);
      await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
    });
  }
  const [{ server_version: serverVersion } = { server_version: '?' }] = (await admin.query<{ server_version: string }>('SHOW server_version')).rows;

  const home = mkdtempSync(join(tmpdir(), 'kubescribe-bench-ui-'));
  cleanups.push(async () => rmSync(home, { recursive: true, force: true }));
  progress('opening the RunLog (migrations)');
  // Seeding a million rows takes longer than the RunLog's default statement and query timeouts
  // (10 s and 15 s, src/runlog/pg-timeouts.ts); the pages' own queries are far below either.
  const db = await openRunLogDb({ databaseUrl: withTimeouts(url, '30m'), databaseSchema: schema, home });
  cleanups.push(() => db.close());
  const config = parseConfig(jobsConfig(), 'bench-ui.yaml');
  await syncJobs(db, config);
  const jobNames = [...config.jobs.keys()];

  const [{ n: before } = { n: 0 }] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM runs');
  const reused = before > 0;
  let seedMs = 0;
  let sample: { run_id: string }[];
  let bigRun: string;
  if (reused) {
    // A kept schema (--schema): its sampled runs are those with events, its big log the biggest one.
    progress(`schema ${schema} already holds ${before} runs: reusing them`);
    sample = await db.query<{ run_id: string }>(
      'SELECT DISTINCT run_id::text AS run_id FROM run_events ORDER BY run_id LIMIT $1', [SAMPLE_RUNS],
    );
    const [big] = await db.query<{ run_id: string }>('SELECT run_id::text AS run_id FROM runs ORDER BY log_bytes DESC LIMIT 1');
    bigRun = big!.run_id;
  } else {
    progress(`seeding ${options.rows} runs of ${JOBS} jobs with one INSERT … SELECT FROM generate_series`);
    seedMs = await seedFinishedRuns(db, options.rows, jobNames);
    // Run pages of runs from all over the history (newest to oldest), each with events and a log.
    sample = await db.query<{ run_id: string }>(
      `SELECT run_id::text AS run_id FROM runs TABLESAMPLE SYSTEM (1) LIMIT $1`, [SAMPLE_RUNS],
    );
    if (sample.length === 0) throw new MeasurementError('no run to sample');
    progress(`giving ${sample.length} sampled runs their events and a log`);
    await furnishRuns(db, sample.map((row) => row.run_id));
    progress('writing a run with a 10 MB log');
    bigRun = await runWithBigLog(db, LOG_BYTES);
    for (const table of ['runs', 'run_events', 'run_logs']) await db.query(`ANALYZE ${table}`);
  }
  const [{ n: total } = { n: 0 }] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM runs');
  const scheduled = jobNames.filter((name) => config.jobs.get(name)!.schedule);
  const [{ n: slotCount } = { n: 0 }] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM schedule_slots');
  if (slotCount === 0) {
    progress(`writing the schedule-slot ledger of the ${scheduled.length} scheduled jobs`);
    await seedSlots(db, scheduled);
    await db.query('ANALYZE schedule_slots');
  }

  const signInCodes = new SignInCodes();
  const app = await buildApp({ db, config, executor: new RecordingExecutor(), logger: false, signInCodes },
    [runsReadRoutes, runsWriteRoutes, jobsRoutes, tokensRoutes, uiRoutes]);
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  const { token } = await createToken(db, { name: `bench-read-${randomBytes(4).toString('hex')}`, scope: 'read', expires_at: null, created_by: 'bench' });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(async () => agent.destroy());
  const signIn = await fetch(`${baseUrl}/ui/sign-in/once?code=${signInCodes.issue(token)}`, { redirect: 'manual' });
  const cookie = signIn.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  if (!/ks_session=/.test(cookie)) throw new MeasurementError(`the sign-in link set no session cookie (status ${signIn.status})`);

  out(`KubeScribe admin UI benchmark — node ${process.version}, ${process.platform}/${process.arch}, ${availableParallelism()} CPUs`);
  out(`  PostgreSQL: ${redactUrl(url)} (server ${serverVersion}), schema ${schema} (${options.schema ? 'kept' : 'new; dropped at the end'})`);
  out(`  RunLog:     ${total.toLocaleString('en-US')} runs of ${JOBS} jobs over 90 days (${reused ? 'reused' : `seeded in ${(seedMs / 1000).toFixed(1)} s`}); ${sample.length} sampled runs given events and a 16-chunk log; a slot a day for the ${scheduled.length} scheduled jobs`);
  out(`  server:     buildApp + the API's route groups + uiRoutes at ${baseUrl}; signed in with a read token`);
  out(`  client:     sequential GETs over one keep-alive connection, same process; ${options.requests} per page after 20 warm-ups`);
  out(`  load:       1-minute load average ${loadavg()[0]!.toFixed(2)} at the start (other processes compete for the CPUs)`);
  if (options.quick) out('  --quick:    shorter run; figures are noisier');
  out();

  const results: PageResult[] = [];
  // Job pages of the scheduled jobs (their panels have slots, a strip and a chart), in turn.
  const jobPaths = (query: string) => scheduled.slice(0, 4).map((name) => `/ui/jobs/${name}${query}`);
  if (options.pages === 'job') {
    results.push(await measurePage(agent, baseUrl, cookie, 'GET /ui/runs', ['/ui/runs'], options.requests));
    results.push(await measurePage(agent, baseUrl, cookie, 'GET /ui/jobs/<name> (4 jobs, 30d)', jobPaths(''), options.requests));
    results.push(await measurePage(agent, baseUrl, cookie, 'GET /ui/jobs/<name>?window=90d', jobPaths('?window=90d'), options.requests));
    results.push(await measurePage(agent, baseUrl, cookie, `GET /ui/reports (${JOBS} jobs, shared stats)`, ['/ui/reports'], options.requests));
    out(pageTable(results));
    out();
    const jobP99 = quantile(results[1]!.latencies, 0.99);
    out(`job page p99 (30d): ${ms(jobP99)}, target ≤ ${TARGETS.jobP99Ms} ms: ${verdict(!results[1]!.error && jobP99 <= TARGETS.jobP99Ms)}`);
    out(`bench finished in ${((performance.now() - benchStart) / 1000).toFixed(1)} s; 1-minute load average ${loadavg()[0]!.toFixed(2)} at the end`);
    return 0;
  }
  if (options.pages === 'jobs') {
    // The runs page first, as the reference for what the machine's load does to any page in this run.
    results.push(await measurePage(agent, baseUrl, cookie, 'GET /ui/runs', ['/ui/runs'], options.requests));
    results.push(await measurePage(agent, baseUrl, cookie, `GET /ui/jobs (${JOBS} jobs)`, ['/ui/jobs'], options.requests));
    out(pageTable(results));
    out();
    out(`bench finished in ${((performance.now() - benchStart) / 1000).toFixed(1)} s; 1-minute load average ${loadavg()[0]!.toFixed(2)} at the end`);
    return 0;
  }
  results.push(await measurePage(agent, baseUrl, cookie, 'GET /ui/runs', ['/ui/runs'], options.requests));
  results.push(await measurePage(agent, baseUrl, cookie, 'GET /ui/runs?job=job-07', ['/ui/runs?job=job-07'], options.requests));
  results.push(await measurePage(agent, baseUrl, cookie, 'GET /ui/runs?status=failed', ['/ui/runs?status=failed'], options.requests));
  results.push(await measurePage(agent, baseUrl, cookie, `GET /ui/runs/<id> (${sample.length} runs)`, sample.map((row) => `/ui/runs/${row.run_id}`), options.requests));
  results.push(await measurePage(agent, baseUrl, cookie, `GET /ui/jobs (${JOBS} jobs)`, ['/ui/jobs'], options.requests));
  results.push(await measurePage(agent, baseUrl, cookie, 'GET /ui/jobs/<name> (4 jobs, 30d)', jobPaths(''), options.requests));
  results.push(await measurePage(agent, baseUrl, cookie, 'GET /ui/runs/<id> with a 10 MB log', [`/ui/runs/${bigRun}`], Math.min(options.requests, 50)));

  out('## 1. Page render times');
  out();
  out(pageTable(results));
  out();

  // --- 2. the 10 MB log
  const page = await get(agent, baseUrl, `/ui/runs/${bigRun}`, cookie);
  const gap = /hx-get="(\/ui\/runs\/[^"]+\/log\?[^"]+)"/.exec(page.text())?.[1]?.replaceAll('&amp;', '&');
  if (!gap) throw new MeasurementError('the run page of the 10 MB log has no "load more"');
  const more = await get(agent, baseUrl, gap, cookie);
  if (more.status !== 200) throw new MeasurementError(`load more answered ${more.status}`);
  out('## 2. A run with a 10 MB log');
  out();
  out(table(['what', 'bytes', 'share of the log'], [
    ['the log (stored text)', kib(LOG_BYTES), '100 %'],
    ['the run page (whole HTML, head + tail of the log)', kib(page.bytes), `${((page.bytes / LOG_BYTES) * 100).toFixed(1)} %`],
    ['one "load more" (htmx fragment)', kib(more.bytes), `${((more.bytes / LOG_BYTES) * 100).toFixed(1)} %`],
  ], [false, true, true]));
  out();

  out('## 3. Summary (informational: the bench never fails on these)');
  out();
  const p99 = (label: string) => {
    const result = results.find((r) => r.label.startsWith(label))!;
    return result.error ? Number.NaN : quantile(result.latencies, 0.99);
  };
  const runsP99 = Math.max(p99('GET /ui/runs'), p99('GET /ui/runs?job='), p99('GET /ui/runs?status='));
  const runP99 = p99(`GET /ui/runs/<id> (`);
  const jobsP99 = p99('GET /ui/jobs (');
  const jobP99 = p99('GET /ui/jobs/<name>');
  out(table(['figure', 'target', 'measured', 'verdict'], [
    [`runs page p99 (worst of the three, ${total.toLocaleString('en-US')} runs)`, `≤ ${TARGETS.runsP99Ms} ms`, ms(runsP99), verdict(runsP99 <= TARGETS.runsP99Ms)],
    ['run page p99', `≤ ${TARGETS.runP99Ms} ms`, ms(runP99), verdict(runP99 <= TARGETS.runP99Ms)],
    [`jobs page p99 (${JOBS} jobs)`, `≤ ${TARGETS.jobsP99Ms} ms`, ms(jobsP99), verdict(jobsP99 <= TARGETS.jobsP99Ms)],
    ['job page p99 (30d)', `≤ ${TARGETS.jobP99Ms} ms`, ms(jobP99), verdict(jobP99 <= TARGETS.jobP99Ms)],
    ['10 MB log: run page bytes', '< the whole log', kib(page.bytes), verdict(page.bytes < LOG_BYTES / 20)],
  ], [false, false, true, false]));
  out();
  out(`bench finished in ${((performance.now() - benchStart) / 1000).toFixed(1)} s; 1-minute load average ${loadavg()[0]!.toFixed(2)} at the end`);
  return 0;
}

process.exitCode = await main();
