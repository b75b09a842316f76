// Run tokens: the credential a runner presents to the API's runner endpoints when it holds no
// DATABASE_URL and no platform identity (Kubernetes' TokenReview) is used. Bound to one run, or to
// one job (create and write runs of that job). Stored as a SHA-256 only, like API tokens.
import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db.ts';
import { TERMINAL_STATUSES } from '../types.ts';
import { uuidv7 } from '../uuidv7.ts';
import { hashToken } from './tokens.ts';

/** The prefix of a run token: distinct from API tokens' `ksk_`, so scanners and log redaction know it. */
export const RUN_TOKEN_PREFIX = 'ksr_';

// A run's credential keeps working this long after the run ended: a runner whose last answer was lost
// replays its final records idempotently (and the server flushes its spool) within it.
export const RUN_TOKEN_AFTER_END_MS = 5 * 60_000;

export interface RunnerCredentialRow {
  credential_id: string;
  run_id: string | null;
  job: string | null;
  created_at: Date;
  created_by: string | null;
  expires_at: Date;
}

/** Mints a run token for one run (`run_id`) or one job (`job`); returns it in clear, once. */
export async function createRunnerCredential(
  db: Queryable,
  input: { run_id: string; job?: null; expires_at: Date; created_by: string | null } | { run_id?: null; job: string; expires_at: Date; created_by: string | null },
): Promise<{ token: string; row: RunnerCredentialRow }> {
  const token = RUN_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const [row] = await db.query<RunnerCredentialRow & Record<string, unknown>>(
    `INSERT INTO runner_credentials (credential_id, token_hash, run_id, job, expires_at, created_by)
     VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING credential_id::text AS credential_id, run_id::text AS run_id, job, created_at, created_by, expires_at`,
    [uuidv7(), hashToken(token), input.run_id ?? null, input.job ?? null, input.expires_at, input.created_by],
  );
  return { token, row: row! };
}

/**
 * The live credential with this value, or null: not expired, and, for a run's credential, its run not
 * ended more than RUN_TOKEN_AFTER_END_MS ago (a run not written yet, or still going, is fine).
 */
export async function findLiveRunnerCredential(db: Queryable, token: string, now: Date = new Date()): Promise<RunnerCredentialRow | null> {
  const [row] = await db.query<RunnerCredentialRow & Record<string, unknown>>(
    `SELECT c.credential_id::text AS credential_id, c.run_id::text AS run_id, c.job, c.created_at, c.created_by, c.expires_at
     FROM runner_credentials c LEFT JOIN runs r ON r.run_id = c.run_id
     WHERE c.token_hash = $1 AND c.expires_at > $2
       AND (r.run_id IS NULL OR NOT (r.status = ANY ($3::text[]))
            OR COALESCE(r.finished_at, r.heartbeat_at, r.created_at) > $2::timestamptz - $4 * interval '1 millisecond')`,
    [hashToken(token), now, TERMINAL_STATUSES, RUN_TOKEN_AFTER_END_MS],
  );
  return row ?? null;
}

/** Deletes credentials expired before `before` (housekeeping; an expired one is refused anyway). */
export async function deleteExpiredRunnerCredentials(db: Queryable, before: Date): Promise<number> {
  const rows = await db.query('DELETE FROM runner_credentials WHERE expires_at < $1 RETURNING 1', [before]);
  return rows.length;
}
