// Queries of the notification outbox (notification_events), its deliveries and their attempts
// (migration 0005, docs/notifications.md).
import type { Queryable } from '../db.ts';
import { jsonb } from '../db.ts';

/** What a notification event is about: a run outcome, or a monitor's finding. */
export type EventKind = 'succeeded' | 'failed' | 'timed_out' | 'lost' | 'missed' | 'late' | 'abnormal';
export type DeliveryState = 'pending' | 'sending' | 'sent' | 'failed' | 'suppressed';

/** One row of `notification_events`. */
export interface NotificationEvent {
  event_id: string;
  kind: EventKind;
  job: string;
  run_id: string | null;
  scheduled_for: Date | null;
  detail: Record<string, unknown>;
  created_at: Date;
}

const EVENT_COLUMNS = `event_id::text AS event_id, kind, job, run_id::text AS run_id, scheduled_for, detail, created_at`;

/**
 * Locks up to `limit` undispatched events for the caller's transaction. SKIP LOCKED: another process
 * dispatching at the same moment takes the next ones instead of waiting, and never the same ones.
 */
export async function claimPendingEvents(tx: Queryable, limit: number): Promise<NotificationEvent[]> {
  return tx.query<NotificationEvent & Record<string, unknown>>(
    `SELECT ${EVENT_COLUMNS} FROM notification_events
     WHERE dispatched_at IS NULL ORDER BY created_at, event_id LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
  );
}

/** Records that an event's rules were applied, and what they decided. */
export async function markEventDispatched(tx: Queryable, eventId: string, outcome: Record<string, unknown>): Promise<void> {
  await tx.query('UPDATE notification_events SET dispatched_at = now(), outcome = $2::jsonb WHERE event_id = $1', [eventId, jsonb(outcome)]);
}

/** A finding of a monitor; a second call with the same dedupe_key writes nothing and returns null. */
export interface NewNotificationEvent {
  kind: EventKind;
  job: string;
  run_id?: string | null;
  scheduled_for?: Date | null;
  dedupe_key: string;
  detail?: Record<string, unknown>;
}

/** Inserts an event unless its dedupe_key is taken; returns its id, or null for a duplicate. */
export async function insertNotificationEvent(db: Queryable, event: NewNotificationEvent): Promise<string | null> {
  const [row] = await db.query<{ event_id: string }>(
    `INSERT INTO notification_events (kind, job, run_id, scheduled_for, dedupe_key, detail)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (dedupe_key) DO NOTHING RETURNING event_id::text AS event_id`,
    [event.kind, event.job, event.run_id ?? null, event.scheduled_for ?? null, event.dedupe_key, jsonb(event.detail ?? {})],
  );
  return row?.event_id ?? null;
}

/**
 * The status of the job's last finished run before this one (cancelled runs do not count: someone
 * chose them), or null when it has none. Ordered by when they finished, as a person reads a history.
 */
export async function previousOutcome(db: Queryable, job: string, runId: string): Promise<string | null> {
  const [row] = await db.query<{ status: string }>(
    `SELECT p.status FROM runs r JOIN runs p ON p.job = r.job
     WHERE r.run_id = $2 AND p.job = $1 AND p.run_id <> r.run_id
       AND p.status IN ('succeeded', 'failed', 'timed_out', 'lost')
       AND (coalesce(p.finished_at, p.created_at), p.run_id) < (coalesce(r.finished_at, r.created_at), r.run_id)
     ORDER BY coalesce(p.finished_at, p.created_at) DESC, p.run_id DESC LIMIT 1`,
    [job, runId],
  );
  return row?.status ?? null;
}

/** When the last message of one of `rules` about the job went (or is going) to the channel; null if never. */
export async function lastNotifiedAt(db: Queryable, job: string, channel: string, rules: readonly string[]): Promise<Date | null> {
  const [row] = await db.query<{ at: Date | null }>(
    `SELECT max(created_at) AS at FROM notification_deliveries
     WHERE job = $1 AND channel = $2 AND rule = ANY (string_to_array($3, ',')) AND state <> 'suppressed'`,
    [job, channel, rules.join(',')],
  );
  return row?.at ?? null;
}

/**
 * How many events of `kinds` the job had after `since` (all when null) up to event `untilEventId`
 * included, and the first one's time. Bounds by event, in SQL: a JS Date drops the microseconds.
 */
export async function countEventsSince(
  db: Queryable,
  job: string,
  kinds: readonly string[],
  since: Date | null,
  untilEventId: string,
): Promise<{ count: number; first: Date | null }> {
  const [row] = await db.query<{ count: number; first: Date | null }>(
    `SELECT count(*)::int AS count, min(created_at) AS first FROM notification_events
     WHERE job = $1 AND kind = ANY (string_to_array($2, ','))
       AND created_at <= (SELECT created_at FROM notification_events WHERE event_id = $4)
       AND ($3::timestamptz IS NULL OR created_at > $3)`,
    [job, kinds.join(','), since, untilEventId],
  );
  return { count: Number(row?.count ?? 0), first: row?.first ?? null };
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

/** Durations and metrics of the job's last `limit` successful runs that finished before `before`, excluding `runId`. */
export async function recentSuccesses(
  db: Queryable,
  job: string,
  runId: string,
  before: Date,
  limit: number,
): Promise<{ duration_ms: number | null; metrics: Record<string, unknown> }[]> {
  const rows = await db.query<{ duration_ms: number | null; metrics: Record<string, unknown> }>(
    `SELECT (extract(epoch FROM finished_at - started_at) * 1000)::float8 AS duration_ms, metrics
     FROM runs
     WHERE job = $1 AND status = 'succeeded' AND run_id <> $2 AND finished_at <= $3
     ORDER BY finished_at DESC, run_id DESC LIMIT $4`,
    [job, runId, before, limit],
  );
  return rows.map((row) => ({ duration_ms: row.duration_ms === null ? null : Number(row.duration_ms), metrics: row.metrics ?? {} }));
}

/**
 * Writes a `late` event for each live run of the given jobs that has been running longer than its
 * job's expected duration; the dedupe key makes it once per run. Returns the new event ids.
 */
export async function insertLateEvents(db: Queryable, jobs: readonly { name: string; expected_ms: number }[]): Promise<string[]> {
  if (jobs.length === 0) return [];
  const rows = await db.query<{ event_id: string }>(
    `INSERT INTO notification_events (kind, job, run_id, dedupe_key, detail)
     SELECT 'late', r.job, r.run_id, 'late:' || r.run_id::text,
            jsonb_build_object('expected_duration_ms', x.expected_ms,
                               'running_ms', (extract(epoch FROM now() - r.started_at) * 1000)::bigint)
     FROM jsonb_to_recordset($1::jsonb) AS x(name text, expected_ms bigint)
     JOIN runs r ON r.job = x.name
     WHERE r.status IN ('starting', 'running') AND r.started_at IS NOT NULL
       AND r.started_at < now() - x.expected_ms * interval '1 millisecond'
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING event_id::text AS event_id`,
    [jsonb(jobs)],
  );
  return rows.map((row) => row.event_id);
}

/**
 * Writes a `missed` event for each slot of the ledger marked missed in the last `lookbackMs` (by its
 * scheduled time), whoever marked it. Once per slot. Returns the new event ids.
 */
export async function insertMissedEvents(db: Queryable, lookbackMs: number): Promise<string[]> {
  const rows = await db.query<{ event_id: string }>(
    `INSERT INTO notification_events (kind, job, scheduled_for, dedupe_key, detail)
     SELECT 'missed', s.job, s.scheduled_for,
            'missed:' || s.job || ':' || (extract(epoch FROM s.scheduled_for) * 1000)::bigint::text,
            jsonb_build_object('reason', s.reason)
     FROM schedule_slots s
     WHERE s.state = 'missed' AND s.scheduled_for > now() - $1 * interval '1 millisecond'
     ORDER BY s.scheduled_for
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING event_id::text AS event_id`,
    [lookbackMs],
  );
  return rows.map((row) => row.event_id);
}

/** The last `lines` lines of a run's stored output (from its last 64 chunks). */
export async function readLogTail(db: Queryable, runId: string, lines: number): Promise<string[]> {
  const rows = await db.query<{ text: string }>(
    'SELECT text FROM run_logs WHERE run_id = $1 AND stream <> $2 ORDER BY seq DESC LIMIT 64',
    [runId, 'system'],
  );
  const text = rows.reverse().map((row) => row.text).join('');
  return text.replace(/\n+$/, '').split('\n').slice(-lines).filter((line, i, all) => all.length > 1 || line !== '');
}

/** When the job's last event of `kinds` written before event `beforeEventId` was; null if none. */
export async function lastEventAt(db: Queryable, job: string, kinds: readonly string[], beforeEventId: string): Promise<Date | null> {
  const [row] = await db.query<{ at: Date | null }>(
    `SELECT max(created_at) AS at FROM notification_events
     WHERE job = $1 AND kind = ANY (string_to_array($2, ','))
       AND created_at < (SELECT created_at FROM notification_events WHERE event_id = $3)`,
    [job, kinds.join(','), beforeEventId],
  );
  return row?.at ?? null;
}

/** Serialises the dispatch of one job's events across processes until the transaction ends. */
export async function lockJobNotifications(tx: Queryable, job: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext('kubescribe-notify:' || coalesce(current_schema(), '') || ':' || $1))`, [job]);
}

/**
 * Writes the outcome event of each run that finished within `lookbackMs` (and after migration 5, so an
 * upgrade does not replay history) but has none: the trigger's insert failed and left a warning.
 * Returns the new event ids.
 */
export async function insertUnrecordedOutcomes(db: Queryable, lookbackMs: number): Promise<string[]> {
  const rows = await db.query<{ event_id: string }>(
    `INSERT INTO notification_events (kind, job, run_id, dedupe_key)
     SELECT r.status, r.job, r.run_id, 'run:' || r.run_id::text
     FROM runs r
     WHERE r.status IN ('succeeded', 'failed', 'timed_out', 'lost')
       AND r.created_at > now() - $1 * interval '1 millisecond'
       AND coalesce(r.finished_at, r.created_at) > (SELECT applied_at FROM kubescribe_migrations WHERE version = 5)
       AND NOT EXISTS (SELECT 1 FROM notification_events e WHERE e.dedupe_key = 'run:' || r.run_id::text)
     ORDER BY coalesce(r.finished_at, r.created_at)
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING event_id::text AS event_id`,
    [lookbackMs],
  );
  return rows.map((row) => row.event_id);
}
