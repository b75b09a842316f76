import pg from 'pg';
import type { Db, Queryable, Row } from './db.ts';
import { redactUrl } from './db.ts';

// int8 (count(*), bigint columns) comes back as a string from pg and as a number from PGlite.
// Run counters and byte totals stay far below 2^53, so a number is safe and keeps both engines equal.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    if (oid === pg.types.builtins.NUMERIC) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

export interface PgEngineOptions {
  url: string;
  /** Schema to use (search_path); created if missing. Tests give each file its own. */
  schema?: string;
  max?: number;
  connectionTimeoutMillis?: number;
}

/** Opens a `pg` pool as a RunLog database. */
export async function openPgEngine(options: PgEngineOptions): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 5,
    types,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5000,
    options: options.schema ? `-c search_path=${quoteIdent(options.schema)}` : undefined,
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, that kills the
  // process. The next query reports the outage to whoever can act on it.
  pool.on('error', () => {});
  // A least-privilege role may read and write rows but not create schemas: only create a missing one.
  const missing = options.schema
    ? (await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [options.schema])).rowCount === 0
    : false;
  if (options.schema && missing) {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(options.schema)}`).catch((error: unknown) => {
      // Concurrent starters may race on CREATE SCHEMA; the loser sees a unique violation.
      if ((error as { code?: string }).code !== '23505') throw error;
    });
  }
  const run = async <T extends Row>(client: pg.Pool | pg.PoolClient, sql: string, params?: readonly unknown[]) =>
    (await client.query(sql, params as unknown[])).rows as T[];
  return {
    engine: 'postgres',
    location: redactUrl(options.url) + (options.schema ? ` (schema ${options.schema})` : ''),
    query: (sql, params) => run(pool, sql, params),
    async transaction(fn) {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        const tx: Queryable = { query: (sql, params) => run(client, sql, params) };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A connection that cannot even roll back is dead: drop it instead of returning it to the pool.
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw error;
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
