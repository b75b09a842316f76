import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { emptyConfig, type KubescribeConfig } from '../config/job-definition.ts';
import { readEnvironment, type Environment } from '../config/environment.ts';
import type { Db } from '../runlog/db.ts';

/** What every command starts from: the environment, read once. */
export interface CliContext {
  env: Environment;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /**
   * Test-only: opens the RunLog instead of openRunLogDb. Tests that run commands in their own process
   * lend one already open (test/support/cli.ts): each opening of PGlite costs ~0.45 s of CPU.
   */
  openRunLog?: () => Promise<Db>;
}

/** Creates the context from the real process. */
export function processContext(): CliContext {
  return { env: readEnvironment(), stdout: process.stdout, stderr: process.stderr };
}

/** Loads the config file: the one given, else ./kubescribe.yaml if present, else no jobs. */
export async function loadCliConfig(ctx: CliContext, file: string | undefined): Promise<KubescribeConfig> {
  const path = file ? resolve(file) : existsSync(ctx.env.configFile) ? ctx.env.configFile : null;
  if (!path) return emptyConfig();
  // The parser pulls in yaml, ajv and croner; a run without a config file skips them.
  const { loadConfig } = await import('../config/job-config.ts');
  return loadConfig(path);
}

/** Opens and migrates the RunLog, first writing any records a runner left on disk while it was unreachable. */
export async function openCliRunLog(ctx: CliContext): Promise<Db> {
  // Loaded here, not at the top: the database drivers are most of a command's start-up time, and
  // commands that talk to the API never need them.
  const [{ openRunLogDb }, { flushSpools, spoolDirectory }] = await Promise.all([import('../runlog/open-runlog.ts'), import('../runner/runlog-sink.ts')]);
  const db = ctx.openRunLog ? await ctx.openRunLog() : await openRunLogDb(ctx.env);
  await flushSpools(db, spoolDirectory(ctx.env.home), (line) => ctx.stderr.write(`${line}\n`));
  return db;
}

/** Runs `fn` with an open RunLog and always closes it. */
export async function withRunLog<T>(ctx: CliContext, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openCliRunLog(ctx);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
