// The session keys of every server on one RunLog, read from ui_session_keys (migration 0014) and kept
// in memory: the newest seals new sign-ins, any key in the table opens a cookie. A restart or another
// replica reads the same keys, so sign-ins survive both. The table is re-read at most every
// `refreshMs` (a rotation reaches every server within it) and at once when a cookie names a key newer
// than any held (another replica rotated first), at most once a second so forged ids cost nothing.
import type { Db } from '../runlog/db.ts';
import { ensureUiSessionKey, listUiSessionKeys, type UiSessionKeyRow } from '../runlog/sql/ui-session-keys.ts';
import { sealedKeyId, SessionKeys, type SealedSession } from './session.ts';

// A rotation signs people out on every server within this; a re-read is one primary-key scan of a
// table of one row, so a shorter interval would cost nothing much either.
export const KEY_REFRESH_MS = 30_000;
const UNKNOWN_KEY_REREAD_MS = 1_000;

export interface SessionKeyringOptions {
  /** How often the keys are re-read (default KEY_REFRESH_MS). */
  refreshMs?: number;
}

/** The UI session keys of this RunLog, loaded on first use. */
export class SessionKeyring {
  private keys = new Map<number, SessionKeys>();
  private newest: SessionKeys | null = null;
  private loadedAt = -Infinity;
  private unknownRereadAt = -Infinity;
  private loading: Promise<void> | null = null;
  private readonly refreshMs: number;

  constructor(private readonly db: Db, options: SessionKeyringOptions = {}) {
    this.refreshMs = options.refreshMs ?? KEY_REFRESH_MS;
  }

  /** The key new sign-ins are sealed with (creating the RunLog's first key if there is none). */
  async current(): Promise<SessionKeys> {
    await this.fresh(this.refreshMs);
    return this.newest!;
  }

  /** The session a cookie holds and the key that sealed it; null when no key of the RunLog opens it. */
  async unseal(value: string, now: number = Date.now()): Promise<{ session: SealedSession; keys: SessionKeys } | null> {
    const keyId = sealedKeyId(value);
    if (keyId === null) return null;
    await this.fresh(this.refreshMs);
    if (!this.keys.has(keyId) && keyId > this.newest!.keyId && Date.now() - this.unknownRereadAt >= UNKNOWN_KEY_REREAD_MS) {
      this.unknownRereadAt = Date.now();
      await this.fresh(0);
    }
    const keys = this.keys.get(keyId);
    const session = keys?.unseal(value, now) ?? null;
    return keys && session ? { session, keys } : null;
  }

  /** Re-reads the keys when the last read is older than `maxAgeMs`; concurrent callers share one read. */
  private async fresh(maxAgeMs: number): Promise<void> {
    if (this.newest && Date.now() - this.loadedAt < maxAgeMs) return;
    this.loading ??= this.load().finally(() => {
      this.loading = null;
    });
    try {
      await this.loading;
    } catch (error) {
      // Keys read before stay good while the RunLog is away; the request's own queries will say so.
      if (!this.newest) throw error;
    }
  }

  private async load(): Promise<void> {
    let rows = await listUiSessionKeys(this.db);
    if (rows.length === 0) {
      await ensureUiSessionKey(this.db);
      rows = await listUiSessionKeys(this.db);
    }
    const keys = new Map<number, SessionKeys>();
    for (const row of rows) keys.set(row.key_id, this.keys.get(row.key_id) ?? keyOf(row));
    this.keys = keys;
    this.newest = keys.get(rows[0]!.key_id)!;
    this.loadedAt = Date.now();
  }
}

function keyOf(row: UiSessionKeyRow): SessionKeys {
  return new SessionKeys(row.key_id, Buffer.from(row.secret, 'base64url'));
}
