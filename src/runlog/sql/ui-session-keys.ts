// The admin UI's session keys (migration 0014): the secrets every server of one RunLog seals sign-in
// cookies with, so that a restart or another replica accepts them. The newest key seals; every key in
// the table unseals; rotating leaves only a new one (docs/ui.md, "The session cookie").
import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db.ts';

export interface UiSessionKeyRow {
  key_id: number;
  /** 32 random bytes, base64url. */
  secret: string;
  created_at: Date;
}

/** A new random key secret (32 bytes, base64url). */
export function newUiSessionSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Every key, newest first. */
export async function listUiSessionKeys(db: Queryable): Promise<UiSessionKeyRow[]> {
  return db.query<UiSessionKeyRow & Record<string, unknown>>(
    'SELECT key_id, secret, created_at FROM ui_session_keys ORDER BY key_id DESC',
  );
}

/**
 * Inserts a first key when the table is empty. Servers starting together may all try: the primary
 * key makes one insert win and the others do nothing, so they all read the same key afterwards.
 */
export async function ensureUiSessionKey(db: Queryable, secret: string = newUiSessionSecret()): Promise<void> {
  await db.query(
    `INSERT INTO ui_session_keys (key_id, secret)
     SELECT 1, $1 WHERE NOT EXISTS (SELECT 1 FROM ui_session_keys)
     ON CONFLICT (key_id) DO NOTHING`,
    [secret],
  );
}

/**
 * Replaces every key with a new one and returns its id: every UI sign-in sealed before ends (servers
 * notice within their refresh interval). Two rotations at once leave one new key, not an error.
 */
export async function rotateUiSessionKey(db: Queryable, secret: string = newUiSessionSecret()): Promise<number> {
  // One statement: the DELETE sees the table as it was before the INSERT, so only older keys go.
  await db.query(
    `WITH fresh AS (
       INSERT INTO ui_session_keys (key_id, secret)
       SELECT coalesce(max(key_id), 0) + 1, $1 FROM ui_session_keys
       ON CONFLICT (key_id) DO NOTHING
       RETURNING key_id
     )
     DELETE FROM ui_session_keys WHERE key_id < (SELECT key_id FROM fresh)`,
    [secret],
  );
  const [newest] = await listUiSessionKeys(db);
  return newest!.key_id;
}
