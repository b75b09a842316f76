/**
 * The single-file runner (scripts/build-runner.mjs): its size, and how fast it starts compared with
 * `node -e 0` measured in the same rounds, with the bundle run by plain node and the full CLI beside it.
 *
 *   exe --version                 the executable's start-up alone (Node's own start plus the bundle)
 *   node runner.cjs --version     the same bundle run by this node, without the SEA
 *   node bin/kubescribe.js --version   the full CLI
 *   true                          a bare `true`: issue 11's targets are "added over a bare true"
 *   exe run -- true (PostgreSQL)  the runner path of a `runner_runlog: direct` pod, when PostgreSQL is reachable
 *   exe run -- true (API)         a job pod's default path: through a `kubescribe serve` (on PostgreSQL)
 *                                 with a token and no DATABASE_URL
 *   kubescribe run -- true (…)    the full CLI's, for comparison
 *
 * Every process runs in an empty directory (no node_modules, no kubescribe.yaml). A benchmark, not a
 * test: it prints numbers and exits 0 whatever they are.
 *
 *   node --import tsx bench/runner-executable.ts [--rounds 10]   (npm run bench:runner; builds the executable first)
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startBenchServe, type BenchServe } from './bench-serve.ts';
import { numberOption, out, postgresReachable, quantile, table } from './report.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(ROOT, 'bin/kubescribe.js');
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

function timeOnce(program: string, argv: string[], cwd: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(program, argv, { cwd, env: { PATH: '/usr/bin:/bin', ...env }, stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${program} ${argv.join(' ')} exited ${code}`))));
  });
}

const { values } = parseArgs({ options: { rounds: { type: 'string' } } });
const rounds = numberOption('--rounds', values.rounds, 10, 1, 100);
const built = mkdtempSync(join(tmpdir(), 'ks-bench-runner-'));
const cwd = mkdtempSync(join(tmpdir(), 'ks-bench-empty-'));
const schema = `bench_runner_${process.pid}`;
let server: BenchServe | null = null;
try {
  const buildStart = performance.now();
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-runner.mjs'), '--out', built], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const buildMs = performance.now() - buildStart;
  const exe = join(built, 'kubescribe');
  const bundle = join(built, 'runner.cjs');
  const mb = (bytes: number) => `${bytes.toLocaleString('en')} bytes (${(bytes / 1024 / 1024).toFixed(1)} MiB)`;
  out(`node ${process.version} (${process.execPath}): ${mb(statSync(process.execPath).size)}`);
  out(`single-file runner: ${mb(statSync(exe).size)}; its bundle runner.cjs: ${mb(statSync(bundle).size)}; built in ${Math.round(buildMs)} ms`);

  const withPg = await postgresReachable(DATABASE_URL);
  const pgEnv = { DATABASE_URL, KUBESCRIBE_DB_SCHEMA: schema, KUBESCRIBE_RUNLOG: 'direct', KUBESCRIBE_HOME: join(cwd, '.ks') };
  const cases: { name: string; program: string; argv: string[]; env: Record<string, string> }[] = [
    { name: 'node -e 0', program: process.execPath, argv: ['-e', '0'], env: {} },
    { name: 'true', program: 'true', argv: [], env: {} },
    { name: 'exe --version', program: exe, argv: ['--version'], env: {} },
    { name: 'node runner.cjs --version', program: process.execPath, argv: [bundle, '--version'], env: {} },
    { name: 'node bin/kubescribe.js --version', program: process.execPath, argv: [BIN, '--version'], env: {} },
  ];
  if (withPg) {
    cases.push(
      { name: 'exe run -- true (PostgreSQL)', program: exe, argv: ['run', '-q', '--', 'true'], env: pgEnv },
      { name: 'kubescribe run -- true (PostgreSQL)', program: process.execPath, argv: [BIN, 'run', '-q', '--', 'true'], env: pgEnv },
    );
    // The first run creates the schema: not part of what is measured.
    await timeOnce(exe, ['run', '-q', '--', 'true'], cwd, pgEnv);
    const started = await startBenchServe(built, { ...process.env, DATABASE_URL, KUBESCRIBE_DB_SCHEMA: schema });
    if (typeof started === 'string') {
      out(`the API rows are left out: ${started}`);
    } else {
      server = started;
      const apiEnv = { KUBESCRIBE_API_URL: started.url, KUBESCRIBE_TOKEN: started.token, KUBESCRIBE_HOME: join(cwd, '.ks-api') };
      cases.push(
        { name: 'exe run -- true (API)', program: exe, argv: ['run', '-q', '--job', 'bench', '--', 'true'], env: apiEnv },
        { name: 'kubescribe run -- true (API)', program: process.execPath, argv: [BIN, 'run', '-q', '--job', 'bench', '--', 'true'], env: apiEnv },
      );
      // The server's first runner request (its statements' plans, the job's row): not measured either.
      await timeOnce(exe, ['run', '-q', '--job', 'bench', '--', 'true'], cwd, apiEnv);
    }
  } else {
    out(`PostgreSQL not reachable at ${DATABASE_URL}: the run -- true rows are left out`);
  }
  const times = cases.map(() => [] as number[]);
  const load = loadavg()[0]!;
  for (let round = 0; round < rounds; round += 1) {
    for (const [i, c] of cases.entries()) times[i]!.push(await timeOnce(c.program, c.argv, cwd, c.env));
  }
  const base = quantile(times[0]!, 0.5);
  const bare = quantile(times[1]!, 0.5);
  out(`\n${rounds} rounds, load average ${load.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}\n`);
  out(table(['command', 'median', 'p90', 'above node -e 0', 'above true', 'ratio to node -e 0'], cases.map((c, i) => {
    const median = quantile(times[i]!, 0.5);
    return [c.name, `${Math.round(median)} ms`, `${Math.round(quantile(times[i]!, 0.9))} ms`, `${Math.round(median - base)} ms`, `${Math.round(median - bare)} ms`, (median / base).toFixed(2)];
  }), [false, true, true, true, true, true]));
  out('\nIssue 11\'s target for `run -- true`: at most 100 ms above a bare `true`, on PostgreSQL and through the API.');
} finally {
  await server?.stop();
  rmSync(built, { recursive: true, force: true });
  rmSync(cwd, { recursive: true, force: true });
  if (await postgresReachable(DATABASE_URL)) {
    const client = new pg.Client(DATABASE_URL);
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
}
