import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import type { Db, Queryable, Row } from './db.ts';

/** The embedded RunLog is open in another process; PGlite allows one at a time. */
export class RunLogBusyError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly holder: string,
  ) {
    super(
      `the embedded RunLog at ${displayPath(dataDir)} is open in another process (pid ${pid}: ${holder}). ` +
        'PGlite can be opened by one process at a time: wait for that command to finish or stop it, ' +
        'or set DATABASE_URL to use a PostgreSQL server, which any number of processes can share.',
    );
    this.name = 'RunLogBusyError';
  }
}

export interface PgliteEngineOptions {
  /** Directory of the database files; omit for an in-memory database (tests). */
  dataDir?: string;
}

/** Opens embedded PGlite as a RunLog database, holding a lock file so that a second process is told clearly. */
export async function openPgliteEngine(options: PgliteEngineOptions = {}): Promise<Db> {
  const { dataDir } = options;
  const release = dataDir ? acquireLock(dataDir) : () => {};
  let db: PGliteType;
  try {
    // Loaded lazily: the WASM module costs ~100 ms to import and PostgreSQL users never need it.
    const { PGlite } = await import('@electric-sql/pglite');
    db = await PGlite.create(dataDir);
  } catch (error) {
    release();
    throw error;
  }
  const run = async <T extends Row>(q: Pick<PGliteType, 'query'>, sql: string, params?: readonly unknown[]) =>
    (await q.query<T>(sql, params as unknown[])).rows;
  return {
    engine: 'pglite',
    location: dataDir ? displayPath(dataDir) : 'in-memory PGlite',
    query: (sql, params) => run(db, sql, params),
    transaction: (fn) =>
      db.transaction(async (transaction) => {
        const tx: Queryable = { query: (sql, params) => run(transaction, sql, params) };
        return fn(tx);
      }),
    async close() {
      try {
        await db.close();
      } finally {
        release();
      }
    },
  };
}

function acquireLock(dataDir: string): () => void {
  const lockFile = `${dataDir}.lock`;
  mkdirSync(dirname(lockFile), { recursive: true });
  const content = JSON.stringify({ pid: process.pid, command: process.argv.slice(1).join(' ') });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx', 0o600);
      writeFileSync(fd, content);
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        rmSync(lockFile, { force: true });
        process.off('exit', release);
      };
      // A process that exits without closing must not leave a lock that blocks everyone after it.
      process.on('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readHolder(lockFile);
      if (holder && holder.pid !== process.pid && isAlive(holder.pid)) {
        throw new RunLogBusyError(dataDir, holder.pid, holder.command);
      }
      // Stale: its process is gone (killed with SIGKILL, machine restarted).
      rmSync(lockFile, { force: true });
    }
  }
  throw new Error(`could not take the lock ${lockFile}`);
}

function readHolder(lockFile: string): { pid: number; command: string } | null {
  try {
    const parsed = JSON.parse(readFileSync(lockFile, 'utf8')) as { pid?: unknown; command?: unknown };
    return typeof parsed.pid === 'number' ? { pid: parsed.pid, command: String(parsed.command ?? '?') } : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}
