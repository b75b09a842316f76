/**
 * CLI start-up benchmark: how long each `kubescribe` command takes to answer, as a ratio to
 * `node -e 0` measured in the same rounds (so the machine's noise cancels out).
 *
 *   --help          the command tree alone
 *   runs (API)      `kubescribe runs` against a running API (in this process; PostgreSQL when reachable, else PGlite)
 *   runs (nothing)  `kubescribe runs --server` at a port nobody listens on: start-up plus one refused connect
 *   run -- true     the runner path every job takes, on PostgreSQL (a fresh schema) when reachable
 *
 * A benchmark, not a test: it prints numbers and exits 0 whatever they are.
 *
 *   npm run bench:cli [-- --rounds 10] [-- --bin path/to/bin/kubescribe.js ...]
 *   --bin, repeatable: the builds to measure, turn about in the same rounds (e.g. main's and this one's); default: this one
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { buildApp } from '../src/api/app.ts';
import { runsReadRoutes } from '../src/api/routes/runs-read.ts';
import { emptyConfig } from '../src/config/job-definition.ts';
import { RecordingExecutor } from '../src/executors/executor.ts';
import { openRunLogDb } from '../src/runlog/open-runlog.ts';
import { createToken } from '../src/runlog/sql/tokens.ts';
import { numberOption, out, progress, quantile, ratio, table } from './report.ts';

const OWN_BIN = fileURLToPath(new URL('../bin/kubescribe.js', import.meta.url));
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

interface Case {
  name: string;
  /** The program (default: this node). */
  file?: string;
  argv: string[];
  env: Record<string, string>;
}

/** Wall time of one process from spawn to exit, in ms; throws when it fails. */
function timeOnce(argv: string[], env: Record<string, string>, file: string = process.execPath): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, argv, { env: { ...process.env, ...env }, stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - started;
      // `runs` at a refused port exits 1 by design; anything else must succeed.
      if (code === 0 || (code === 1 && argv.includes('--server') && env.BENCH_EXPECT_REFUSED === '1')) resolve(ms);
      else reject(new Error(`${argv.join(' ')} exited ${code}`));
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function postgresSchema(): Promise<string | null> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    const schema = `kubescribe_bench_cli_${process.pid}`;
    await client.query(`CREATE SCHEMA ${schema}`);
    return schema;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => {});
  }
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA ${schema} CASCADE`);
  await client.end();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, bin: { type: 'string', multiple: true } } });
  const rounds = numberOption('rounds', values.rounds, 10, 1, 1000);
  const bins = values.bin?.length ? values.bin.map((bin) => resolve(bin)) : [OWN_BIN];
  // Several builds: each command's name says which (its directory).
  const label = (bin: string) => (bins.length > 1 ? ` [${bin.replace(/\/bin\/kubescribe\.js$/, '')}]` : '');
  const home = mkdtempSync(join(tmpdir(), 'ks-bench-cli-'));
  const apiHome = mkdtempSync(join(tmpdir(), 'ks-bench-cli-api-'));
  const schema = await postgresSchema();
  // PostgreSQL when reachable, as `serve` runs: PGlite in this process would make the server's
  // answer, not the CLI, most of the `runs (API)` figure.
  const db = await openRunLogDb({ databaseUrl: schema ? DATABASE_URL : null, databaseSchema: schema, home: apiHome });
  const { token } = await createToken(db, { name: 'bench', scope: 'read', expires_at: null, created_by: 'bench' });
  const app = await buildApp({ db, config: emptyConfig(), executor: new RecordingExecutor() }, [runsReadRoutes]);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const base = { KUBESCRIBE_HOME: home, KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '', DATABASE_URL: '' };
  // Bare `true`: what `kubescribe run -- true` is held to (issue 11: at most 100 ms above it).
  const cases: Case[] = [{ name: 'node -e 0', argv: ['-e', '0'], env: base }, { name: 'true', file: 'true', argv: [], env: base }];
  const refused = `http://127.0.0.1:${await freePort()}`;
  for (const BIN of bins) {
    cases.push(
      { name: `kubescribe --help${label(BIN)}`, argv: [BIN, '--help'], env: base },
      { name: `kubescribe runs (API)${label(BIN)}`, argv: [BIN, 'runs', '--server', url, '--token', token], env: base },
      { name: `kubescribe runs (nothing listening)${label(BIN)}`, argv: [BIN, 'runs', '--server', refused], env: { ...base, BENCH_EXPECT_REFUSED: '1' } },
    );
    if (schema) {
      cases.push({
        name: `kubescribe run -- true (PostgreSQL)${label(BIN)}`,
        argv: [BIN, 'run', '-q', '--job', 'bench', '--', 'true'],
        env: { ...base, DATABASE_URL, KUBESCRIBE_DB_SCHEMA: schema },
      });
    }
  }
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  try {
    out(`KubeScribe CLI start-up — node ${process.version}, ${bins.join(', ')}, ${rounds} rounds after 1 warm-up, load average ${loadavg()[0]!.toFixed(2)} at the start`);
    if (!schema) out(`  PostgreSQL not reachable at ${new URL(DATABASE_URL).host}: run -- true not measured`);
    for (let round = 0; round <= rounds; round++) {
      if (round > 0) progress(`round ${round}/${rounds}`);
      // Every case once per round, in the same order: a burst of load hits them all alike.
      for (const c of cases) {
        const ms = await timeOnce(c.argv, c.env, c.file);
        if (round > 0) times.get(c.name)!.push(ms);
      }
    }
  } finally {
    await app.close();
    await db.close();
    if (schema) await dropSchema(schema);
    rmSync(home, { recursive: true, force: true });
    rmSync(apiHome, { recursive: true, force: true });
  }
  const baseline = quantile(times.get('node -e 0')!, 0.5);
  const bareTrue = quantile(times.get('true')!, 0.5);
  out(table(
    ['command', 'median', 'p90', 'above node -e 0', 'ratio to node -e 0', 'above true'],
    cases.map((c) => {
      const median = quantile(times.get(c.name)!, 0.5);
      return [c.name, `${median.toFixed(0)} ms`, `${quantile(times.get(c.name)!, 0.9).toFixed(0)} ms`, `${(median - baseline).toFixed(0)} ms`, ratio(median / baseline), `${(median - bareTrue).toFixed(0)} ms`];
    }),
    [false, true, true, true, true, true],
  ));
  out(`load average ${loadavg()[0]!.toFixed(2)} at the end`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
