// The first admin token of a server in a cluster, from a file (a mounted Secret) instead of
// `kubectl exec ... tokens create`: `serve` makes sure a token with the file's hash exists at start.
import type { Db } from '../db.ts';
import { hashToken } from './tokens.ts';
import { uuidv7 } from '../uuidv7.ts';

export const BOOTSTRAP_TOKEN_NAME = 'bootstrap-admin';
// Any replica and any restart may run this at once: one transaction-scoped lock makes "look, then
// insert" atomic, so two starts create one row. A constant key: only this statement takes it.
const BOOTSTRAP_LOCK = 'kubescribe-bootstrap-admin-token';

export type BootstrapOutcome =
  | { status: 'created'; name: string }
  | { status: 'present'; name: string }
  | { status: 'revoked' | 'expired'; name: string };

/**
 * Ensures an admin token with this value exists, named `bootstrap-admin` (or `bootstrap-admin-N` when a
 * previous Secret's token holds that name). A revoked or expired row with this value stays so: an
 * admin's revocation is never undone by a restart. Only the hash is stored; the value is never logged.
 */
export async function ensureBootstrapToken(db: Db, token: string, createdBy = 'KUBESCRIBE_ADMIN_TOKEN_FILE'): Promise<BootstrapOutcome> {
  const hash = hashToken(token);
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1 || ':' || coalesce(current_schema(), '')))`, [BOOTSTRAP_LOCK]);
    const [existing] = await tx.query<{ name: string; revoked: boolean; expired: boolean } & Record<string, unknown>>(
      `SELECT name, revoked_at IS NOT NULL AS revoked, (expires_at IS NOT NULL AND expires_at <= now()) AS expired
       FROM api_tokens WHERE token_hash = $1`,
      [hash],
    );
    if (existing) {
      const status = existing.revoked ? 'revoked' : existing.expired ? 'expired' : 'present';
      return { status, name: existing.name };
    }
    const names = new Set((await tx.query<{ name: string } & Record<string, unknown>>(
      `SELECT name FROM api_tokens WHERE name = $1 OR name LIKE $1 || '-%'`, [BOOTSTRAP_TOKEN_NAME],
    )).map((row) => row.name));
    let name = BOOTSTRAP_TOKEN_NAME;
    for (let i = 2; names.has(name); i++) name = `${BOOTSTRAP_TOKEN_NAME}-${i}`;
    await tx.query(
      `INSERT INTO api_tokens (token_id, name, scope, token_hash, expires_at, created_by) VALUES ($1, $2, 'admin', $3, NULL, $4)`,
      [uuidv7(), name, hash, createdBy],
    );
    return { status: 'created', name };
  });
}
