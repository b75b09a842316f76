// "Do this periodic work on one replica at a time": a transaction-scoped PostgreSQL advisory lock,
// tried (never waited for) at the start of each pass. A session-level lock would have to live on one
// dedicated pooled connection and be re-taken whenever that connection dies; a transaction-scoped one
// needs neither, is released by COMMIT, ROLLBACK or a dropped connection, and is held only while
// the pass does its claiming, so a replica that stops never keeps the others waiting.
import type { Db, Queryable } from '../db.ts';

/** The work's result, or `acquired: false` when another session held the lock and the work did not run. */
export type LockedResult<T> = { acquired: true; value: T } | { acquired: false };

/**
 * The first half of a loop's two-key advisory lock: a 32-bit FNV-1a hash of its name ("scheduler",
 * "reaper"), as a signed int4. The two-key space never meets the one-key migration lock.
 */
export function advisoryLockKey(name: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(name, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash | 0;
}

/**
 * Runs `fn` in a transaction holding the advisory lock of `name`, or returns `acquired: false` at once
 * when another session holds it. The second key is a hash of the current schema: advisory locks are
 * per database, and RunLogs in two schemas of one database (one per test file, one per tenant) must
 * not take turns with each other.
 */
export async function withAdvisoryXactLock<T>(db: Db, name: string, fn: (tx: Queryable) => Promise<T>): Promise<LockedResult<T>> {
  return db.transaction(async (tx): Promise<LockedResult<T>> => {
    const [row] = await tx.query<{ acquired: boolean }>(
      `SELECT pg_try_advisory_xact_lock($1::int4, hashtext(coalesce(current_schema(), ''))) AS acquired`,
      [advisoryLockKey(name)],
    );
    if (!row?.acquired) return { acquired: false };
    return { acquired: true, value: await fn(tx) };
  });
}
