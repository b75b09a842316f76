import { RunLogBusyError } from './pglite-lock.ts';

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ECONNABORTED',
]);
// admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections; query_canceled (our
// statement_timeout) and lock_not_available (our lock_timeout): the database is there but cannot
// serve this statement now, so waiting and retrying is right, and a 503 tells a client just that.
const SERVER_UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '53300', '57014', '55P03']);

/**
 * True when an error means "the RunLog cannot be reached right now" (worth buffering and retrying)
 * rather than "this statement is wrong" (retrying would fail forever). A RunLog that stops answering
 * (pg's client-side query timeout) counts as unreachable: stuck is the same as gone.
 */
export function isUnreachable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    if (unreachableItself(current)) return true;
  }
  return false;
}

/** A RunLog operation that did not finish within its bound: the database is there but stuck. */
export class RunLogStuckError extends Error {
  constructor(readonly afterMs: number) {
    super(`the RunLog did not answer within ${afterMs} ms`);
    this.name = 'RunLogStuckError';
  }
}

/** `work`'s result, or a RunLogStuckError once `ms` pass (the work itself is left to finish or fail unobserved). */
export async function withinBound<T>(work: Promise<T>, ms: number): Promise<T> {
  if (!(ms > 0)) return work;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new RunLogStuckError(ms)), ms);
  });
  // A rejection after the bound has passed is nobody's to handle; without this it would be "unhandled".
  work.catch(() => {});
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

function unreachableItself(error: unknown): boolean {
  if (error instanceof RunLogBusyError || error instanceof RunLogStuckError) return true;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_UNAVAILABLE.has(code) || code.startsWith('08'))) {
    return true;
  }
  const text = typeof message === 'string' ? message : '';
  return /Connection terminated|connection error|timeout exceeded when trying to connect|Connection ended|not queryable|Query read timeout/i.test(text);
}

/** Seconds a client should wait before retrying a request that failed because the RunLog was unavailable. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * The API's question: should this failure be answered `503 database_unavailable` with `Retry-After`
 * (the database is down, cut off or not answering in time) rather than a 500 (a bug)?
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return isUnreachable(error);
}
