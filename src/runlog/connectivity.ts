import { RunLogBusyError } from './pglite-engine.ts';

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ECONNABORTED',
]);
// admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
const SERVER_UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * True when an error means "the RunLog cannot be reached right now" (worth buffering and retrying)
 * rather than "this statement is wrong" (retrying would fail forever).
 */
export function isUnreachable(error: unknown): boolean {
  if (error instanceof RunLogBusyError) return true;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_UNAVAILABLE.has(code) || code.startsWith('08'))) {
    return true;
  }
  const text = typeof message === 'string' ? message : '';
  return /Connection terminated|connection error|timeout exceeded when trying to connect|Connection ended|not queryable/i.test(text);
}
