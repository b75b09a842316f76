// Runs the real `kubescribe` binary (bin/kubescribe.js on the built dist/) as a child process, or
// its `main` in this process for tests of what a command prints and returns (runCliInProcess).
import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { CliContext } from '../../src/cli/context.ts';
import type { Db } from '../../src/runlog/db.ts';

// The checkout, also when this file runs compiled in scripts/build-tests.mjs's mirror of it: there
// package.json is a link to the checkout's. The test processes run in the checkout.
export const REPO_ROOT = `${dirname(realpathSync(fileURLToPath(new URL('../../package.json', import.meta.url))))}/`;
export const BIN = `${REPO_ROOT}bin/kubescribe.js`;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  /** stdout and stderr as text. */
  out: string;
  err: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Called once the process has started, e.g. to send it a signal. */
  onSpawn?: (child: ChildProcess) => void;
  timeoutMs?: number;
  /** Run this `sh -c` command line instead of `kubescribe <args>` (a pipeline around the runner). */
  shell?: string;
}

/** Quotes a word for `sh`. */
export function shellWord(word: string): string {
  return /^[\w./:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Runs `kubescribe <args>` and collects its output and exit status. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [file, argv] = options.shell === undefined ? [process.execPath, [BIN, ...args]] : ['/bin/sh', ['-c', options.shell]];
    const child = spawn(file, argv, {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (data: Buffer) => out.push(data));
    child.stderr.on('data', (data: Buffer) => err.push(data));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kubescribe ${args.join(' ')} did not finish in ${options.timeoutMs ?? 60_000} ms`));
    }, options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('spawn', () => options.onSpawn?.(child));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err);
      resolve({ code, signal, stdout, stderr, out: stdout.toString('utf8'), err: stderr.toString('utf8') });
    });
  });
}

// Commands that own the process (signals, exit, a server's lifetime) only run as a child process.
const PROCESS_COMMANDS = new Set(['run', 'dev', 'serve']);

/**
 * Runs `kubescribe <args>` through the CLI's `main` in this process, with `env` over this process's
 * environment and stdout/stderr captured, and returns what runCli would. A child process costs
 * ~0.4 s of CPU to start (~1.1 s when it opens PGlite, ~0.35 s in a process that has opened it
 * before): tests of a command's output and exit code use this; tests of the process itself (its
 * start-up, signals, exit, the runner) use runCli. With `db` (a RunLog the test holds open, e.g.
 * TestRunLog.hold()) a command that opens the RunLog uses it instead: opening PGlite costs ~0.45 s of CPU.
 */
export async function runCliInProcess(args: string[], options: Pick<CliOptions, 'env' | 'cwd'> & { db?: Db } = {}): Promise<CliResult> {
  if (PROCESS_COMMANDS.has(args[0] ?? '')) throw new Error(`kubescribe ${args[0]} owns its process: run it with runCli`);
  // runCli's children start in REPO_ROOT (or options.cwd); some commands resolve files against
  // process.cwd(), so in this process only that same directory gives the same answers.
  const cwd = resolve(options.cwd ?? REPO_ROOT);
  if (cwd !== process.cwd()) throw new Error(`runCliInProcess needs the test process in ${cwd}, and it is in ${process.cwd()}: use runCli`);
  const [{ main }, { readEnvironment }] = await Promise.all([import('../../src/cli/main.ts'), import('../../src/config/environment.ts')]);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const collect = (into: Buffer[]) => new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      into.push(Buffer.from(chunk));
      callback();
    },
  });
  const ctx: CliContext = { env: readEnvironment({ ...process.env, ...options.env }, cwd), stdout: collect(out), stderr: collect(err) };
  // A RunLog the test holds open, lent to the command: it goes on to import the spools and query as
  // it would after its own opening, and its close leaves the test's open.
  const lent = options.db;
  if (lent) {
    ctx.openRunLog = async () => ({
      engine: lent.engine,
      location: lent.location,
      query: (sql, params) => lent.query(sql, params),
      transaction: (fn) => lent.transaction(fn),
      close: async () => {},
    });
  }
  const code = await main([process.execPath, BIN, ...args], ctx);
  const stdout = Buffer.concat(out);
  const stderr = Buffer.concat(err);
  return { code, signal: null, stdout, stderr, out: stdout.toString('utf8'), err: stderr.toString('utf8') };
}

/** Polls `check` until it returns a truthy value or the time runs out. */
export async function waitFor<T>(check: () => Promise<T> | T, timeoutMs = 30_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
