import { join } from 'node:path';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import { timing } from '../util/timing.ts';

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
 * Opens the RunLog named by the environment (PostgreSQL if DATABASE_URL is set, else embedded PGlite) and migrates it.
 * Each engine is imported only when chosen: PGlite's WebAssembly costs ~100 ms to load and pg ~15 ms,
 * and every job's runner starts here (test/cli/startup.test.ts holds each engine to its own driver).
 */
export async function openRunLogDb(location: RunLogLocation, options: { migrate?: boolean; threaded?: boolean } = {}): Promise<Db> {
  let db: Db;
  if (location.databaseUrl) {
    const { openPgEngine } = await import('./pg-engine.ts');
    db = await openPgEngine({ url: location.databaseUrl, schema: location.databaseSchema ?? undefined });
  } else {
    const { openPgliteEngine } = await import('./pglite-engine.ts');
    db = await openPgliteEngine({ dataDir: pgliteDataDir(location.home), threaded: options.threaded });
  }
  timing(`${db.engine} open`);
  if (options.migrate !== false) {
    try {
      await migrate(db);
    } catch (error) {
      await db.close().catch(() => {});
      throw error;
    }
    timing('schema checked');
  }
  return db;
}
