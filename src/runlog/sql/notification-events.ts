// Queries of the notification outbox, `notification_events` (migration 0005, docs/notifications.md):
// what happened that a rule may notify about, written by run transitions and the monitors, claimed by
// the dispatcher.
import type { Queryable } from '../db.ts';
import { jsonb } from '../db.ts';
import { NOTIFIED_STATUSES, STARTED_STATUSES } from '../types.ts';

/** What a notification event is about: a run outcome, or a monitor's finding. */
export type EventKind = 'succeeded' | 'failed' | 'timed_out' | 'lost' | 'missed' | 'late' | 'abnormal';

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
     WHERE r.status = ANY ($2::text[]) AND r.started_at IS NOT NULL
       AND r.started_at < now() - x.expected_ms * interval '1 millisecond'
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING event_id::text AS event_id`,
    [jsonb(jobs), STARTED_STATUSES],
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
     WHERE r.status = ANY ($2::text[])
       AND r.created_at > now() - $1 * interval '1 millisecond'
       AND coalesce(r.finished_at, r.created_at) > (SELECT applied_at FROM kubescribe_migrations WHERE version = 5)
       AND NOT EXISTS (SELECT 1 FROM notification_events e WHERE e.dedupe_key = 'run:' || r.run_id::text)
     ORDER BY coalesce(r.finished_at, r.created_at)
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING event_id::text AS event_id`,
    [lookbackMs, NOTIFIED_STATUSES],
  );
  return rows.map((row) => row.event_id);
}
