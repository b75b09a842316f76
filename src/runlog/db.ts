/**
 * The database port: the only thing the RunLog needs from an engine. Both engines (a `pg` pool
 * and embedded PGlite) implement it, and they normalise their differences here so that nothing
 * above this file knows which one it talks to.
 */
export type Row = Record<string, unknown>;

/** Something that runs SQL with `$n` parameters: a database or an open transaction. */
export interface Queryable {
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /**
   * True when statements issued without awaiting the one before go to the server together, in the
   * order issued (pg's pipeline mode): a caller may send independent statements of a transaction at once.
   */
  readonly pipelined?: boolean;
}

/** A RunLog database: query, run a transaction, close. */
export interface Db extends Queryable {
  readonly engine: 'postgres' | 'pglite';
  /** Human-readable location for messages, never containing a password. */
  readonly location: string;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * jsonb parameters must be passed as JSON text: `pg` turns a raw JS array into a Postgres array
 * literal, which jsonb rejects, while PGlite serialises it. Stringifying ourselves is the same on both.
 */
export function jsonb(value: unknown): string {
  return JSON.stringify(value ?? null);
}

/** Removes the password from a connection URL so it can be printed. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable DATABASE_URL>';
  }
}

/** The same database, for a borrower whose close() must leave it open for its owner. */
export function borrowedDb(db: Db): Db {
  return {
    engine: db.engine,
    location: db.location,
    query: (sql, params) => db.query(sql, params),
    transaction: (fn) => db.transaction(fn),
    close: async () => {},
  };
}
