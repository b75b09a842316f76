// The detached spool flusher: `kubescribe run` on the embedded RunLog with no server records into its
// spool only (src/runner/spool-sink.ts) and, at exit, starts `kubescribe flush --behind` detached, which
// imports every spool into the RunLog and exits (docs/runner.md, "Write-behind on the embedded RunLog").
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Environment } from '../config/environment.ts';
import { acquireFlusherLock, liveFlusherPid } from '../runlog/flusher-lock.ts';
import { importableSpools, spoolDirectory } from '../runner/recorder.ts';
import type { CliContext } from './context.ts';
import { chooseRunnerSink } from './runner-sink.ts';

/** What the detached flusher says (its stderr): the home's `flush.log`, kept under ~256 KiB. */
export function flushLogFile(home: string): string {
  return join(home, 'flush.log');
}

const FLUSH_LOG_MAX_BYTES = 256 * 1024;

// How long the flusher waits for the embedded RunLog held by another command (a `kubescribe runs`, a
// runner adopting a queued run) before leaving the spools to the next command that opens it.
const BUSY_GIVE_UP_MS = 10 * 60_000;

/**
 * True when `kubescribe run` should write behind: the embedded RunLog (no DATABASE_URL), no server
 * for it (chooseRunnerSink said direct) and a new run (adopting a queued one, --run-id, needs the
 * RunLog's answer before the command may start).
 */
export function writesBehind(env: Pick<Environment, 'databaseUrl'>, adopting: boolean): boolean {
  return !env.databaseUrl && !adopting;
}

/**
 * Starts the flusher detached (stdio to flush.log, unref'd): this process exits without waiting for
 * it. Not when a flusher runs already: it looks for spools again after letting its lock go, and this
 * run's spool is complete before this check, so it takes it. A flusher that would only find the lock
 * taken costs ~0.17 s of CPU, as much as the run: in a loop of runs, one per run doubled their cost.
 */
export function spawnFlusher(env: Pick<Environment, 'home'>): void {
  if (flusherRunning(env.home)) return;
  const bin = kubescribeBin();
  let log: number | 'ignore' = 'ignore';
  try {
    const file = flushLogFile(env.home);
    if (existsSync(file) && statSync(file).size > FLUSH_LOG_MAX_BYTES) renameSync(file, `${file}.1`);
    log = openSync(file, 'a', 0o600);
  } catch {
    // No log then; the spool stays the truth, and every command that opens the RunLog imports it too.
  }
  const childEnv: NodeJS.ProcessEnv = { ...process.env, KUBESCRIBE_HOME: env.home };
  delete childEnv.DATABASE_URL;
  delete childEnv.KUBESCRIBE_TIMING;
  // In the home, not the run's directory: a script that removes its directory right after the run
  // (`cd "$(mktemp -d)" && kubescribe run … ; rm -rf "$PWD"`) left a flusher that died in uv_cwd, and
  // the spool waited for the next command. The home holds the spools, and the flusher reads no config.
  const child = spawn(process.execPath, [bin, 'flush', '--behind'], { cwd: env.home, detached: true, stdio: ['ignore', log, log], env: childEnv });
  child.on('error', () => {});
  child.unref();
  if (typeof log === 'number') closeSync(log);
}

/**
 * True when the live holder of the flusher lock is a flusher: its command line says so. A pid reused
 * by another process after a flusher died must not stop this run's import, so without /proc (not
 * Linux) the answer is false and a flusher is started (it exits at once if the lock is held).
 */
function flusherRunning(home: string): boolean {
  const pid = liveFlusherPid(home);
  if (pid === null) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('flush') && argv.includes('--behind');
  } catch {
    return false;
  }
}

/**
 * The script this process runs (bin/kubescribe.js, or a link to it): the flusher is the same kubescribe.
 * Not found from this module's own URL, which the run bundle maps to dist/runlog/ (scripts/build-run-bundle.mjs).
 */
function kubescribeBin(): string {
  const script = process.argv[1];
  if (!script || !existsSync(script)) throw new Error('kubescribe: cannot tell which kubescribe to start as the spool flusher');
  return script;
}

/**
 * `kubescribe flush --behind`: imports the home's spools into the embedded RunLog until none is left,
 * one flusher at a time. A flusher that finds another holding the lock exits at once: the holder looks
 * again after letting go, so a spool closed while it was finishing is never stranded. Returns the exit code.
 */
export async function flushBehind(ctx: CliContext): Promise<number> {
  const spoolDir = spoolDirectory(ctx.env.home);
  for (;;) {
    if (importableSpools(spoolDir).length === 0) return 0;
    const release = acquireFlusherLock(ctx.env.home);
    if (!release) return 0;
    try {
      if (!(await drain(ctx, spoolDir))) return 0;
    } finally {
      release();
    }
  }
}

/** Imports while there are spools to import. False when it stopped short and left them to someone else. */
async function drain(ctx: CliContext, spoolDir: string): Promise<boolean> {
  const say = (line: string) => ctx.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const { openCliRunLog } = await import('./context.ts');
  const { flushSpools } = await import('../runner/runlog-sink.ts');
  const { RunLogBusyError } = await import('../runlog/pglite-lock.ts');
  const giveUp = Date.now() + BUSY_GIVE_UP_MS;
  let db: Awaited<ReturnType<typeof openCliRunLog>> | null = null;
  let wait = 250;
  try {
    while (importableSpools(spoolDir).length > 0) {
      // A dev or serve for this RunLog holds it and imports its home's spools every few seconds.
      if (chooseRunnerSink(ctx.env).kind === 'api') return false;
      if (!db) {
        try {
          // Opening flushes the spools first (context.ts): the one place spools are imported.
          db = await openCliRunLog({ ...ctx, stderr: { write: (text: string) => (say(text.trimEnd()), true) } as NodeJS.WritableStream });
        } catch (error) {
          if (!(error instanceof RunLogBusyError) || Date.now() > giveUp) throw error;
          await new Promise((resolve) => setTimeout(resolve, wait));
          wait = Math.min(wait * 2, 2000);
        }
        continue;
      }
      if ((await flushSpools(db, spoolDir, say)) === 0) break;
    }
    return true;
  } finally {
    await db?.close();
  }
}
