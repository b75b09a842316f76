import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../db.ts';
import { formatDuration, parseDuration } from '../../config/durations.ts';
import { uuidv7 } from '../uuidv7.ts';

export const TOKEN_SCOPES = ['read', 'trigger', 'admin'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** What a scope allows, each including the ones before it. */
export function scopeAllows(granted: TokenScope, needed: TokenScope): boolean {
  return TOKEN_SCOPES.indexOf(granted) >= TOKEN_SCOPES.indexOf(needed);
}

// A token lives at least a minute (shorter is a typo, such as 5 meaning 5 seconds) and at most ten
// years: a far-future expiry once stored a year PGlite cannot write and JSON dates cannot show.
export const TOKEN_LIFETIME_MIN_MS = 60_000;
export const TOKEN_LIFETIME_MAX_MS = 3650 * 86_400_000;

/**
 * Milliseconds of a token lifetime such as "90d", "12h" or "1h30m"; throws saying why for anything
 * else. `minMs` lowers the minimum for the CLI, whose operator may want a token that expires at once.
 */
export function parseTokenLifetime(text: string, { minMs = TOKEN_LIFETIME_MIN_MS }: { minMs?: number } = {}): number {
  // parseDuration reads a bare number as seconds: for a token that is a mistake more often than not.
  if (/^\s*\d+(\.\d+)?\s*$/.test(text)) throw new Error(`${JSON.stringify(text)} has no unit; write e.g. "90d", "12h" or "30m"`);
  const ms = parseDuration(text);
  if (ms < minMs) throw new Error(`${JSON.stringify(text)} is shorter than ${formatDuration(minMs)}`);
  if (ms > TOKEN_LIFETIME_MAX_MS) throw new Error(`${JSON.stringify(text)} is longer than ${formatDuration(TOKEN_LIFETIME_MAX_MS)} (10 years)`);
  return ms;
}

export interface TokenRow {
  token_id: string;
  name: string;
  scope: TokenScope;
  created_at: Date;
  created_by: string | null;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

// A recognisable prefix lets secret scanners find leaked tokens; 32 random bytes make guessing hopeless.
const PREFIX = 'ksk_';
// API tokens (ksk_) and run tokens (ksr_, runner-credentials.ts).
const TOKEN_ANYWHERE = /(ksk|ksr)_[A-Za-z0-9_-]+/g;

/** The text with every API or run token in it (recognised by its prefix) replaced by `ksk_***` / `ksr_***`: for logs. */
export function redactApiTokens(text: string): string {
  return text.replace(TOKEN_ANYWHERE, '$1_***');
}

/** SHA-256 hex of a token: all the RunLog ever stores. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Creates a token and returns it in clear, once. */
export async function createToken(
  db: Queryable,
  input: { name: string; scope: TokenScope; expires_at: Date | null; created_by: string | null },
): Promise<{ token: string; row: TokenRow }> {
  const token = PREFIX + randomBytes(32).toString('base64url');
  const [row] = await db.query<TokenRow & Record<string, unknown>>(
    `INSERT INTO api_tokens (token_id, name, scope, token_hash, expires_at, created_by)
     VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING token_id::text AS token_id, name, scope, created_at, created_by, expires_at, last_used_at, revoked_at, revoked_by`,
    [uuidv7(), input.name, input.scope, hashToken(token), input.expires_at, input.created_by],
  );
  return { token, row: row! };
}

/** Finds the live token (not revoked, not expired) with this value, or null. */
export async function findLiveToken(db: Queryable, token: string, now: Date = new Date()): Promise<TokenRow | null> {
  const [row] = await findLiveTokens(db, [token], now);
  return row ?? null;
}

/**
 * The one "live token" rule, as SQL over the api_tokens row `alias` at time `now` (a parameter
 * reference such as `$2`): not revoked and not expired. Statements that check a token inside a bigger
 * statement (a trigger's insert) use it too, so the rule cannot drift.
 */
export function liveTokenSql(alias: string, now: string): string {
  return `${alias}.revoked_at IS NULL AND (${alias}.expires_at IS NULL OR ${alias}.expires_at > ${now})`;
}

/** Looks several token values up in one statement: the live token of each, or null, in order. */
export async function findLiveTokens(db: Queryable, tokens: string[], now: Date = new Date()): Promise<Array<TokenRow | null>> {
  const hashes = tokens.map(hashToken);
  const rows = await db.query<TokenRow & { token_hash: string } & Record<string, unknown>>(
    `SELECT token_id::text AS token_id, name, scope, created_at, created_by, expires_at, last_used_at, revoked_at, revoked_by, token_hash
     FROM api_tokens
     WHERE token_hash IN (SELECT jsonb_array_elements_text($1::jsonb)) AND ${liveTokenSql('api_tokens', '$2')}`,
    [JSON.stringify([...new Set(hashes)]), now],
  );
  const byHash = new Map(rows.map(({ token_hash, ...row }) => [token_hash, row as TokenRow]));
  return hashes.map((hash) => byHash.get(hash) ?? null);
}

const TOUCH_INTERVAL_MS = 60_000;

/**
 * The one "record last use" rule, as SQL for an UPDATE of api_tokens at time `now` (a parameter
 * reference): at most once a minute per token, so reads do not turn into writes.
 */
export function touchTokenSql(now: string): string {
  return `last_used_at = ${now}
     WHERE (last_used_at IS NULL OR last_used_at < ${now}::timestamptz - ${TOUCH_INTERVAL_MS} * interval '1 millisecond')`;
}

/**
 * Records a token's use, at most once a minute, so reads do not turn into writes. The row the caller
 * just read says whether this use is due; when it is not (nearly every request) no statement is sent.
 */
export async function touchToken(db: Queryable, token: Pick<TokenRow, 'token_id' | 'last_used_at'>, now: Date = new Date()): Promise<void> {
  if (token.last_used_at && new Date(token.last_used_at).getTime() >= now.getTime() - TOUCH_INTERVAL_MS) return;
  await db.query(`UPDATE api_tokens SET ${touchTokenSql('$2')} AND token_id = $1`, [token.token_id, now]);
}

/** Lists tokens (never their values). */
export async function listTokens(db: Queryable): Promise<TokenRow[]> {
  return db.query<TokenRow & Record<string, unknown>>(
    `SELECT token_id::text AS token_id, name, scope, created_at, created_by, expires_at, last_used_at, revoked_at, revoked_by
     FROM api_tokens ORDER BY created_at`,
  );
}

/** Revokes a token by name, recording who did; false when there is no live token of that name. */
export async function revokeToken(db: Queryable, name: string, revokedBy: string | null = null, now: Date = new Date()): Promise<boolean> {
  const rows = await db.query(
    'UPDATE api_tokens SET revoked_at = $2, revoked_by = $3 WHERE name = $1 AND revoked_at IS NULL RETURNING 1',
    [name, now, revokedBy],
  );
  return rows.length > 0;
}
