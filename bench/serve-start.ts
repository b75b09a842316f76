/**
 * What a `kubescribe serve` or `kubescribe dev` costs to start and stop: CPU time (user + system) of
 * the process from spawn to its banner ("ready"), and to its exit after a SIGTERM sent 300 ms after
 * the banner, on each engine: PGlite (a copy of a migrated data directory) and PostgreSQL (a fresh
 * schema, migrated at start) when reachable. `node -e 0` in the same rounds is the baseline. CPU, not
 * wall time: the test suite starts these ~30 times on a shared 2-CPU machine, where CPU is what runs out.
 *
 *   node --import tsx bench/serve-start.ts [--rounds 5] [--bin path/to/bin/kubescribe.js ...]
 *   --bin, repeatable: the builds to compare, in turn within every round (default: this one)
 *
 * A benchmark, not a test: it prints numbers and exits 0 whatever they are.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openRunLogDb, pgliteDataDir } from '../src/runlog/open-runlog.ts';
import { numberOption, out, postgresReachable, progress, quantile, table } from './report.ts';

const OWN_BIN = fileURLToPath(new URL('../bin/kubescribe.js', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./cpu-at-exit.mjs', import.meta.url));
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

interface Sample { readyMs: number; exitMs: number }

async function sql(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** One start → banner → SIGTERM → exit of `bin <mode>`; its CPU at the banner and at exit. */
async function startStop(bin: string, mode: 'serve' | 'dev', engine: 'pglite' | 'postgres', template: string, cpuLog: string): Promise<Sample> {
  const home = mkdtempSync(join(tmpdir(), 'ks-bench-serve-'));
  const schema = engine === 'postgres' ? `kubescribe_bench_serve_${process.pid}_${Math.random().toString(36).slice(2, 8)}` : null;
  if (engine === 'pglite') cpSync(template, pgliteDataDir(home), { recursive: true });
  try {
    const child = spawn(process.execPath, ['--import', PRELOAD, bin, mode, '--host', '127.0.0.1', '--port', '0'], {
      cwd: home,
      env: {
        ...process.env, KUBESCRIBE_HOME: home, KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '', KUBESCRIBE_BENCH_CPU: cpuLog,
        DATABASE_URL: schema ? DATABASE_URL : '', KUBESCRIBE_DB_SCHEMA: schema ?? '',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const exited = new Promise<number | string | null>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (data: Buffer) => {
        err += data.toString();
        if (/KubeScribe (API|dev server) on/.test(err)) resolve();
      });
      void exited.then((code) => reject(new Error(`${mode} on ${engine} exited ${code} before its banner: ${err}`)));
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) throw new Error(`${mode} on ${engine} exited ${code} after SIGTERM: ${err}`);
    const line = readFileSync(cpuLog, 'utf8').split('\n').find((row) => row.startsWith(`${child.pid}\t`));
    if (!line) throw new Error(`${mode} on ${engine}: no CPU figure recorded`);
    const [, readyMs, exitMs] = line.split('\t').map(Number);
    return { readyMs: readyMs!, exitMs: exitMs! };
  } finally {
    rmSync(home, { recursive: true, force: true });
    if (schema) await sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }
}

/** CPU of `node -e 0`, recorded the same way as the servers' (its own figure at exit). */
async function nodeCpuMs(cpuLog: string): Promise<number> {
  const child = spawn(process.execPath, ['--import', PRELOAD, '-e', '0'], { env: { ...process.env, KUBESCRIBE_BENCH_CPU: cpuLog }, stdio: 'ignore' });
  await new Promise((resolve) => child.once('close', resolve));
  const line = readFileSync(cpuLog, 'utf8').split('\n').find((row) => row.startsWith(`${child.pid}\t`));
  if (!line) throw new Error('node -e 0: no CPU figure recorded');
  return Number(line.split('\t')[2]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, bin: { type: 'string', multiple: true } } });
  const rounds = numberOption('rounds', values.rounds, 5, 1, 1000);
  const bins = values.bin?.length ? values.bin.map((bin) => resolve(bin)) : [OWN_BIN];
  const label = (bin: string) => (bins.length > 1 ? ` [${bin.replace(/\/bin\/kubescribe\.js$/, '')}]` : '');
  const scratch = mkdtempSync(join(tmpdir(), 'ks-bench-serve-start-'));
  const cpuLog = join(scratch, 'cpu.tsv');
  // A migrated PGlite RunLog, copied for every start as the tests do (test/support/pglite-template.ts).
  const template = join(scratch, 'template');
  await (await openRunLogDb({ databaseUrl: null, databaseSchema: null, home: template })).close();
  const engines: ('pglite' | 'postgres')[] = (await postgresReachable(DATABASE_URL)) ? ['pglite', 'postgres'] : ['pglite'];
  const cases = bins.flatMap((bin) => [
    ...engines.map((engine) => ({ name: `serve on ${engine}${label(bin)}`, bin, mode: 'serve' as const, engine })),
    { name: `dev on pglite${label(bin)}`, bin, mode: 'dev' as const, engine: 'pglite' as const },
  ]);
  const samples = new Map<string, Sample[]>(cases.map((c) => [c.name, []]));
  const baseline: number[] = [];
  out(`serve/dev start-up CPU — node ${process.version}, ${bins.join(', ')}, ${rounds} rounds after 1 warm-up, load average ${loadavg()[0]!.toFixed(2)} at the start`);
  if (!engines.includes('postgres')) out(`  PostgreSQL not reachable at ${new URL(DATABASE_URL).host}: PGlite only`);
  try {
    for (let round = 0; round <= rounds; round++) {
      if (round > 0) progress(`round ${round}/${rounds}`);
      const zero = await nodeCpuMs(cpuLog);
      if (round > 0) baseline.push(zero);
      // Every case once per round, in the same order: a burst of load hits them all alike.
      for (const c of cases) {
        const sample = await startStop(c.bin, c.mode, c.engine, pgliteDataDir(template), cpuLog);
        if (round > 0) samples.get(c.name)!.push(sample);
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const zero = quantile(baseline, 0.5);
  out(table(
    ['command', 'CPU to ready', 'CPU to exit', 'stop', 'ratio to node -e 0'],
    [['node -e 0', '', `${zero.toFixed(0)} ms`, '', '1.00'], ...cases.map((c) => {
      const list = samples.get(c.name)!;
      const ready = quantile(list.map((s) => s.readyMs), 0.5);
      const exit = quantile(list.map((s) => s.exitMs), 0.5);
      return [c.name, `${ready.toFixed(0)} ms`, `${exit.toFixed(0)} ms`, `${quantile(list.map((s) => s.exitMs - s.readyMs), 0.5).toFixed(0)} ms`, (exit / zero).toFixed(2)];
    })],
    [false, true, true, true, true],
  ));
  out(`load average ${loadavg()[0]!.toFixed(2)} at the end`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
