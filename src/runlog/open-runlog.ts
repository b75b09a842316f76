import { join } from 'node:path';
import type { Db } from './db.ts';
import { migrate, type MigrationResult } from './migrate.ts';
import { timing } from '../util/timing.ts';
import { liveFlusherPid } from './flusher-lock.ts';
import { RunLogBusyError } from './pglite-lock.ts';

// How long opening the embedded RunLog waits for the spool flusher's hold: it imports a run in about
// a second of CPU (opening PGlite is most of it), minutes' worth of queued runs in well under this.
const FLUSHER_WAIT_MS = 120_000;

export interface RunLogLocation {
  databaseUrl: string | null;
  databaseSchema: string | null;
  home: string;
}

/** The PGlite data directory inside KubeScribe's home. */
export function pgliteDataDir(home: string): string {
  return join(home, 'runlog');
}

/**
 * Brings the RunLog's schema up to date (src/runlog/migrate.ts). On PostgreSQL a pending migration
 * runs on a connection of its own without statement and query timeouts: the pool's bound a request
 * (10 s, 15 s by default), and a backfill over millions of runs takes minutes
 * (docs/runlog.md#upgrading-a-large-runlog). Its lock waits stay bounded.
 */
export async function migrateRunLog(db: Db, location: RunLogLocation): Promise<MigrationResult> {
  const url = location.databaseUrl;
  if (db.engine !== 'postgres' || !url) return migrate(db);
  return migrate(db, undefined, {
    migrator: async () => {
      const { openPgEngine } = await import('./pg-engine.ts');
      return openPgEngine({ url, schema: location.databaseSchema ?? undefined, max: 1, timeouts: { statementMs: 0, queryMs: 0 } });
    },
  });
}

/**
 * Opens the RunLog named by the environment (PostgreSQL if DATABASE_URL is set, else embedded PGlite) and migrates it.
 * Each engine is imported only when chosen: PGlite's WebAssembly costs ~100 ms to load and pg ~15 ms,
 * and every job's runner starts here (test/cli/startup.test.ts holds each engine to its own driver).
 */
export async function openRunLogDb(location: RunLogLocation, options: { migrate?: boolean; threaded?: boolean; pipeline?: boolean } = {}): Promise<Db> {
  let db: Db;
  if (location.databaseUrl) {
    const { openPgEngine } = await import('./pg-engine.ts');
    // Migrating finds a missing schema with its first query and opens the migrating connection, which creates it.
    db = await openPgEngine({ url: location.databaseUrl, schema: location.databaseSchema ?? undefined, checkSchema: options.migrate === false, pipeline: options.pipeline });
  } else {
    const { openPgliteEngine } = await import('./pglite-engine.ts');
    const deadline = Date.now() + FLUSHER_WAIT_MS;
    for (;;) {
      try {
        db = await openPgliteEngine({ dataDir: pgliteDataDir(location.home), threaded: options.threaded });
        break;
      } catch (error) {
        // Held by the spool flusher (src/cli/spool-flusher.ts), which lets go once the spools are
        // imported: wait for it, so that `kubescribe runs` right after a run shows it.
        if (!(error instanceof RunLogBusyError) || error.pid === process.pid || error.pid !== liveFlusherPid(location.home) || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
  timing(`${db.engine} open`);
  if (options.migrate !== false) {
    try {
      await migrateRunLog(db, location);
    } catch (error) {
      await db.close().catch(() => {});
      throw error;
    }
    timing('schema checked');
  }
  return db;
}
