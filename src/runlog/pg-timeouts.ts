// Bounds on every wait for PostgreSQL, so that a database that stops answering (a restart, a cut
// link, a silent partition that keeps TCP open and drops every packet) costs the requests in flight
// a quick error instead of a hang. Each can be changed in DATABASE_URL's query string
// (docs/runlog.md, "Timeouts"); KubeScribe takes these parameters out of the URL before `pg` sees it.
import { parseDuration } from '../config/durations.ts';

export interface PgTimeouts {
  /** Opening a connection, and waiting for a free one in the pool. */
  connectMs: number;
  /** Server side: a statement running longer is cancelled (SQLSTATE 57014). */
  statementMs: number;
  /** Server side: waiting longer for a row or advisory lock fails the statement (55P03). */
  lockMs: number;
  /** Server side: a transaction left idle this long is ended by the server, its locks released. */
  idleInTransactionMs: number;
  /** Client side: no answer at all within this bound (silent partition) fails the query and drops the connection. */
  queryMs: number;
  /** TCP keepalive probes start after this much silence on an idle connection. */
  keepAliveMs: number;
}

/** The defaults: an API request never waits more than `queryMs` for the database. */
export const DEFAULT_PG_TIMEOUTS: PgTimeouts = {
  connectMs: 5_000,
  statementMs: 10_000,
  lockMs: 5_000,
  idleInTransactionMs: 60_000,
  queryMs: 15_000,
  keepAliveMs: 10_000,
};

// URL parameter -> field, and the unit of a plain number (libpq's connect_timeout and keepalives_idle
// count seconds; PostgreSQL's settings and pg's query_timeout count milliseconds).
const PARAMETERS: Record<string, { field: keyof PgTimeouts; plainUnitMs: number }> = {
  connect_timeout: { field: 'connectMs', plainUnitMs: 1000 },
  statement_timeout: { field: 'statementMs', plainUnitMs: 1 },
  lock_timeout: { field: 'lockMs', plainUnitMs: 1 },
  idle_in_transaction_session_timeout: { field: 'idleInTransactionMs', plainUnitMs: 1 },
  query_timeout: { field: 'queryMs', plainUnitMs: 1 },
  keepalives_idle: { field: 'keepAliveMs', plainUnitMs: 1000 },
};

/**
 * Splits DATABASE_URL into the URL `pg` gets and the timeouts. A value is a whole number (in the
 * parameter's own unit) or a duration such as `30s`; `0` turns a bound off. A bad value is an error
 * naming the parameter, never a silent default.
 */
export function timeoutsFromUrl(url: string): { url: string; timeouts: PgTimeouts } {
  const timeouts = { ...DEFAULT_PG_TIMEOUTS };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, timeouts };
  }
  let changed = false;
  for (const [name, { field, plainUnitMs }] of Object.entries(PARAMETERS)) {
    const value = parsed.searchParams.get(name);
    if (value === null) continue;
    timeouts[field] = parseTimeout(name, value, plainUnitMs);
    parsed.searchParams.delete(name);
    changed = true;
  }
  return { url: changed ? parsed.toString() : url, timeouts };
}

const MAX_TIMER_MS = 2_147_483_647;

function parseTimeout(name: string, value: string, plainUnitMs: number): number {
  const text = value.trim();
  // Timers hold at most 2^31-1 ms (24.8 days); anything longer is as good as off.
  if (/^\d+$/.test(text)) return Math.min(Number(text) * plainUnitMs, MAX_TIMER_MS);
  try {
    return Math.min(parseDuration(text, { allowZero: true }), MAX_TIMER_MS);
  } catch {
    throw new Error(`DATABASE_URL parameter ${name}=${JSON.stringify(value)}: expected a whole number or a duration such as "10s" (0 turns it off)`);
  }
}
