// Every RunLog test runs on each engine: PGlite always, PostgreSQL when DATABASE_URL is set (CI sets it).
// Each test file gets its own schema (PostgreSQL) or data directory (PGlite) and removes it afterwards,
// so tests never assume an empty database and never see each other's rows. A PGlite RunLog starts
// as a copy of a migrated template (see pglite-template.ts) rather than paying for initdb each time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { seedPgliteRunLog } from './pglite-template.ts';
import { settleFlusher } from './spool-flusher.ts';

export type Engine = 'pglite' | 'postgres';

export const ENGINES: Engine[] = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

/**
 * The engine the UI files drive Chromium on: PostgreSQL when DATABASE_URL is set (as in CI and in
 * production), PGlite otherwise. A page's scripts, live updates, layout and accessibility do not depend
 * on the engine, and a browser is most of a UI file's CPU (docs/benchmarks.md, round six); what a page
 * shows that comes from SQL is checked on every engine over plain HTTP (test/support/ui-http.ts).
 */
export const BROWSER_ENGINE: Engine = ENGINES.includes('postgres') ? 'postgres' : 'pglite';

export interface TestRunLog {
  engine: Engine;
  /** KubeScribe's home for this test (PGlite data, offline buffers). */
  home: string;
  /** Environment for a child `kubescribe` process pointing at this RunLog. */
  env: Record<string, string>;
  /** The location as `openRunLogDb` takes it. */
  location: { databaseUrl: string | null; databaseSchema: string | null; home: string };
  /**
   * Runs `fn` with the RunLog open. PGlite is opened for the call and closed after it, because a
   * child runner cannot open it while this process holds it; before, runs a `kubescribe run` wrote
   * behind are waited for (settleFlusher).
   */
  withDb<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  /**
   * The RunLog, opened once and kept open until release() (or cleanup): for a run of in-process
   * commands (runCliInProcess's `db`) and withDb calls with no child process between them. On PGlite a
   * child `kubescribe` cannot open it meanwhile, so release it before starting one.
   */
  hold(): Promise<Db>;
  /** Closes what hold() opened (PGlite); the next hold() or withDb opens it again. */
  release(): Promise<void>;
  cleanup(): Promise<void>;
}

/** Creates an isolated RunLog on the given engine. */
export async function createTestRunLog(engine: Engine): Promise<TestRunLog> {
  const home = mkdtempSync(join(tmpdir(), `ks-test-${engine}-`));
  if (engine === 'pglite') {
    await seedPgliteRunLog(home);
    const location = { databaseUrl: null, databaseSchema: null, home };
    // Runs written behind (kubescribe run on PGlite) are in the RunLog once their flusher is done.
    const open = async () => {
      await settleFlusher(home);
      return openRunLogDb(location);
    };
    let held: Promise<Db> | null = null;
    const release = async () => {
      const db = held;
      held = null;
      await (await db?.catch(() => null))?.close();
    };
    return {
      engine,
      home,
      location,
      env: { KUBESCRIBE_HOME: home, DATABASE_URL: '' },
      async withDb(fn) {
        if (held) return fn(await held);
        const db = await open();
        try {
          return await fn(db);
        } finally {
          await db.close();
        }
      },
      hold() {
        held ??= open();
        return held;
      },
      release,
      async cleanup() {
        await release();
        // A flusher still writing in the home would make the removal fail (ENOTEMPTY) or outlive it.
        await settleFlusher(home, 60_000);
        rmSync(home, { recursive: true, force: true });
      },
    };
  }
  const url = process.env.DATABASE_URL!;
  const schema = `ks_test_${randomBytes(5).toString('hex')}`;
  const location = { databaseUrl: url, databaseSchema: schema, home };
  let shared: Db | null = null;
  return {
    engine,
    home,
    location,
    env: { KUBESCRIBE_HOME: home, DATABASE_URL: url, KUBESCRIBE_DB_SCHEMA: schema },
    async withDb(fn) {
      shared ??= await openRunLogDb(location);
      return fn(shared);
    },
    async hold() {
      shared ??= await openRunLogDb(location);
      return shared;
    },
    // Any number of processes share PostgreSQL: the one connection pool stays until cleanup.
    async release() {},
    async cleanup() {
      await shared?.close();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
