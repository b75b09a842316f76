import type { CustomTypesConfig, Pool, PoolClient } from 'pg';
import pg from './pg-driver.ts';
import type { Db, Queryable, Row } from './db.ts';
import { redactUrl } from './db.ts';
import { isUnreachable } from './connectivity.ts';
import { timeoutsFromUrl, type PgTimeouts } from './pg-timeouts.ts';

// int8 (count(*), bigint columns) comes back as a string from pg and as a number from PGlite.
// Run counters and byte totals stay far below 2^53, so a number is safe and keeps both engines equal.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    if (oid === pg.types.builtins.NUMERIC) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as CustomTypesConfig;

export interface PgEngineOptions {
  url: string;
  /** Schema to use (search_path); created if missing. Tests give each file its own. */
  schema?: string;
  /**
   * Look for the schema (and create it) now; default true. False saves a round trip at every start
   * when the caller's next query finds out anyway: open-runlog.ts migrates next, and a missing schema
   * fails its version query, which sends it to the migrating connection, opened with the check.
   */
  checkSchema?: boolean;
  max?: number;
  /** Overrides the URL's `connect_timeout` (tests reaching a closed port). */
  connectionTimeoutMillis?: number;
  /** Overrides bounds otherwise taken from the URL or the defaults (src/runlog/pg-timeouts.ts). */
  timeouts?: Partial<PgTimeouts>;
  /**
   * pg's pipeline mode: a transaction's BEGIN goes out with its first statements, and statements its
   * caller issues at once (Queryable.pipelined) go in one round trip instead of one each. The runner's
   * records at the end of a short run were six round trips to a new backend (docs/benchmarks.md,
   * "Run start-up: `run` parses its options without commander").
   */
  pipeline?: boolean;
}

/** Opens a `pg` pool as a RunLog database. */
export async function openPgEngine(options: PgEngineOptions): Promise<Db> {
  const fromUrl = timeoutsFromUrl(options.url);
  const timeouts: PgTimeouts = { ...fromUrl.timeouts, ...options.timeouts };
  if (options.connectionTimeoutMillis !== undefined) timeouts.connectMs = options.connectionTimeoutMillis;
  const pool = new pg.Pool({
    connectionString: fromUrl.url,
    max: options.max ?? 5,
    types,
    // pg treats 0 (and undefined) as "no bound" everywhere below; the server settings are sent at startup.
    connectionTimeoutMillis: timeouts.connectMs,
    statement_timeout: timeouts.statementMs || undefined,
    lock_timeout: timeouts.lockMs || undefined,
    idle_in_transaction_session_timeout: timeouts.idleInTransactionMs || undefined,
    query_timeout: timeouts.queryMs || undefined,
    keepAlive: timeouts.keepAliveMs > 0,
    keepAliveInitialDelayMillis: timeouts.keepAliveMs,
    options: options.schema ? `-c search_path=${quoteIdent(options.schema)}` : undefined,
    // pg 8.23's Client option; its type declarations do not have it yet.
    ...(options.pipeline ? { pipeline: true } : {}),
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, that kills the
  // process. The next query reports the outage to whoever can act on it. (Clients checked out by
  // pool.query get a listener from pg-pool; those checked out by transaction() get one below.)
  pool.on('error', () => {});
  // Every client, to let go of their sockets at close (below).
  const clients = new Set<pg.Client>();
  pool.on('connect', (client) => clients.add(client));
  pool.on('remove', (client) => clients.delete(client));
  // A least-privilege role may read and write rows but not create schemas: only create a missing one.
  const missing = options.schema && options.checkSchema !== false
    ? (await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [options.schema])).rowCount === 0
    : false;
  if (options.schema && missing) {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(options.schema)}`).catch((error: unknown) => {
      // Concurrent starters may race on CREATE SCHEMA; the loser sees a unique violation.
      if ((error as { code?: string }).code !== '23505') throw error;
    });
  }
  const run = async <T extends Row>(client: Pool | PoolClient, sql: string, params?: readonly unknown[]) =>
    (await client.query(sql, params as unknown[])).rows as T[];
  return {
    engine: 'postgres',
    location: redactUrl(options.url) + (options.schema ? ` (schema ${options.schema})` : ''),
    query: (sql, params) => run(pool, sql, params),
    async transaction(fn) {
      const client = await pool.connect();
      // A checked-out client has no listener of pg-pool's: a connection that drops mid-transaction
      // would emit an unhandled 'error' and end the process. Note it; the pending query fails on its own.
      let lost: Error | null = null;
      const onError = (error: Error) => {
        lost ??= error;
      };
      client.on('error', onError);
      let broken = false;
      try {
        const begun = client.query('BEGIN');
        const tx: Queryable = { query: (sql, params) => run(client, sql, params), pipelined: options.pipeline === true };
        // Pipelined, the first statements follow BEGIN on the wire instead of a round trip later.
        if (!options.pipeline) await begun;
        const [, result] = await Promise.all([begun, fn(tx)]);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A connection that dropped or stopped answering cannot roll back (the server ends the
        // transaction with the session): drop it at once instead of waiting on it again.
        if (lost || isUnreachable(error)) {
          broken = true;
        } else {
          // A connection that cannot even roll back is dead: drop it instead of returning it to the pool.
          await client.query('ROLLBACK').catch(() => {
            broken = true;
          });
        }
        throw error;
      } finally {
        client.removeListener('error', onError);
        // Released with an error, pg-pool destroys the client (and keeps its own listener on it until then).
        client.release(broken ? (lost ?? new Error('connection dropped')) : undefined);
      }
    },
    async close() {
      const open = [...clients];
      await pool.end();
      // pool.end() sends each backend Terminate and half-closes the socket, which then waits for the
      // server to close its end: up to 40 ms at the end of every \`kubescribe run\` on a loaded machine
      // (the backend must be scheduled to exit), with nothing left to say. The goodbye is written;
      // the process need not stay for the reply.
      // (pg's Client has unref(); its type declarations leave it out.)
      for (const client of open) (client as pg.Client & { unref(): void }).unref();
    },
  };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
