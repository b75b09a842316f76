import { Worker } from 'node:worker_threads';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import type { Db, Queryable, Row } from './db.ts';
import type { ThreadReply, ThreadRequest } from './pglite-thread.ts';
import { PGLITE_OPTIONS } from './pglite-options.ts';
import { acquireLock, displayPath } from './pglite-lock.ts';
import { timing, timingOrigin } from '../util/timing.ts';
import { useLiftoffForPglite } from './pglite-wasm.ts';

export { RunLogBusyError } from './pglite-lock.ts';

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
  // Before the worker starts too: V8's flags are the process's, the worker's compile included.
  useLiftoffForPglite();
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

function startThread(workerData: { dataDir: string | undefined; timingOrigin: number }): Worker {
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
  const worker = startThread({ dataDir, timingOrigin: timingOrigin() });
  timing('pglite thread started');
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
