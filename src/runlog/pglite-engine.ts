import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { dirname, relative, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import type { Db, Queryable, Row } from './db.ts';
import type { ThreadReply, ThreadRequest } from './pglite-thread.ts';
import { processExists } from '../util/process-exists.ts';
import { PGLITE_OPTIONS } from './pglite-options.ts';

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
  /**
   * Run PostgreSQL on a worker thread so queries never block this thread's event loop (the runner
   * needs that to read its child's stdout and stderr in the order they were written).
   */
  threaded?: boolean;
}

/** Opens embedded PGlite as a RunLog database, holding a lock file so that a second process is told clearly. */
export async function openPgliteEngine(options: PgliteEngineOptions = {}): Promise<Db> {
  const { dataDir } = options;
  const release = dataDir ? acquireLock(dataDir) : () => {};
  if (options.threaded) {
    try {
      return await openThreaded(dataDir, release);
    } catch (error) {
      release();
      throw error;
    }
  }
  let db: PGliteType;
  try {
    // Loaded lazily: the WASM module costs ~100 ms to import and PostgreSQL users never need it.
    const { PGlite } = await import('@electric-sql/pglite');
    db = await PGlite.create(dataDir, PGLITE_OPTIONS);
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

function startThread(workerData: { dataDir: string | undefined }): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./pglite-thread.js', import.meta.url), { workerData });
  // Running from source (tests under tsx): Node 20 resolves a worker's entry before any --import
  // hook runs, so register tsx inside the worker first, then load the TypeScript entry.
  const entry = new URL('./pglite-thread.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

async function openThreaded(dataDir: string | undefined, release: () => void): Promise<Db> {
  const worker = startThread({ dataDir });
  const waiting = new Map<number, { resolve: (rows: unknown[]) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let dead: Error | null = null;
  worker.on('message', (message: ThreadReply) => {
    const pending = waiting.get(message.id);
    if (!pending) return;
    waiting.delete(message.id);
    if (message.ok) return pending.resolve(message.rows);
    pending.reject(Object.assign(new Error(message.error.message), message.error));
  });
  worker.on('error', (error) => {
    dead = error;
    for (const pending of waiting.values()) pending.reject(error);
    waiting.clear();
  });
  const call = <T>(request: WithoutId<ThreadRequest>): Promise<T[]> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve: resolve as (rows: unknown[]) => void, reject });
      worker.postMessage({ ...request, id });
    });
  };
  // The first round trip waits for PGlite to open, so a broken data directory fails here, not later.
  await call({ type: 'query', sql: 'SELECT 1', params: [], tx: null });
  return {
    engine: 'pglite',
    location: dataDir ? displayPath(dataDir) : 'in-memory PGlite',
    query: <T extends Row>(sql: string, params?: readonly unknown[]) =>
      call<T>({ type: 'query', sql, params: [...(params ?? [])], tx: null }),
    async transaction(fn) {
      const id = nextId;
      await call({ type: 'begin' });
      const tx: Queryable = { query: <T extends Row>(sql: string, params?: readonly unknown[]) => call<T>({ type: 'query', sql, params: [...(params ?? [])], tx: id }) };
      try {
        const result = await fn(tx);
        await call({ type: 'end', tx: id, commit: true });
        return result;
      } catch (error) {
        await call({ type: 'end', tx: id, commit: false }).catch(() => {});
        throw error;
      }
    },
    async close() {
      try {
        if (!dead) await call({ type: 'close' });
      } finally {
        await worker.terminate();
        release();
      }
    },
  };
}

// Data directories this process has open: a second PGlite on the same files would corrupt them.
const openHere = new Set<string>();

function acquireLock(dataDir: string): () => void {
  const lockFile = `${dataDir}.lock`;
  const key = resolve(dataDir);
  if (openHere.has(key)) throw new RunLogBusyError(dataDir, process.pid, 'this same process');
  mkdirSync(dirname(lockFile), { recursive: true });
  // The token tells our lock from one a later process took over, so we never remove someone else's.
  const token = randomUUID();
  const content = JSON.stringify({ pid: process.pid, command: process.argv.slice(1).join(' '), token });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx', 0o600);
      writeFileSync(fd, content);
      closeSync(fd);
      openHere.add(key);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        openHere.delete(key);
        if (readHolder(lockFile)?.token === token) rmSync(lockFile, { force: true });
        process.off('exit', release);
      };
      // A process that exits without closing must not leave a lock that blocks everyone after it.
      process.on('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readHolder(lockFile);
      if (holder && holder.pid !== process.pid && processExists(holder.pid)) {
        throw new RunLogBusyError(dataDir, holder.pid, holder.command);
      }
      // Stale: its process is gone (killed with SIGKILL, machine restarted), or it is a previous
      // process that had our pid (PID 1 in every container) and is not open here.
      rmSync(lockFile, { force: true });
    }
  }
  throw new Error(`could not take the lock ${lockFile}`);
}

function readHolder(lockFile: string): { pid: number; command: string; token: unknown } | null {
  try {
    const parsed = JSON.parse(readFileSync(lockFile, 'utf8')) as { pid?: unknown; command?: unknown; token?: unknown };
    return typeof parsed.pid === 'number' ? { pid: parsed.pid, command: String(parsed.command ?? '?'), token: parsed.token } : null;
  } catch {
    return null;
  }
}


function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}
