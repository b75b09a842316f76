// Worker-thread side of the threaded PGlite engine. PGlite runs PostgreSQL as WebAssembly on the
// thread that calls it, so a large insert blocks that thread for tens of milliseconds. The runner
// must keep reading its child's two pipes promptly (their relative order is arrival order), so it
// puts the database here and keeps its own event loop free.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { PGLITE_OPTIONS } from './pglite-options.ts';
import { timing } from '../util/timing.ts';

export type ThreadRequest =
  | { id: number; type: 'query'; sql: string; params: unknown[]; tx: number | null }
  | { id: number; type: 'begin' }
  | { id: number; type: 'end'; tx: number; commit: boolean }
  | { id: number; type: 'close' };

export type ThreadReply =
  | { id: number; ok: true; rows: unknown[] }
  | { id: number; ok: false; error: { name: string; message: string; code?: string } };

const port = parentPort!;
const { dataDir } = workerData as { dataDir: string | undefined };
timing('pglite module loaded');
const open = PGlite.create(dataDir, PGLITE_OPTIONS);
void open.then(() => timing('pglite ready'), () => {});
const transactions = new Map<number, { tx: Transaction; end: (commit: boolean) => void; settled: Promise<void> }>();
const ROLLBACK = Symbol('rollback');

const reply = (message: ThreadReply) => port.postMessage(message);
const fail = (id: number, error: unknown) => {
  const { name, message, code } = error as { name?: string; message?: string; code?: string };
  reply({ id, ok: false, error: { name: name ?? 'Error', message: message ?? String(error), code } });
};

port.on('message', async (request: ThreadRequest) => {
  let db: PGlite;
  try {
    db = await open;
  } catch (error) {
    fail(request.id, error);
    return;
  }
  try {
    switch (request.type) {
      case 'query': {
        const target = request.tx === null ? db : transactions.get(request.tx)?.tx;
        if (!target) throw new Error(`no open transaction ${request.tx}`);
        reply({ id: request.id, ok: true, rows: (await target.query(request.sql, request.params)).rows });
        return;
      }
      case 'begin': {
        let entered!: (tx: Transaction) => void;
        const ready = new Promise<Transaction>((resolve) => (entered = resolve));
        let end!: (commit: boolean) => void;
        const ended = new Promise<boolean>((resolve) => (end = resolve));
        const settled = db
          .transaction(async (tx) => {
            entered(tx);
            if (!(await ended)) throw ROLLBACK;
          })
          .then(
            () => undefined,
            (error: unknown) => {
              if (error !== ROLLBACK) throw error;
            },
          );
        // A transaction that fails to begin rejects `settled` before `entered` is ever called.
        const tx = await Promise.race([ready, settled.then(() => Promise.reject(new Error('transaction did not start')))]);
        transactions.set(request.id, { tx, end, settled });
        reply({ id: request.id, ok: true, rows: [] });
        return;
      }
      case 'end': {
        const open = transactions.get(request.tx);
        if (!open) throw new Error(`no open transaction ${request.tx}`);
        transactions.delete(request.tx);
        open.end(request.commit);
        await open.settled;
        reply({ id: request.id, ok: true, rows: [] });
        return;
      }
      case 'close':
        await db.close();
        reply({ id: request.id, ok: true, rows: [] });
        return;
    }
  } catch (error) {
    fail(request.id, error);
  }
});
