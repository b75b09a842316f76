// Bounded waits for the locks KubeScribe takes on purpose (the migration's advisory lock, a job's row
// while a trigger applies its concurrency policy), as pg-boss bounds its own with `SET LOCAL
// lock_timeout`. A wait that runs out becomes a LockTimeoutError naming who holds the lock, instead
// of a request or a start-up that hangs, or a bare "canceling statement due to lock timeout".
import type { Queryable } from '../db.ts';

/** A session holding a lock we waited for: enough to find it (`pg_stat_activity`) and to judge it. */
export interface LockHolder {
  pid: number;
  application_name: string | null;
  /** When the holder's transaction began: how long it has held the lock, at most. */
  since: Date | null;
  state: string | null;
  /** How long the holder's session has been in its present state, in ms (by the database's clock). */
  state_ms: number | null;
}

/** A lock was not granted within the bound. Keeps SQLSTATE 55P03, so callers that retry on it still do. */
export class LockTimeoutError extends Error {
  readonly code = '55P03';
  constructor(
    readonly lock: string,
    readonly waitedMs: number,
    readonly holders: LockHolder[],
  ) {
    super(`${lock} was not granted within ${waitedMs} ms: ${describeHolders(holders)}`);
    this.name = 'LockTimeoutError';
  }
}

function describeHolders(holders: LockHolder[]): string {
  if (holders.length === 0) return 'held by another session that could not be identified (it may have just ended); retry';
  return 'held by ' + holders.map((holder) =>
    `pid ${holder.pid}${holder.application_name ? ` (${holder.application_name})` : ''}` +
    `${holder.since ? ` in a transaction since ${new Date(holder.since).toISOString()}` : ''}${holder.state ? `, ${holder.state}` : ''}`,
  ).join('; ');
}

/** Which lock a statement takes, for the error and for finding its holders afterwards. */
export type LockTarget =
  | { kind: 'advisory'; description: string; key: number }
  | { kind: 'row'; description: string; table: 'jobs'; key: string };

/**
 * Runs `statement` (which takes `target`) in the open transaction `tx` with lock_timeout set to
 * `timeoutMs` for that statement only. A timeout (55P03) is rolled back to a savepoint, so the
 * transaction can still ask pg_locks who holds the lock, and is thrown as a LockTimeoutError.
 */
export async function withLockTimeout<T>(tx: Queryable, target: LockTarget, timeoutMs: number, statement: () => Promise<T>): Promise<T> {
  const [previous] = await tx.query<{ setting: string }>(
    "SELECT current_setting('lock_timeout') AS setting, set_config('lock_timeout', $1, true)",
    [`${Math.max(1, Math.round(timeoutMs))}ms`],
  );
  await tx.query('SAVEPOINT kubescribe_lock_wait');
  let result: T;
  try {
    result = await statement();
  } catch (error) {
    if ((error as { code?: unknown }).code !== '55P03') throw error;
    await tx.query('ROLLBACK TO SAVEPOINT kubescribe_lock_wait');
    throw new LockTimeoutError(target.description, timeoutMs, await lockHolders(tx, target));
  }
  await tx.query('RELEASE SAVEPOINT kubescribe_lock_wait');
  await tx.query("SELECT set_config('lock_timeout', $1, true)", [previous!.setting]);
  return result;
}

/** The sessions other than this one that hold `target` now. */
export async function lockHolders(db: Queryable, target: LockTarget): Promise<LockHolder[]> {
  // pg_stat_activity is read from a snapshot taken at its first use in a transaction: without this, a
  // waiter looking again within its transaction sees every holder's state as it was at the first look,
  // and a session that appeared since (another starter's migration) with no state at all.
  await db.query('SELECT pg_stat_clear_snapshot()');
  if (target.kind === 'advisory') {
    // A one-key (bigint) advisory lock shows in pg_locks as classid = high 32 bits, objid = low 32, objsubid = 1.
    const key = BigInt(target.key);
    return db.query<LockHolder & Record<string, unknown>>(
      `SELECT l.pid, a.application_name, a.xact_start AS since, a.state,
              (extract(epoch FROM clock_timestamp() - a.state_change) * 1000)::float8 AS state_ms
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
         AND l.classid::text = $1 AND l.objid::text = $2 AND l.objsubid = 1
       ORDER BY a.xact_start`,
      [String(key >> 32n), String(key & 0xffffffffn)],
    );
  }
  // A row lock is not listed in pg_locks; the row's xmax names the transaction that holds it (locked
  // FOR UPDATE or updated and not committed), and that transaction's own lock names its session.
  return db.query<LockHolder & Record<string, unknown>>(
    `SELECT l.pid, a.application_name, a.xact_start AS since, a.state,
            (extract(epoch FROM clock_timestamp() - a.state_change) * 1000)::float8 AS state_ms
     FROM ${target.table} t
     JOIN pg_locks l ON l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted
                    AND l.transactionid::text = t.xmax::text
     LEFT JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE t.name = $1 AND t.xmax::text <> '0' AND l.pid <> pg_backend_pid()`,
    [target.key],
  );
}
