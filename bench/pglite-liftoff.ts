/**
 * PGlite on Liftoff: the CPU a process spends on the embedded RunLog with V8's default WebAssembly
 * tiering (Liftoff, then TurboFan on background threads) and with Liftoff only, which is what
 * src/runlog/pglite-wasm.ts sets. Both run in the same rounds, alternating, so the machine's noise
 * hits both alike; compare the ratio.
 *
 *   open + 20 queries     what a CLI command or a runner does with the RunLog
 *   open + 3,000 queries  a long-lived process (dev with PGlite), where TurboFan could pay off
 *
 * Each case is a child process that copies a migrated RunLog, opens it with PGlite, queries, closes
 * and prints the CPU (user + system, all threads) it used. A benchmark, not a test: it prints
 * numbers and exits 0 whatever they are.
 *
 *   npm run bench:pglite [-- --rounds 6]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seedPgliteRunLog } from '../test/support/pglite-template.ts';
import { pgliteDataDir } from '../src/runlog/open-runlog.ts';
import { numberOption, out, progress, quantile, ratio, table } from './report.ts';

// The child: plain PGlite (not the engine module, which sets Liftoff for every process).
const CHILD = `
const [dataDir, queries] = [process.argv[1], Number(process.argv[2])];
const { PGlite } = await import('@electric-sql/pglite');
const db = await PGlite.create(dataDir, { postgresqlconf: ['shared_buffers = 16MB'] });
await db.query("INSERT INTO jobs (name, declared) VALUES ('bench', false) ON CONFLICT DO NOTHING");
for (let i = 0; i < queries; i++) {
  if (i % 2) await db.query('SELECT count(*) FROM job_events WHERE job = $1', ['bench']);
  else await db.query("INSERT INTO job_events (event_id, job, type, actor) VALUES (gen_random_uuid(), 'bench', 'suspended', 'bench')");
}
await db.close();
const { user, system } = process.cpuUsage();
console.log(JSON.stringify({ cpuMs: (user + system) / 1000 }));
`;

const { values } = parseArgs({ options: { rounds: { type: 'string' } } });
const rounds = numberOption('--rounds', values.rounds, 6, 1, 100);
const template = mkdtempSync(join(tmpdir(), 'ks-bench-pglite-'));
await seedPgliteRunLog(template);

/** CPU ms of one child, on a fresh copy of the migrated RunLog. */
function measure(flags: string[], queries: number): number {
  const home = mkdtempSync(join(tmpdir(), 'ks-bench-pglite-run-'));
  try {
    spawnSync('cp', ['-r', pgliteDataDir(template), join(home, 'runlog')]);
    const child = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', CHILD, join(home, 'runlog'), String(queries)], {
      encoding: 'utf8', cwd: process.cwd(),
    });
    if (child.status !== 0) throw new Error(`child failed: ${child.stderr}`);
    return (JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { cpuMs: number }).cpuMs;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

const cases = [{ name: 'open + 20 queries', queries: 20 }, { name: 'open + 3,000 queries', queries: 3000 }];
const samples = new Map<string, { tiered: number[]; liftoff: number[] }>(cases.map((c) => [c.name, { tiered: [], liftoff: [] }]));
const loadBefore = loadavg()[0]!;
for (let round = 1; round <= rounds; round++) {
  progress(`round ${round}/${rounds}`);
  for (const c of cases) {
    const s = samples.get(c.name)!;
    s.tiered.push(measure([], c.queries));
    s.liftoff.push(measure(['--liftoff-only'], c.queries));
  }
}
rmSync(template, { recursive: true, force: true });
out(`PGlite CPU per process (median of ${rounds} rounds; load average ${loadBefore.toFixed(1)} → ${loadavg()[0]!.toFixed(1)})`);
out();
out(table(['case', 'default tiering', 'Liftoff only', 'Liftoff / default'], cases.map((c) => {
  const s = samples.get(c.name)!;
  const [tiered, liftoff] = [quantile(s.tiered, 0.5), quantile(s.liftoff, 0.5)];
  return [c.name, `${Math.round(tiered)} ms`, `${Math.round(liftoff)} ms`, ratio(liftoff / tiered)];
}), [false, true, true, true]));
