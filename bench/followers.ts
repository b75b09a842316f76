/**
 * Log followers benchmark: what 1,000 live followers of a run with a 10 MB log, 200 of them not
 * reading, cost the real `kubescribe serve` process on PostgreSQL.
 *
 *   1. baseline:  GET /runs p50/p99 with no follower connected
 *   2. loaded:    the same with 200 stalled followers (asked for the whole log, never read) and 800
 *                 followers of the live tail (the job prints a line every 50 ms)
 *   3. summary:   p99 under load against the 100 ms target, the ratio to the baseline, RSS at rest
 *                 and at the peak
 *
 * A benchmark, not a test: it prints numbers and verdicts and exits 0 whatever they are; non-zero only
 * when a measurement itself failed. GET /runs is timed from a worker thread, so the followers'
 * sockets (handled on the main thread) do not sit in the measured client's event loop. Everything
 * lives in a fresh PostgreSQL schema, dropped at the end.
 *
 *   npm run bench:followers [-- --requests 300 --stalled 200 --tail 800]   (see bench/README.md)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { redactUrl } from '../src/runlog/db.ts';
import { RawFollower } from '../test/server/support.ts';
import { MeasurementError, numberOption, out, progress, quantile, ratio, table, UsageError } from './report.ts';

const TARGET_P99_MS = 100;
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const BIN = fileURLToPath(new URL('../bin/kubescribe.js', import.meta.url));
const MB = 1024 * 1024;
const USAGE = `usage: npm run bench:followers [-- options]   (or: node --import tsx bench/followers.ts [options])

  --requests N   GET /runs requests per measurement, after 20 warm-ups (default 300)
  --stalled N    followers that ask for the whole log and never read (default 200)
  --tail N       followers of the live tail, reading (default 800)
  -h, --help     this text

PostgreSQL: $DATABASE_URL, else ${DEFAULT_DATABASE_URL}; a fresh schema is created and dropped.
Needs a built dist/ (npm run bench:followers builds it) and python3.
`;

interface Options { requests: number; stalled: number; tail: number }

function readOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: { requests: { type: 'string' }, stalled: { type: 'string' }, tail: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return null;
  return {
    requests: numberOption('--requests', values.requests, 300, 20, 100_000),
    stalled: numberOption('--stalled', values.stalled, 200, 0, 5000),
    tail: numberOption('--tail', values.tail, 800, 0, 5000),
  };
}

// The timing client: sequential GET /runs from its own thread; returns the latencies in ms.
const TIMER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { request } = require('node:http');
const agent = new (require('node:http').Agent)({ keepAlive: true, maxSockets: 1 });
const once = () => new Promise((resolve, reject) => {
  const started = process.hrtime.bigint();
  const req = request(workerData.url + '/runs?limit=50', { agent, headers: { authorization: 'Bearer ' + workerData.token } }, (res) => {
    res.resume();
    res.on('end', () => res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - started) / 1e6) : reject(new Error('GET /runs answered ' + res.statusCode)));
  });
  req.on('error', reject);
  req.end();
});
(async () => {
  for (let i = 0; i < 20; i++) await once();
  const times = [];
  for (let i = 0; i < workerData.requests; i++) times.push(await once());
  parentPort.postMessage(times);
})().catch((error) => parentPort.postMessage({ error: String(error) }));
`;

function timeGetRuns(url: string, token: string, requests: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(TIMER_SOURCE, { eval: true, workerData: { url, token, requests } });
    worker.once('message', (message: number[] | { error: string }) => {
      void worker.terminate();
      if (Array.isArray(message)) resolve(message);
      else reject(new MeasurementError(message.error));
    });
    worker.once('error', reject);
  });
}

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

async function main(): Promise<number> {
  let options: Options | null;
  try {
    options = readOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  if (!options) {
    process.stdout.write(USAGE);
    return 0;
  }
  const databaseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const schema = `ks_bench_followers_${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'ks-bench-followers-'));
  const env = { ...process.env, DATABASE_URL: databaseUrl, KUBESCRIBE_DB_SCHEMA: schema, KUBESCRIBE_HOME: join(dir, '.kubescribe') };
  writeFileSync(join(dir, 'chatty.py'), [
    'import sys, time',
    "sys.stdout.write(('z' * 99 + '\\n') * 105000)",
    'sys.stdout.flush()',
    'for i in range(6000):',
    "    print(f'tick {i}', flush=True)",
    '    time.sleep(0.05)',
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'kubescribe.yaml'),
    'runlog:\n  log_cap: 64MB\napi:\n  rate_limit: off\n  max_connections_per_client: 0\njobs:\n  chatty:\n    command: [python3, chatty.py]\n');
  const followers: RawFollower[] = [];
  let server: ReturnType<typeof spawn> | null = null;
  try {
    const cli = (args: string[]) => new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      let errors = '';
      child.stdout!.on('data', (data: Buffer) => (text += data.toString()));
      child.stderr!.on('data', (data: Buffer) => (errors += data.toString()));
      child.once('close', (code) => (code === 0 ? resolve(text.trim()) : reject(new MeasurementError(`kubescribe ${args[0]}: ${errors}`))));
    });
    progress(`PostgreSQL ${redactUrl(databaseUrl)}, schema ${schema}`);
    const token = await cli(['tokens', 'create', '--name', 'bench', '--scope', 'trigger', '--runlog']);
    server = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--no-scheduler', '--shutdown-grace', '0s'], {
      cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let said = '';
    server.stderr!.on('data', (data: Buffer) => (said += data.toString()));
    const deadline = Date.now() + 60_000;
    let url: string | undefined;
    while (!(url = /API on (http:\/\/\S+)/.exec(said)?.[1])) {
      if (Date.now() > deadline || server.exitCode !== null) throw new MeasurementError(`the server did not start: ${said}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const auth = { authorization: `Bearer ${token}` };
    const triggered = await fetch(`${url}/runs/trigger`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"job":"chatty"}' });
    if (!triggered.ok) throw new MeasurementError(`trigger: ${await triggered.text()}`);
    const runId = ((await triggered.json()) as { run_id: string }).run_id;
    progress('waiting for 10 MB of log');
    let head = 0;
    for (let stored = 0; stored < 10 * 1000 * 1000;) {
      if (Date.now() > deadline + 60_000) throw new MeasurementError(`only ${stored} bytes of log after 2 min`);
      const page = (await (await fetch(`${url}/runs/${runId}/logs?after_seq=${head}&limit=10000`, { headers: auth })).json()) as { chunks: { seq: number; text: string }[] };
      for (const chunk of page.chunks) stored += chunk.text.length;
      head = page.chunks.at(-1)?.seq ?? head;
      if (page.chunks.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }

    progress(`baseline: ${options.requests} GET /runs, no followers`);
    const atRest = rssOf(server.pid!);
    const baseline = await timeGetRuns(url, token, options.requests);

    progress(`connecting ${options.stalled} stalled and ${options.tail} tail followers`);
    const path = `/runs/${runId}/logs?follow=true`;
    for (let i = 0; i < options.stalled; i++) followers.push(new RawFollower(url, path, auth, { read: false }));
    const tail = Array.from({ length: options.tail }, () => new RawFollower(url!, path, { ...auth, 'last-event-id': String(head) }, { read: true, keepEvents: false }));
    followers.push(...tail);
    await Promise.all(tail.map((f) => f.until(() => f.seqs.length > 0, 120_000, 'a live chunk on every tail follower')));
    progress(`loaded: ${options.requests} GET /runs with ${followers.length} followers`);
    let peak = rssOf(server.pid!);
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(server!.pid!))), 100);
    const eventsBefore = tail.reduce((sum, f) => sum + f.seqs.length, 0);
    const startedAt = Date.now();
    const loaded = await timeGetRuns(url, token, options.requests);
    const seconds = (Date.now() - startedAt) / 1000;
    clearInterval(sampler);
    const delivered = tail.reduce((sum, f) => sum + f.seqs.length, 0) - eventsBefore;
    const stalledOpen = followers.slice(0, options.stalled).filter((f) => !f.closed).length;

    const ms = (value: number) => value.toFixed(1);
    const p99 = quantile(loaded, 0.99);
    out(`Log followers (kubescribe serve on PostgreSQL, ${availableParallelism()} CPUs, load ${loadavg()[0]!.toFixed(1)})`);
    out(`  ${options.stalled} stalled + ${options.tail} tail followers of a run with a 10 MB log; GET /runs?limit=50, ${options.requests} requests each, sequential, from a worker thread`);
    out('');
    out(table(['GET /runs', 'p50 ms', 'p99 ms', 'max ms'], [
      ['no followers', ms(quantile(baseline, 0.5)), ms(quantile(baseline, 0.99)), ms(Math.max(...baseline))],
      [`${followers.length} followers`, ms(quantile(loaded, 0.5)), ms(p99), ms(Math.max(...loaded))],
    ], [false, true, true, true]));
    out('');
    out(`  p99 with followers / without: ${ratio(p99 / quantile(baseline, 0.99))}`);
    out(`  server RSS: ${(atRest / MB).toFixed(0)} MB at rest, ${(peak / MB).toFixed(0)} MB peak with followers (+${((peak - atRest) / MB).toFixed(0)} MB)`);
    out(`  live events delivered to the tail followers while measuring: ${delivered} (${(delivered / seconds).toFixed(0)}/s); stalled followers still open: ${stalledOpen}`);
    out(`  target: GET /runs p99 <= ${TARGET_P99_MS} ms under this load: ${p99 <= TARGET_P99_MS ? 'met' : 'NOT met'} (${ms(p99)} ms)`);
    return 0;
  } finally {
    for (const follower of followers) follower.close();
    if (server && server.exitCode === null) {
      // SIGTERM with a grace of 0 s cancels the run, so its job does not outlive the bench.
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      const timer = setTimeout(() => server!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
