// Queries of `notification_deliveries` and their `notification_attempts` (migration 0005,
// docs/notifications.md): one message to one channel, and every try to send it.
import type { Queryable } from '../db.ts';
import type { EventKind } from './notification-events.ts';

/** Where a delivery is in its life. */
export type DeliveryState = 'pending' | 'sending' | 'sent' | 'failed' | 'suppressed';

/** When the last message of one of `rules` about the job went (or is going) to the channel; null if never. */
export async function lastNotifiedAt(db: Queryable, job: string, channel: string, rules: readonly string[]): Promise<Date | null> {
  const [row] = await db.query<{ at: Date | null }>(
    `SELECT max(created_at) AS at FROM notification_deliveries
     WHERE job = $1 AND channel = $2 AND rule = ANY (string_to_array($3, ',')) AND state <> 'suppressed'`,
    [job, channel, rules.join(',')],
  );
  return row?.at ?? null;
}

/** A delivery to write when an event is dispatched. */
export interface NewDelivery {
  event_id: string;
  job: string;
  run_id: string | null;
  channel: string;
  rule: string;
  state: 'pending' | 'suppressed' | 'failed';
  reason: string | null;
  summary: string | null;
  next_attempt_at: Date | null;
}

/** Writes one delivery; the (event, channel) pair is unique, so a re-dispatch adds nothing. */
export async function insertDelivery(db: Queryable, delivery: NewDelivery): Promise<void> {
  await db.query(
    `INSERT INTO notification_deliveries (event_id, job, run_id, channel, rule, state, reason, summary, next_attempt_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()))
     ON CONFLICT (event_id, channel) DO NOTHING`,
    [delivery.event_id, delivery.job, delivery.run_id, delivery.channel, delivery.rule, delivery.state,
      delivery.reason, delivery.summary, delivery.next_attempt_at],
  );
}

/** A delivery a sender holds the lease of, with what it needs to build the message. */
export interface ClaimedDelivery {
  delivery_id: string;
  event_id: string;
  job: string;
  run_id: string | null;
  channel: string;
  rule: string;
  summary: string | null;
  /** This attempt's number (1 for the first). */
  attempt: number;
  kind: EventKind;
  scheduled_for: Date | null;
  detail: Record<string, unknown>;
}

/**
 * Takes the lease of up to `limit` due deliveries: pending ones whose time has come, and `sending`
 * ones whose sender's lease ran out (it died mid-send). SKIP LOCKED and the state change in one
 * statement: two senders polling together never get the same delivery.
 */
export async function claimDueDeliveries(db: Queryable, owner: string, leaseMs: number, limit: number): Promise<ClaimedDelivery[]> {
  const rows = await db.query<ClaimedDelivery & Record<string, unknown>>(
    `WITH due AS (
       SELECT delivery_id FROM notification_deliveries
       WHERE state IN ('pending', 'sending') AND next_attempt_at <= now()
         AND (state = 'pending' OR lease_until < now())
       ORDER BY next_attempt_at, created_at, delivery_id LIMIT $3
       FOR UPDATE SKIP LOCKED
     ), claimed AS (
       UPDATE notification_deliveries d
       SET state = 'sending', lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond',
           attempts = d.attempts + 1, updated_at = now()
       FROM due WHERE d.delivery_id = due.delivery_id
       RETURNING d.*
     )
     SELECT c.delivery_id::text AS delivery_id, c.event_id::text AS event_id, c.job, c.run_id::text AS run_id, c.channel,
            c.rule, c.summary, c.attempts AS attempt, e.kind, e.scheduled_for, e.detail
     FROM claimed c JOIN notification_events e ON e.event_id = c.event_id
     ORDER BY c.created_at, c.delivery_id`,
    [owner, leaseMs, limit],
  );
  return rows;
}

/** The result of one attempt, and what becomes of the delivery. */
export interface AttemptResult {
  delivery_id: string;
  owner: string;
  attempt: number;
  started_at: Date;
  finished_at: Date;
  ok: boolean;
  error: string | null;
  /** sent, or pending again at `retry_at`, or failed for good. */
  next: 'sent' | 'retry' | 'failed';
  retry_at?: Date;
}

/**
 * Records an attempt and moves the delivery on, only while this sender still holds it: a sender that
 * outlived its lease (another took the delivery over) records its attempt but changes nothing else.
 */
export async function recordAttempt(db: Queryable, result: AttemptResult): Promise<boolean> {
  const state = result.next === 'sent' ? 'sent' : result.next === 'retry' ? 'pending' : 'failed';
  const [row] = await db.query<{ moved: boolean }>(
    `WITH attempt AS (
       INSERT INTO notification_attempts (delivery_id, attempt, sender, started_at, finished_at, ok, error)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
     ), moved AS (
       UPDATE notification_deliveries
       SET state = $8, lease_owner = NULL, lease_until = NULL, updated_at = now(),
           next_attempt_at = coalesce($9, next_attempt_at),
           sent_at = CASE WHEN $8 = 'sent' THEN $5::timestamptz ELSE sent_at END,
           reason = CASE WHEN $8 = 'failed' THEN $7 ELSE reason END
       WHERE delivery_id = $1 AND state = 'sending' AND lease_owner = $3 AND attempts = $2
       RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM moved) AS moved`,
    [result.delivery_id, result.attempt, result.owner, result.started_at, result.finished_at, result.ok, result.error,
      state, result.retry_at ?? null],
  );
  return Boolean(row?.moved);
}

/** One attempt as the API shows it. */
export interface AttemptView {
  attempt: number;
  sender: string;
  started_at: Date;
  finished_at: Date;
  ok: boolean;
  error: string | null;
}

/** One delivery of a run's notifications, with its attempts. */
export interface RunNotification {
  delivery_id: string;
  channel: string;
  rule: string;
  state: DeliveryState;
  reason: string | null;
  summary: string | null;
  created_at: Date;
  sent_at: Date | null;
  next_attempt_at: Date | null;
  attempts: AttemptView[];
}

/** The deliveries about a run (its outcome, late, abnormal), oldest first, each with its attempts. */
export async function listRunNotifications(db: Queryable, runId: string): Promise<RunNotification[]> {
  const rows = await db.query<RunNotification & Record<string, unknown>>(
    `SELECT d.delivery_id::text AS delivery_id, d.channel, d.rule, d.state, d.reason, d.summary, d.created_at, d.sent_at,
            CASE WHEN d.state IN ('pending', 'sending') THEN d.next_attempt_at END AS next_attempt_at,
            coalesce((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'sender', a.sender, 'started_at', a.started_at,
                                        'finished_at', a.finished_at, 'ok', a.ok, 'error', a.error) ORDER BY a.attempt)
                      FROM notification_attempts a WHERE a.delivery_id = d.delivery_id), '[]'::jsonb) AS attempts
     FROM notification_deliveries d WHERE d.run_id = $1
     ORDER BY d.created_at, d.delivery_id`,
    [runId],
  );
  return rows.map((row) => ({
    ...row,
    attempts: (row.attempts as unknown as Record<string, unknown>[]).map((a) => ({
      attempt: Number(a.attempt),
      sender: String(a.sender),
      started_at: new Date(String(a.started_at)),
      finished_at: new Date(String(a.finished_at)),
      ok: Boolean(a.ok),
      error: (a.error as string | null) ?? null,
    })),
  }));
}
