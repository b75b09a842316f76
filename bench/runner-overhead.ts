/**
 * Runner benchmark: what `kubescribe run -- <command>` costs on top of the command it supervises,
 * on each RunLog engine (embedded PGlite; PostgreSQL when reachable).
 *
 *   1. overhead:  `kubescribe run -- true` vs bare `true` and `node -e 0` — wall time (median, p90) and peak RSS
 *   2. capture:   a child writing 50 MB of lines — `gen | cat > /dev/null` vs `kubescribe run -- gen > /dev/null`
 *   3. summary:   the figures against their targets
 *
 * A benchmark, not a test: it prints numbers and verdicts and exits 0 whatever they are; non-zero only
 * when a measurement itself failed. It works in a fresh temporary KUBESCRIBE_HOME and a fresh
 * PostgreSQL schema (dropped at the end), so it never touches a user's RunLog.
 *
 *   npm run bench [-- --runs 15 --mb 50 --reps 3 --engine all|pglite|postgres]   (see bench/README.md)
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { redactUrl } from '../src/runlog/db.ts';
import { liveFlusherPid } from '../src/runlog/flusher-lock.ts';
import { importableSpools } from '../src/runner/recorder.ts';
import { startBenchServe } from './bench-serve.ts';
import { MeasurementError, numberOption, out, progress, quantile, ratio, table, UsageError } from './report.ts';

// Issue 11: `kubescribe run -- true` adds at most 100 ms and 80 MB over a bare `true` on PostgreSQL and
// 300 ms on the embedded RunLog; a child writing as fast as it can keeps at least half of its pace
// into `cat` with the log cap on. `node -e 0` is measured in the same run: Node's own start-up.
const TARGETS = { addedMs: { PostgreSQL: 100, 'API (serve)': 100, PGlite: 300 }, addedRssMb: 80, captureRatio: 0.5 };
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const WARMUP_RUNS = 2;
const PROCESS_TIMEOUT_MS = 120_000;
const MB = 1024 * 1024;

const USAGE = `usage: npm run bench [-- options]   (or: node --import tsx bench/runner-overhead.ts [options])

  --runs N        measured runs of \`true\` per side, after ${WARMUP_RUNS} warm-ups (default 15)
  --mb N          megabytes the capture child writes (default 50)
  --reps N        repetitions of each capture measurement; the median is reported (default 3)
  --engine E      all | pglite | postgres | api (default all; PostgreSQL and the API are skipped if PostgreSQL
                  cannot be reached). api: the runner records through a \`kubescribe serve\` on PostgreSQL,
                  started by the bench, with KUBESCRIBE_API_URL and an admin token (no DATABASE_URL)
  --rss MODE      auto | time | poll: peak RSS from GNU /usr/bin/time, or by polling /proc (default auto)
  --ca-certs M    drop | keep: NODE_EXTRA_CA_CERTS in the measured processes' environment (default drop,
                  as in a job pod: Node parses the whole bundle at every start)
  -h, --help      this text

PostgreSQL: $DATABASE_URL, else ${DEFAULT_DATABASE_URL}; a fresh schema is created and dropped.
`;

// ---------------------------------------------------------------------------------------------
// Options


interface Options {
  runs: number;
  mb: number;
  reps: number;
  engines: Array<'pglite' | 'postgres' | 'api'>;
  rss: 'auto' | 'time' | 'poll';
  caCerts: 'drop' | 'keep';
}

function readOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      mb: { type: 'string' },
      reps: { type: 'string' },
      engine: { type: 'string' },
      rss: { type: 'string' },
      'ca-certs': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return null;
  const int = (name: string, raw: string | undefined, fallback: number, min: number, max: number) =>
    numberOption(name, raw, fallback, min, max);
  const engine = values.engine ?? 'all';
  if (!['all', 'pglite', 'postgres', 'api'].includes(engine)) throw new UsageError(`--engine: expected all, pglite, postgres or api, got ${engine}`);
  const caCerts = values['ca-certs'] ?? 'drop';
  if (caCerts !== 'drop' && caCerts !== 'keep') throw new UsageError(`--ca-certs: expected drop or keep, got ${caCerts}`);
  const rss = values.rss ?? 'auto';
  if (rss !== 'auto' && rss !== 'time' && rss !== 'poll') throw new UsageError(`--rss: expected auto, time or poll, got ${rss}`);
  return {
    runs: int('runs', values.runs, 15, 1, 400),
    mb: int('mb', values.mb, 50, 1, 10_000),
    reps: int('reps', values.reps, 3, 1, 100),
    engines: engine === 'all' ? ['pglite', 'postgres', 'api'] : [engine as 'pglite' | 'postgres' | 'api'],
    rss,
    caCerts,
  };
}

// ---------------------------------------------------------------------------------------------
// Output: results on stdout, progress on stderr (so `npm run bench > results.txt` keeps just the results)


const ms = (value: number) => `${value.toFixed(1)} ms`;
const mb = (kb: number | null) => (kb === null ? 'n/a' : `${(kb / 1024).toFixed(1)} MB`);
const rate = (value: number | null) => (value === null || !Number.isFinite(value) ? 'n/a' : `${value.toFixed(0)} MB/s`);

const median = (values: number[]) => quantile(values, 0.5);
const maxOf = (values: Array<number | null>) => {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? Math.max(...known) : null;
};

// ---------------------------------------------------------------------------------------------
// Measuring one process: wall time from spawn to exit, peak RSS, exit status


interface Sample {
  wallMs: number;
  /** Peak resident set size of the measured process (the runner itself, not its child), in KB. */
  rssKb: number | null;
  /** For the capture generator: seconds it spent writing, as it measured them. */
  writerS: number | null;
  /**
   * For the capture generator: ms from its first write to the measured process's exit — the part of
   * the wall that the output costs, without the start-up (interpreter, RunLog open) in front of it.
   */
  spanMs: number | null;
}

interface Spawner {
  mode: 'time' | 'poll';
  measure(label: string, argv: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; writerFile?: string }): Promise<Sample>;
}

let activeChild: ReturnType<typeof spawn> | null = null;

function isGnuTime(path: string): boolean {
  if (!existsSync(path)) return false;
  const probe = spawnSync(path, ['--version'], { encoding: 'utf8' });
  return `${probe.stdout ?? ''}${probe.stderr ?? ''}`.includes('GNU');
}

function makeSpawner(workDir: string, rss: Options['rss']): Spawner {
  const TIME = '/usr/bin/time';
  let mode: Spawner['mode'];
  if (rss === 'poll') mode = 'poll';
  else if (isGnuTime(TIME)) mode = 'time';
  else if (rss === 'time') throw new UsageError(`--rss time: GNU time is not installed at ${TIME} (apt-get install time)`);
  else mode = 'poll';
  let counter = 0;

  return {
    mode,
    async measure(label, argv, opts) {
      const rssFile = join(workDir, `rss-${++counter}.txt`);
      // Both sides of every comparison go through the same wrapper, so its own cost cancels out.
      const command = mode === 'time' ? [TIME, '-f', '%M', '-o', rssFile, ...argv] : argv;
      if (opts.writerFile) rmSync(opts.writerFile, { force: true });
      let stderr = '';
      let peakKb = 0;
      const start = performance.now();
      const child = spawn(command[0]!, command.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'ignore', 'pipe'] });
      activeChild = child;
      child.stderr!.on('data', (data: Buffer) => {
        stderr = (stderr + data.toString('utf8')).slice(-4000);
      });
      // Without GNU time: VmHWM is the kernel's own high-water mark, so the last reading before exit
      // is the peak unless memory grew in the final 5 ms.
      const poller =
        mode === 'poll'
          ? setInterval(() => {
              try {
                const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
                const match = /^VmHWM:\s+(\d+) kB/m.exec(status) ?? /^VmRSS:\s+(\d+) kB/m.exec(status);
                if (match) peakKb = Math.max(peakKb, Number(match[1]));
              } catch {
                // Gone already.
              }
            }, 5)
          : null;
      const timer = setTimeout(() => child.kill('SIGKILL'), PROCESS_TIMEOUT_MS);
      const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
      let result: { code: number | null; signal: NodeJS.Signals | null; end: number };
      try {
        result = await new Promise((resolve, reject) => {
          child.once('error', reject);
          child.once('exit', (code, signal) => resolve({ code, signal, end: performance.now() }));
        });
        await closed;
      } catch (error) {
        throw new MeasurementError(`${label}: could not start ${command[0]}: ${(error as Error).message}`);
      } finally {
        clearTimeout(timer);
        if (poller) clearInterval(poller);
        activeChild = null;
      }
      if (result.code !== 0) {
        const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
        throw new MeasurementError(`${label}: ${argv.join(' ')} ${how}${stderr.trim() ? `:\n${stderr.trimEnd()}` : ''}`);
      }
      let rssKb: number | null = peakKb || null;
      if (mode === 'time') {
        const lines = existsSync(rssFile) ? readFileSync(rssFile, 'utf8').trim().split('\n') : [];
        const value = Number(lines.at(-1));
        rssKb = Number.isFinite(value) && value > 0 ? value : null;
        rmSync(rssFile, { force: true });
      }
      let writerS: number | null = null;
      let spanMs: number | null = null;
      if (opts.writerFile && existsSync(opts.writerFile)) {
        // "<epoch seconds of the first write> <seconds spent writing>"; both clocks are CLOCK_REALTIME.
        const [startEpoch, elapsed] = readFileSync(opts.writerFile, 'utf8').trim().split(/\s+/).map(Number);
        if (Number.isFinite(elapsed) && elapsed! >= 0) writerS = elapsed!;
        if (Number.isFinite(startEpoch)) spanMs = performance.timeOrigin + result.end - startEpoch! * 1000;
      }
      return { wallMs: result.end - start, rssKb, writerS, spanMs };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The capture generator: line-structured output, written in 64 KB blocks, as fast as the reader takes it

// It leaves in argv[2] the wall-clock time of its first write and the seconds it spent writing: with a
// blocking pipe a writer waits for its reader, so the latter is the pace the reader (cat, or the
// runner) imposed on the job while it ran.
const PY_GENERATOR = String.raw`
import os, sys, time
total, result = int(sys.argv[1]), sys.argv[2]
lines, size, i = [], 0, 0
while True:
    line = "%08d 2024-05-01T06:00:00.%03dZ INFO  etl.load  batch=%d rows=1200 status=ok elapsed_ms=%d region=eu-west-1\n" % (i, i % 1000, i, i % 977)
    if size + len(line) > 65536:
        break
    lines.append(line); size += len(line); i += 1
block = memoryview("".join(lines).encode())
fd = sys.stdout.fileno()
left, offset = total, 0
start_epoch, start = time.time(), time.perf_counter()
while left > 0:
    n = os.write(fd, block[offset:offset + min(left, len(block) - offset)])
    left -= n
    offset = (offset + n) % len(block)
elapsed = time.perf_counter() - start
with open(result, "w") as f:
    f.write("%r %r" % (start_epoch, elapsed))
`;

interface Generator {
  /** argv of a process that writes `bytes` bytes of log lines to stdout. */
  argv(bytes: number): string[];
  /** Where it leaves the seconds it spent writing, if it can. */
  writerFile: string | null;
  kind: string;
}

function makeGenerator(workDir: string, bytes: number): Generator {
  // The interpreter itself, not a version-manager shim in front of it (pyenv's costs ~50 ms a start).
  const probe = spawnSync('python3', ['-c', 'import sys; print(sys.version_info[0], sys.executable)'], { encoding: 'utf8' });
  const [major, python] = probe.status === 0 ? probe.stdout.trim().split(' ') : [];
  if (major === '3' && python) {
    const script = join(workDir, 'generate.py');
    const writerFile = join(workDir, 'writer-seconds.txt');
    writeFileSync(script, PY_GENERATOR);
    return {
      argv: (n) => [python, script, String(n), writerFile],
      writerFile,
      kind: `${python}, 64 KB writes of ~110-byte log lines`,
    };
  }
  // No Python: the same kind of lines from a file, read by cat (no writer-side timing).
  const line = (i: number) => `${String(i).padStart(8, '0')} 2024-05-01T06:00:00.000Z INFO  etl.load  batch=${i} rows=1200 status=ok\n`;
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const l = line(i);
    parts.push(l);
    size += l.length;
  }
  const file = join(workDir, 'lines.txt');
  const empty = join(workDir, 'empty.txt');
  writeFileSync(file, parts.join('').slice(0, bytes));
  writeFileSync(empty, '');
  return {
    argv: (n) => ['cat', n === 0 ? empty : file],
    writerFile: null,
    kind: 'cat of a pre-generated file of log lines (python3 not found)',
  };
}

function shellQuote(word: string): string {
  return /^[\w./:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

// ---------------------------------------------------------------------------------------------
// Engines

interface Engine {
  name: 'PGlite' | 'PostgreSQL' | 'API (serve)';
  where: string;
  env: NodeJS.ProcessEnv;
  /** Drops what the bench created for this engine (the temporary home is removed separately). */
  cleanup(): Promise<void>;
}

/** Whether the measured processes keep NODE_EXTRA_CA_CERTS (`--ca-certs keep`); set once from the options. */
let keepCaCerts = false;

/** The environment every measured process gets: none of the user's KubeScribe settings leak in. */
function baseEnv(home: string, workDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('KUBESCRIBE_') || name === 'DATABASE_URL') delete env[name];
  }
  // Node reads and parses every certificate of NODE_EXTRA_CA_CERTS at each start (~40 ms of a 60 ms
  // `node -e 0` here, where the shell sets it to the system bundle). A job pod does not set it; `--ca-certs
  // keep` measures with it. Every side (`node -e 0` too) gets the same environment.
  if (!keepCaCerts) delete env.NODE_EXTRA_CA_CERTS;
  env.KUBESCRIBE_HOME = home;
  // No config file: the runner records an undeclared job named "bench".
  env.KUBESCRIBE_CONFIG = join(workDir, 'no-kubescribe.yaml');
  return env;
}


function pgliteEngine(workDir: string): Engine {
  const home = join(workDir, 'pglite-home');
  return {
    name: 'PGlite',
    where: `${home}/runlog (new, empty)`,
    env: baseEnv(home, workDir),
    cleanup: async () => {
      await settleFlusher(home);
    },
  };
}

/** Waits until the detached spool flusher of `home` is done: none running, no spool waiting for one. */
async function settleFlusher(home: string): Promise<void> {
  const deadline = Date.now() + PROCESS_TIMEOUT_MS;
  while (liveFlusherPid(home) !== null || importableSpools(join(home, 'spool')).length > 0) {
    if (Date.now() > deadline) throw new MeasurementError(`the spool flusher of ${home} did not finish within ${PROCESS_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function postgresEngine(workDir: string): Promise<Engine | string> {
  const url = process.env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
  const source = process.env.DATABASE_URL?.trim() ? '$DATABASE_URL' : 'the default URL';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    return `PostgreSQL skipped: cannot connect to ${redactUrl(url)} (${source}): ${(error as Error).message || String(error)}`;
  }
  let schema = '';
  for (;;) {
    schema = `kubescribe_bench_${randomBytes(4).toString('hex')}`;
    const { rows } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (rows.length === 0) break;
  }
  // Take the schema now, so nothing of anyone else's can be in it and the bench is allowed to drop it.
  try {
    await client.query(`CREATE SCHEMA "${schema}"`);
  } catch (error) {
    await client.end().catch(() => {});
    return `PostgreSQL skipped: cannot create a schema in ${redactUrl(url)}: ${(error as Error).message}`;
  }
  const home = join(workDir, 'postgres-home');
  const env = baseEnv(home, workDir);
  env.DATABASE_URL = url;
  env.KUBESCRIBE_DB_SCHEMA = schema;
  let dropped = false;
  return {
    name: 'PostgreSQL',
    where: `${redactUrl(url)}, schema ${schema} (new, empty; dropped at the end)`,
    env,
    async cleanup() {
      if (dropped) return;
      dropped = true;
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } catch (error) {
        process.stderr.write(`bench: could not drop schema ${schema}: ${(error as Error).message}; drop it by hand\n`);
      } finally {
        await client.end().catch(() => {});
      }
    },
  };
}

/**
 * The runner's second sink: a `kubescribe serve` (no executor, no scheduler) on a PostgreSQL engine of
 * the bench's own, with a bootstrap admin token; the runner gets KUBESCRIBE_API_URL and that token
 * and no DATABASE_URL, as a job pod does. The server runs through every measurement of this engine.
 */
async function apiEngine(workDir: string, postgres: Engine): Promise<Engine | string> {
  const server = await startBenchServe(workDir, postgres.env);
  if (typeof server === 'string') return `API skipped: ${server}`;
  const { url, token } = server;
  const env = baseEnv(join(workDir, 'api-runner-home'), workDir);
  Object.assign(env, { KUBESCRIBE_API_URL: url, KUBESCRIBE_SERVER: url, KUBESCRIBE_TOKEN: token });
  return {
    name: 'API (serve)',
    where: `kubescribe serve at ${url} on ${postgres.where.replace(/ \(new.*$/, '')}`,
    env,
    cleanup: server.stop,
  };
}

// ---------------------------------------------------------------------------------------------
// The benchmark

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'kubescribe.js');
const NODE = process.execPath;

interface OverheadResult {
  firstRunMs: number;
  firstRunLabel: string;
  runner: number[];
  rssKb: Array<number | null>;
  addedMs: number;
  ratio: number;
}

interface CaptureRun {
  label: string;
  /** Median wall with the full output. */
  wallMs: number;
  /** The part of the wall the output itself costs (see summarizeCapture). */
  costMs: number;
  /** From the generator's last write to the process's exit: RunLog writes still queued, then shut-down. */
  tailMs: number | null;
  rssKb: number | null;
  /** End to end: bytes / wall, fixed costs included. */
  rawRate: number;
  rawRatio: number;
  /** bytes / costMs: the pace of the capture itself; null when noise swallowed the difference. */
  netRate: number | null;
  netRatio: number | null;
  /** bytes / the generator's own write time. */
  writerRate: number | null;
  writerRatio: number | null;
  stored: string;
}

interface EngineResult {
  engine: Engine;
  overhead: OverheadResult;
  capped: CaptureRun;
  full: CaptureRun;
  runsRecorded: string;
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
  keepCaCerts = options.caCerts === 'keep';
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    process.stderr.write('bench: dist/ is missing: run `npm run bench` (it builds first) or `node scripts/build.mjs`\n');
    return 1;
  }

  const workDir = mkdtempSync(join(tmpdir(), 'kubescribe-bench-'));
  const cleanups: Array<() => Promise<void>> = [];
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const fn of cleanups.reverse()) await fn();
    rmSync(workDir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\nbench: ${signal}: cleaning up\n`);
    activeChild?.kill('SIGKILL');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    return await bench(options, workDir, cleanups);
  } catch (error) {
    const known = error instanceof MeasurementError || error instanceof UsageError;
    process.stderr.write(`\nbench: measurement failed: ${known ? (error as Error).message : ((error as Error).stack ?? String(error))}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

async function bench(options: Options, workDir: string, cleanups: Array<() => Promise<void>>): Promise<number> {
  const benchStart = performance.now();
  const spawner = makeSpawner(workDir, options.rss);
  const bytes = options.mb * MB;
  const generator = makeGenerator(workDir, bytes);
  const cwd = join(workDir, 'cwd');
  mkdirSync(cwd);

  out(`KubeScribe runner benchmark — node ${process.version}, ${process.platform}/${process.arch}`);
  out(`  runner:     ${NODE} ${BIN} run -q --job bench -- <command>`);
  out(`  overhead:   ${options.runs} measured runs per side after ${WARMUP_RUNS} warm-ups`);
  out(`  capture:    ${options.mb} MB from ${generator.kind}; median of ${options.reps}`);
  out(`  peak RSS:   ${spawner.mode === 'time' ? 'GNU /usr/bin/time %M (max RSS of the runner process)' : 'polling /proc/<pid>/status VmHWM every 5 ms'}`);
  out(`  work dir:   ${workDir} (removed at the end)`);
  if (process.env.NODE_EXTRA_CA_CERTS) {
    out(`  env:        NODE_EXTRA_CA_CERTS ${keepCaCerts ? 'kept (--ca-certs keep): every Node start parses it' : 'removed from the measured processes, as in a job pod (--ca-certs keep keeps it)'}`);
  }
  out();

  const engines: Engine[] = [];
  const notes: string[] = [];
  for (const name of options.engines) {
    if (name === 'pglite') engines.push(pgliteEngine(workDir));
    else {
      progress(name === 'api' ? 'starting kubescribe serve on PostgreSQL' : 'connecting to PostgreSQL');
      // The API engine has a PostgreSQL schema of its own, which its server holds.
      const postgres = await postgresEngine(workDir);
      if (typeof postgres === 'string') {
        notes.push(name === 'api' ? postgres.replace(/^PostgreSQL skipped/, 'API skipped') : postgres);
        continue;
      }
      cleanups.push(() => postgres.cleanup());
      const engine = name === 'api' ? await apiEngine(workDir, postgres) : postgres;
      if (typeof engine === 'string') notes.push(engine);
      else {
        if (engine !== postgres) cleanups.push(() => engine.cleanup());
        engines.push(engine);
      }
    }
  }
  for (const engine of engines) out(`  ${engine.name}: ${engine.where}`);
  for (const note of notes) out(`NOTE: ${note}`);
  out();

  // --- bare `true`: the baseline, shared by both engines
  out('## 1. Overhead: `kubescribe run -- true` vs bare `true`');
  out();
  progress(`bare true: ${WARMUP_RUNS} warm-ups + ${options.runs} runs`);
  const bareEnv = baseEnv(join(workDir, 'unused-home'), workDir);
  const bare: number[] = [];
  const bareRssKb: Array<number | null> = [];
  // Node's own start-up, taken turn about with `true` so that both see the same machine.
  const nodeZero: number[] = [];
  const nodeZeroRssKb: Array<number | null> = [];
  for (let i = 0; i < WARMUP_RUNS + options.runs; i++) {
    const sample = await spawner.measure('bare true', ['true'], { env: bareEnv, cwd });
    const node = await spawner.measure('node -e 0', [NODE, '-e', '0'], { env: bareEnv, cwd });
    if (i >= WARMUP_RUNS) {
      bare.push(sample.wallMs);
      bareRssKb.push(sample.rssKb);
      nodeZero.push(node.wallMs);
      nodeZeroRssKb.push(node.rssKb);
    }
  }
  const bareMedian = median(bare);
  const nodeZeroMedian = median(nodeZero);
  const bareRss = maxOf(bareRssKb);

  const results: Array<Omit<EngineResult, 'capped' | 'full' | 'runsRecorded'>> = [];
  for (const engine of engines) {
    progress(`${engine.name}: ${WARMUP_RUNS} warm-ups + ${options.runs} runs of \`kubescribe run -- true\``);
    const runnerArgv = [NODE, BIN, 'run', '-q', '--job', 'bench', '--', 'true'];
    let firstRunMs = 0;
    const runner: number[] = [];
    const rssKb: Array<number | null> = [];
    for (let i = 0; i < WARMUP_RUNS + options.runs; i++) {
      const sample = await spawner.measure(`${engine.name} run -- true`, runnerArgv, { env: engine.env, cwd });
      // On PGlite the run leaves its import to a detached flusher (docs/runner.md, "Write-behind"): let it
      // finish, so that its ~1 s of CPU is not inside the next sample (its cost is measured on its own).
      if (engine.name === 'PGlite') await settleFlusher(engine.env.KUBESCRIBE_HOME!);
      if (i === 0) {
        firstRunMs = sample.wallMs;
        progress(`${engine.name}: first run ${ms(sample.wallMs)}`);
      }
      if (i >= WARMUP_RUNS) {
        runner.push(sample.wallMs);
        rssKb.push(sample.rssKb);
      }
    }
    const addedMs = median(runner) - bareMedian;
    results.push({
      engine,
      overhead: {
        firstRunMs,
        firstRunLabel: { PGlite: 'creates the database + migrates', PostgreSQL: 'creates the tables + migrates', 'API (serve)': 'is the server\'s first runner request' }[engine.name],
        runner,
        rssKb,
        addedMs,
        ratio: median(runner) / bareMedian,
      },
    });
  }

  const overheadRows: string[][] = [
    ['bare `true`', '-', ms(bareMedian), ms(quantile(bare, 0.9)), '-', '-', '-', mb(bareRss)],
    ['`node -e 0`', '-', ms(nodeZeroMedian), ms(quantile(nodeZero, 0.9)), `+${(nodeZeroMedian - bareMedian).toFixed(1)} ms`, '-', `${(nodeZeroMedian / bareMedian).toFixed(0)}x`, mb(maxOf(nodeZeroRssKb))],
    ...results.map(({ engine, overhead }) => [
      `kubescribe run (${engine.name})`,
      ms(overhead.firstRunMs),
      ms(median(overhead.runner)),
      ms(quantile(overhead.runner, 0.9)),
      `+${overhead.addedMs.toFixed(1)} ms`,
      `+${(median(overhead.runner) - nodeZeroMedian).toFixed(1)} ms`,
      `${overhead.ratio.toFixed(0)}x`,
      mb(maxOf(overhead.rssKb)),
    ]),
  ];
  out(table(['command', 'first run', 'median', 'p90', 'added over `true`', 'over `node -e 0`', 'ratio', 'peak RSS'], overheadRows, [false, true, true, true, true, true, true, true]));
  for (const { engine, overhead } of results) {
    out(`  first ${engine.name} run ${overhead.firstRunLabel}: a one-time cost, excluded from the median`);
  }
  out();

  // --- capture
  // Every pipeline is also run with a generator that writes nothing: the difference between the two
  // walls is the time the bytes themselves cost, free of start-up and shut-down on both sides
  // (python's start, the runner's RunLog open and close), which part 1 already accounts for.
  out(`## 2. Log capture: ${options.mb} MB of output`);
  out();
  const writerFile = generator.writerFile ?? undefined;
  const series = async (label: string, argv: (n: number) => string[], env: NodeJS.ProcessEnv, reps = options.reps) => {
    const samples: Sample[] = [];
    for (let i = 0; i < reps; i++) {
      samples.push(await spawner.measure(label, argv(bytes), { env, cwd, writerFile }));
      // A PGlite run's import, out of the next sample (instant on the other engines: no flusher, no spool).
      if (env.KUBESCRIBE_HOME) await settleFlusher(env.KUBESCRIBE_HOME);
    }
    return samples;
  };
  const catPipeline = (n: number) => ['sh', '-c', `${generator.argv(n).map(shellQuote).join(' ')} | cat > /dev/null`];
  // cat moves the bytes in a few tens of ms, close to the jitter of a process start: more samples, they are cheap.
  const catReps = Math.max(3 * options.reps, 9);
  progress(`baseline: ${catReps} x \`gen 0 | cat\` and ${catReps} x \`gen ${options.mb}MB | cat > /dev/null\``);
  const catFixed = await series('gen 0 | cat', () => catPipeline(0), bareEnv, catReps);
  const catSamples = await series('gen | cat', catPipeline, bareEnv, catReps);
  const baseline = summarizeCapture('gen | cat > /dev/null', catSamples, catFixed, bytes, null, '-');

  const full: EngineResult[] = [];
  for (const result of results) {
    const { engine } = result;
    const runArgv = (capArgs: string[]) => (n: number) => [NODE, BIN, 'run', '-q', '--job', 'bench', ...capArgs, '--', ...generator.argv(n)];
    progress(`${engine.name}: ${options.reps} x \`kubescribe run -- gen 0\` (its fixed cost)`);
    const fixed = await series(`${engine.name} run -- gen 0`, () => runArgv([])(0), engine.env);
    const captureRun = async (label: string, capArgs: string[]): Promise<CaptureRun> => {
      progress(`${engine.name}: ${options.reps} x \`kubescribe run${capArgs.length ? ` ${capArgs.join(' ')}` : ''} -- gen ${options.mb}MB > /dev/null\``);
      const samples = await series(`${engine.name} capture, ${label}`, runArgv(capArgs), engine.env);
      progress(`${engine.name}: reading back what the last run stored`);
      const stored = await checkStored(engine, cwd, bytes);
      return summarizeCapture(`kubescribe run (${engine.name}), ${label}`, samples, fixed, bytes, baseline, stored);
    };
    const capped = await captureRun('default cap (10 MB)', []);
    const fullCap = `${Math.max(100, options.mb + 1)}MB`;
    const all = await captureRun(`--log-cap ${fullCap}`, ['--log-cap', fullCap]);
    const runsRecorded = await checkRuns(engine, cwd, WARMUP_RUNS + options.runs + 3 * options.reps);
    full.push({ ...result, capped, full: all, runsRecorded });
  }

  const captureRows = [baseline, ...full.flatMap((r) => [r.capped, r.full])].map((run) => [
    run.label,
    ms(run.wallMs),
    rate(run.rawRate),
    run === baseline ? '-' : ratio(run.rawRatio),
    ms(run.costMs),
    run.netRate === null ? 'n/a (noise)' : rate(run.netRate),
    run === baseline ? '-' : ratio(run.netRatio),
    rate(run.writerRate),
    run === baseline ? '-' : ratio(run.writerRatio),
    run.tailMs === null ? 'n/a' : ms(run.tailMs),
    mb(run.rssKb),
    run.stored,
  ]);
  out(
    table(
      ['pipeline', 'wall', 'MB/s e2e', 'ratio', 'output cost', 'MB/s net', 'ratio', 'MB/s writer', 'ratio', 'after last write', 'peak RSS', 'stored in RunLog'],
      captureRows,
      [false, true, true, true, true, true, true, true, true, true, true, false],
    ),
  );
  out(`  e2e         = ${options.mb} MB / wall: includes each side's fixed start-up and shut-down (part 1 measures those).`);
  out("  output cost = (exit − generator's first write) minus the same with a generator that writes nothing:");
  out('                the time the bytes themselves cost, RunLog writes still queued at the child\'s exit included.');
  out(`  net         = ${options.mb} MB / output cost: the pace of the capture; its ratio is the one held to the target.`);
  out("  writer      = the generator's own write time: how far the runner slowed the job while it was writing.");
  out("  after last write = generator's last write → exit: the runner's backlog of RunLog writes, then its shut-down.");
  out('  ratio       = runner / cat (1.00 = as fast as a bare pipe).');
  for (const { engine, runsRecorded } of full) out(`  ${engine.name} RunLog: ${runsRecorded}`);
  out();

  // --- summary
  out('## 3. Summary (informational: the bench never fails on these)');
  out();
  const verdict = (ok: boolean) => (ok ? 'meets target' : 'misses target');
  const captureVerdict = (value: number | null, held: boolean) =>
    value === null ? 'n/a (lost in noise: raise --mb)' : `${ratio(value)}${held ? ` — ${verdict(value >= TARGETS.captureRatio)}` : ''}`;
  const summaryRows = full.map(({ engine, overhead, capped, full: all }) => {
    const peak = maxOf(overhead.rssKb);
    const addedRss = peak === null ? null : (peak - (bareRss ?? 0)) / 1024;
    const target = TARGETS.addedMs[engine.name];
    const capturePeak = maxOf([capped.rssKb, all.rssKb]);
    return [
      engine.name,
      `+${overhead.addedMs.toFixed(0)} ms (≤ ${target}) — ${verdict(overhead.addedMs <= target)}`,
      `+${(median(overhead.runner) - nodeZeroMedian).toFixed(0)} ms`,
      addedRss === null ? 'n/a' : `+${addedRss.toFixed(0)} MB — ${verdict(addedRss <= TARGETS.addedRssMb)}`,
      captureVerdict(capped.writerRatio, true),
      captureVerdict(capped.netRatio, false),
      captureVerdict(all.writerRatio, false),
      capturePeak === null ? 'n/a' : `${(capturePeak / 1024).toFixed(0)} MB`,
    ];
  });
  out(
    table(
      [
        'engine',
        'added wall over `true`',
        'over `node -e 0`',
        `added peak RSS (≤ ${TARGETS.addedRssMb} MB)`,
        `writer pace, 10 MB cap (≥ ${TARGETS.captureRatio.toFixed(2)})`,
        'net, 10 MB cap',
        'writer pace, all stored',
        'RSS while capturing',
      ],
      summaryRows,
    ),
  );
  out('  added wall and RSS: `kubescribe run -- true` (part 1) over bare `true`, and over `node -e 0` (Node\'s own start-up) of the');
  out("  same run. Writer pace: the child's own rate under the runner / into `| cat` (part 2), the figure held to the target");
  out('  (issue 11); net adds the RunLog writes still queued when the child exits.');
  for (const note of notes) out(`  ${note}`);
  out();
  out(`bench finished in ${((performance.now() - benchStart) / 1000).toFixed(1)} s`);
  return 0;
}

function summarizeCapture(label: string, samples: Sample[], fixed: Sample[], bytes: number, baseline: CaptureRun | null, stored: string): CaptureRun {
  const mbytes = bytes / MB;
  const medianOf = (list: Sample[], pick: (s: Sample) => number | null) =>
    list.every((s) => pick(s) !== null) ? median(list.map((s) => pick(s)!)) : null;
  const wallMs = median(samples.map((s) => s.wallMs));
  // What the output costs: from the first write to exit, minus the same with no output (python's exit,
  // the runner's finish and close). Without the generator's timestamps: the whole walls.
  const span = medianOf(samples, (s) => s.spanMs);
  const span0 = medianOf(fixed, (s) => s.spanMs);
  const costMs = span !== null && span0 !== null ? span - span0 : wallMs - median(fixed.map((s) => s.wallMs));
  const writerS = medianOf(samples, (s) => s.writerS);
  const tailMs = medianOf(samples, (s) => (s.spanMs !== null && s.writerS !== null ? s.spanMs - s.writerS * 1000 : null));
  const rawRate = mbytes / (wallMs / 1000);
  // A difference that noise swallowed has no rate to report.
  const netRate = costMs > 0 ? mbytes / (costMs / 1000) : null;
  const writerRate = writerS ? mbytes / writerS : null;
  const over = (mine: number | null, theirs: number | null | undefined) => (mine !== null && theirs ? mine / theirs : null);
  return {
    label,
    wallMs,
    costMs,
    tailMs,
    rssKb: maxOf(samples.map((s) => s.rssKb)),
    rawRate,
    rawRatio: baseline ? rawRate / baseline.rawRate : 1,
    netRate,
    netRatio: baseline ? over(netRate, baseline.netRate) : 1,
    writerRate,
    writerRatio: baseline ? over(writerRate, baseline.writerRate) : 1,
    stored,
  };
}

/** Reads back, through the CLI, the newest run of job "bench": its status and how many bytes of log it stored. */
async function checkStored(engine: Engine, cwd: string, written: number): Promise<string> {
  const listed = await cli(engine, cwd, ['runs', '--job', 'bench', '--limit', '1', '--json']);
  const [run] = JSON.parse(listed.toString('utf8')) as Array<{ run_id: string; status: string; log_bytes: number; log_dropped_bytes: number }>;
  if (!run) return 'WARNING: no run recorded';
  const logs = await cli(engine, cwd, ['logs', run.run_id]);
  const problems: string[] = [];
  if (run.status !== 'succeeded') problems.push(`status ${run.status}`);
  if (run.log_bytes !== written) problems.push(`log_bytes ${run.log_bytes} ≠ ${written} written`);
  const stored = `${(logs.length / MB).toFixed(1)} MB${run.log_dropped_bytes ? `, ${(run.log_dropped_bytes / MB).toFixed(1)} MB dropped` : ''}`;
  return problems.length ? `${stored} — WARNING: ${problems.join(', ')}` : stored;
}

async function checkRuns(engine: Engine, cwd: string, expected: number): Promise<string> {
  const listed = await cli(engine, cwd, ['runs', '--job', 'bench', '--limit', '500', '--json']);
  const runs = JSON.parse(listed.toString('utf8')) as Array<{ status: string }>;
  const succeeded = runs.filter((run) => run.status === 'succeeded').length;
  const text = `${runs.length} runs recorded, ${succeeded} succeeded`;
  return runs.length === expected && succeeded === expected ? `${text} (as expected)` : `${text} — WARNING: expected ${expected}`;
}

/** Runs a kubescribe command against the engine and returns its stdout. */
async function cli(engine: Engine, cwd: string, args: string[]): Promise<Buffer> {
  const child = spawn(NODE, [BIN, ...args], { cwd, env: engine.env, stdio: ['ignore', 'pipe', 'pipe'] });
  activeChild = child;
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (data: Buffer) => stdout.push(data));
  child.stderr!.on('data', (data: Buffer) => {
    stderr = (stderr + data.toString('utf8')).slice(-4000);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', (error) => reject(new MeasurementError(`kubescribe ${args.join(' ')}: ${error.message}`)));
    child.once('close', (value) => resolve(value));
  }).finally(() => {
    activeChild = null;
  });
  if (code !== 0) throw new MeasurementError(`kubescribe ${args.join(' ')} exited with code ${code}: ${stderr.trim()}`);
  return Buffer.concat(stdout);
}

process.exitCode = await main();
