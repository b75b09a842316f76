import { join } from 'node:path';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import { openPgEngine } from './pg-engine.ts';
import { openPgliteEngine } from './pglite-engine.ts';

export interface RunLogLocation {
  databaseUrl: string | null;
  databaseSchema: string | null;
  home: string;
}

/** The PGlite data directory inside KubeScribe's home. */
export function pgliteDataDir(home: string): string {
  return join(home, 'runlog');
}

/** Opens the RunLog named by the environment (PostgreSQL if DATABASE_URL is set, else embedded PGlite) and migrates it. */
export async function openRunLogDb(location: RunLogLocation, options: { migrate?: boolean; threaded?: boolean } = {}): Promise<Db> {
  const db = location.databaseUrl
    ? await openPgEngine({ url: location.databaseUrl, schema: location.databaseSchema ?? undefined })
    : await openPgliteEngine({ dataDir: pgliteDataDir(location.home), threaded: options.threaded });
  if (options.migrate !== false) {
    try {
      await migrate(db);
    } catch (error) {
      await db.close().catch(() => {});
      throw error;
    }
  }
  return db;
}
