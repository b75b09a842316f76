// The opaque keyset cursor of GET /runs: where the previous page ended, as base64url JSON. Clients
// must treat it as opaque; its content may change between versions.
import { isUuid } from '../runlog/uuidv7.ts';
import { BadRequestError } from './errors.ts';
import { isStrictTimestamp } from './strict-formats.ts';

/** The position of a run in the newest-first order: its creation time (full microsecond precision) and id. */
export interface RunCursor {
  /** `created_at` as PostgreSQL text with microseconds; a JS Date would round it to milliseconds and skip rows. */
  created_at: string;
  run_id: string;
}

// UTC with microseconds, as `to_char(... 'US"Z"')` renders it: nothing else was ever issued.
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** Encodes a cursor for the client. */
export function encodeCursor(cursor: RunCursor): string {
  return Buffer.from(JSON.stringify([cursor.created_at, cursor.run_id]), 'utf8').toString('base64url');
}

/** Decodes a cursor from the query string; anything that is not one we issued is a 400 naming `querystring.cursor`. */
export function decodeCursor(text: string): RunCursor {
  const invalid = () =>
    new BadRequestError('querystring.cursor: is not a cursor returned by GET /runs', [
      { field: 'querystring.cursor', reason: 'is not a cursor returned by GET /runs' },
    ]);
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) throw invalid();
  const [createdAt, runId] = decoded as unknown[];
  if (typeof createdAt !== 'string' || !TIMESTAMP.test(createdAt) || !isStrictTimestamp(createdAt)) throw invalid();
  if (typeof runId !== 'string' || !isUuid(runId)) throw invalid();
  return { created_at: createdAt, run_id: runId };
}
