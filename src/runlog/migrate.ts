import type { Db, Queryable } from './db.ts';
import { migrationFileNames, readMigrationFiles } from './migration-files.ts';
import { lockHolders, LockTimeoutError, type LockHolder, type LockTarget, withLockTimeout } from './sql/lock-wait.ts';

// One fixed key: every KubeScribe process that migrates any RunLog on this server serialises here.
// Migrations are rare and short, so sharing the key across schemas costs nothing.
const MIGRATION_LOCK_KEY = 0x6b756265; // "kube"

// How long a starter waits for another process's migration before it asks what that process is
// doing. A migration is a few DDL statements (well under a second) plus any backfill, which grows
// with the history: at 5 M runs, 0010's totals and 0013's daily rollup take minutes on a loaded
// machine (docs/runlog.md#upgrading-a-large-runlog). So a starter whose wait runs out keeps waiting,
// another round at a time, while the holder is working (its session is running a statement), and
// gives up, naming it, only when the holder has sat idle in its transaction for
// MIGRATION_HUNG_AFTER_MS (hung) or after MIGRATION_MAX_WAIT_MS in all.
export const MIGRATION_LOCK_TIMEOUT_MS = 60_000;
export const MIGRATION_MAX_WAIT_MS = 30 * 60_000;
// How long a holder of the migration lock may sit idle in its transaction before a starter calls it hung.
export const MIGRATION_HUNG_AFTER_MS = 10_000;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The schema in this database is newer than this build of KubeScribe understands. */
export class RunLogTooNewError extends Error {
  constructor(
    readonly databaseVersion: number,
    readonly codeVersion: number,
  ) {
    super(
      `the RunLog schema is at version ${databaseVersion}, but this kubescribe only knows up to version ` +
        `${codeVersion}: it was migrated by a newer KubeScribe. Upgrade kubescribe; nothing was changed.`,
    );
    this.name = 'RunLogTooNewError';
  }
}

/** Reads the numbered migration files (`0001_name.sql`) in order. */
export function loadMigrations(dir?: string): Migration[] {
  const migrations = readMigrationFiles(dir).map(({ file, sql }) => {
    const match = /^(\d+)_(.+)\.sql$/.exec(file);
    if (!match) throw new Error(`migration file ${file} is not named NNNN_name.sql`);
    return { version: Number(match[1]), name: match[2]!, sql };
  });
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(`migration ${migration.version}_${migration.name} is out of sequence (expected ${index + 1})`);
    }
  });
  return migrations;
}

export interface MigrationResult {
  from: number;
  to: number;
  applied: string[];
}

/**
 * Brings the RunLog schema up to date. Idempotent and safe to run from many processes at once:
 * everything happens in one transaction holding an advisory lock, so the first starter migrates
 * and the others wait (at most `lockTimeoutMs`, then a LockTimeoutError naming the holder), then
 * find nothing to do.
 */
export async function migrate(
  db: Db,
  given?: Migration[],
  { lockTimeoutMs = MIGRATION_LOCK_TIMEOUT_MS, maxWaitMs = MIGRATION_MAX_WAIT_MS, hungAfterMs = MIGRATION_HUNG_AFTER_MS, migrator }: {
    lockTimeoutMs?: number;
    maxWaitMs?: number;
    /** A holder idle in its transaction this long is hung: the wait ends there, naming it. */
    hungAfterMs?: number;
    /**
     * Opens the connection that migrates, when there is something to migrate, and closes it after:
     * one without the statement and query timeouts of `db`'s pool, which a backfill over a long
     * history outlasts (src/runlog/open-runlog.ts). Default: `db` itself.
     */
    migrator?: () => Promise<Db>;
  } = {},
): Promise<MigrationResult> {
  // The shipped migrations are numbered 1..n, one file each: n is the number of files, and their SQL
  // (70 KB and growing) is read only when there is something to apply.
  const latest = given?.length ?? migrationFileNames().length;
  // Fast path for every start after the first: one query instead of a five-statement locked
  // transaction (the runner's start-up budget is ~150 ms).
  const current = await currentVersion(db);
  if (current === latest) return { from: current, to: latest, applied: [] };
  if (current !== null && current > latest) throw new RunLogTooNewError(current, latest);
  const migrations = given ?? loadMigrations();
  if (migrator) {
    const unbounded = await migrator();
    try {
      return await migrate(unbounded, migrations, { lockTimeoutMs, maxWaitMs, hungAfterMs });
    } finally {
      await unbounded.close();
    }
  }
  return db.transaction(async (tx) => {
    await takeMigrationLock(tx, lockTimeoutMs, maxWaitMs, hungAfterMs);
    await tx.query(`CREATE TABLE IF NOT EXISTS kubescribe_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const [row] = await tx.query<{ version: number | null }>('SELECT max(version) AS version FROM kubescribe_migrations');
    const current = row?.version ?? 0;
    if (current > latest) throw new RunLogTooNewError(current, latest);
    const applied: string[] = [];
    for (const migration of migrations.slice(current)) {
      await execScript(tx, migration.sql);
      await tx.query('INSERT INTO kubescribe_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(`${String(migration.version).padStart(4, '0')}_${migration.name}`);
    }
    return { from: current, to: latest, applied };
  });
}

/**
 * Waits for the migration lock in rounds of `roundMs`: after a round, on while every holder is
 * running a statement (a backfill at work) or has just gone, up to `maxWaitMs`; a LockTimeoutError
 * naming the holder when it has been idle in its transaction for `hungAfterMs`, or when the whole wait runs out.
 */
async function takeMigrationLock(tx: Queryable, roundMs: number, maxWaitMs: number, hungAfterMs: number): Promise<void> {
  const target: LockTarget = { kind: 'advisory', description: 'the RunLog migration lock', key: MIGRATION_LOCK_KEY };
  const began = Date.now();
  for (;;) {
    try {
      await withLockTimeout(tx, target, Math.min(roundMs, Math.max(1, maxWaitMs - (Date.now() - began))),
        () => tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]));
      return;
    } catch (error) {
      if (!(error instanceof LockTimeoutError)) throw error;
      const waited = Date.now() - began;
      if (waited >= maxWaitMs) throw new LockTimeoutError(error.lock, waited, error.holders);
      const hung = await hungHolders(tx, target, error.holders, hungAfterMs);
      if (hung) throw new LockTimeoutError(error.lock, Date.now() - began, hung);
    }
  }
}

// A migrating session is idle in its transaction for a moment between two statements of a script,
// longer when its process is short of CPU, and other starters' migrations (any schema: the lock key is
// server-wide) come and go meanwhile. So a holder is called hung only once it has sat idle for
// `hungAfterMs` by the database's clock; until then it is looked at again every 250 ms. Returns the
// holders as last seen when one of them is hung, or null while they work (or are gone).
async function hungHolders(tx: Queryable, target: LockTarget, holders: LockHolder[], hungAfterMs: number): Promise<LockHolder[] | null> {
  for (;;) {
    const idle = holders.filter((holder) => holder.state !== null && holder.state !== 'active');
    if (idle.length === 0) return null;
    if (idle.some((holder) => (holder.state_ms ?? 0) >= hungAfterMs)) return holders;
    await new Promise((resolve) => setTimeout(resolve, 250));
    holders = await lockHolders(tx, target);
  }
}

// null when the migrations table does not exist yet (undefined_table).
async function currentVersion(db: Db): Promise<number | null> {
  try {
    const [row] = await db.query<{ version: number | null }>('SELECT max(version) AS version FROM kubescribe_migrations');
    return row?.version ?? 0;
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return null;
    throw error;
  }
}

/** Reports the schema version without changing anything (for readiness checks). */
export async function schemaVersion(db: Db): Promise<number> {
  const [exists] = await db.query<{ present: boolean }>(
    "SELECT to_regclass('kubescribe_migrations') IS NOT NULL AS present",
  );
  if (!exists?.present) return 0;
  const [row] = await db.query<{ version: number | null }>('SELECT max(version) AS version FROM kubescribe_migrations');
  return row?.version ?? 0;
}

// pg's extended protocol runs one statement per query, so a script is split on the semicolons that
// end statements — outside quotes, comments and $$ bodies.
async function execScript(tx: { query(sql: string): Promise<unknown> }, script: string): Promise<void> {
  for (const statement of splitStatements(script)) await tx.query(statement);
}

/** Splits a SQL script into statements, respecting quotes, comments and dollar-quoted bodies. */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  while (i < script.length) {
    const ch = script[i]!;
    const rest = script.slice(i);
    if (rest.startsWith('/*')) {
      const end = script.indexOf('*/', i + 2);
      i = end === -1 ? script.length : end + 2;
      current += ' ';
      continue;
    }
    if (rest.startsWith('--')) {
      const end = script.indexOf('\n', i);
      i = end === -1 ? script.length : end + 1;
      current += '\n';
      continue;
    }
    const dollar = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(rest);
    if (dollar) {
      const tag = dollar[0];
      const end = script.indexOf(tag, i + tag.length);
      const stop = end === -1 ? script.length : end + tag.length;
      current += script.slice(i, stop);
      i = stop;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < script.length && script[j] !== ch) j++;
      current += script.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === ';') {
      if (current.trim()) statements.push(current.trim());
      current = '';
      i++;
      continue;
    }
    current += ch;
    i++;
  }
  if (current.trim()) statements.push(current.trim());
  return statements;
}
