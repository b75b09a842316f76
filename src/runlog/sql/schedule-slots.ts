import type { Queryable } from '../db.ts';
import { jsonb } from '../db.ts';

/** The states of a slot: `expected` (claimed, not yet fired) → `started` | `skipped` | `missed`. */
export const SLOT_STATES = ['expected', 'started', 'skipped', 'missed'] as const;
export type SlotState = (typeof SLOT_STATES)[number];

/** One row of `schedule_slots`. */
export interface ScheduleSlot {
  job: string;
  scheduled_for: Date;
  state: SlotState;
  run_id: string | null;
  reason: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A slot to record; only the first writer of a (job, scheduled_for) succeeds. */
export interface NewSlot {
  job: string;
  scheduled_for: Date;
  state: SlotState;
  reason: string | null;
}

/** The schedule a job has in the config now, to match against its recorded revisions. */
export interface ScheduleSpec {
  name: string;
  schedule: string;
  time_zone: string;
}

/** Where a job's schedule stands in the RunLog. */
export interface ScheduleCursor {
  job: string;
  suspended: boolean;
  /** The latest slot recorded for the job, whatever its state; null before its first one. */
  last_slot: Date | null;
  /**
   * When the job's revisions started to carry this schedule and zone: the creation time of the first
   * revision since the last one with a different schedule. Null when no recorded revision has it
   * (a config that was not synced).
   */
  schedule_since: Date | null;
}

/** Reads suspension, last slot and schedule start of each job; jobs with no row in `jobs` are left out. */
export async function loadScheduleCursors(db: Queryable, specs: readonly ScheduleSpec[]): Promise<ScheduleCursor[]> {
  if (specs.length === 0) return [];
  return db.query<ScheduleCursor & Record<string, unknown>>(
    `SELECT x.name AS job, j.suspended,
            (SELECT max(s.scheduled_for) FROM schedule_slots s WHERE s.job = x.name) AS last_slot,
            (SELECT min(r.created_at) FROM job_revisions r
              WHERE r.job = x.name
                AND r.revision > COALESCE((
                  SELECT max(p.revision) FROM job_revisions p
                  WHERE p.job = x.name
                    AND (p.definition->>'schedule' IS DISTINCT FROM x.schedule
                         OR p.definition->>'time_zone' IS DISTINCT FROM x.time_zone)), 0)) AS schedule_since
     FROM jsonb_to_recordset($1::jsonb) AS x(name text, schedule text, time_zone text)
     JOIN jobs j ON j.name = x.name`,
    [jsonb(specs)],
  );
}

/** Inserts slots in one statement; returns those this call wrote (a slot already recorded is left as it is). */
export async function insertSlots(db: Queryable, slots: readonly NewSlot[]): Promise<{ job: string; scheduled_for: Date }[]> {
  if (slots.length === 0) return [];
  return db.query<{ job: string; scheduled_for: Date }>(
    `INSERT INTO schedule_slots (job, scheduled_for, state, reason)
     SELECT x.job, x.scheduled_for, x.state, x.reason
     FROM jsonb_to_recordset($1::jsonb) AS x(job text, scheduled_for timestamptz, state text, reason text)
     ON CONFLICT (job, scheduled_for) DO NOTHING
     RETURNING job, scheduled_for`,
    [jsonb(slots)],
  );
}

/**
 * Records the run a claimed slot started. A slot the orphan sweep gave up on (`missed`, no run) still
 * takes it: the run exists, and the ledger must say so.
 */
export async function markSlotStarted(db: Queryable, job: string, scheduledFor: Date, runId: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE schedule_slots SET state = 'started', run_id = $3, updated_at = now()
     WHERE job = $1 AND scheduled_for = $2 AND run_id IS NULL AND state IN ('expected', 'missed')
     RETURNING 1`,
    [job, scheduledFor, runId],
  );
  return rows.length > 0;
}

/**
 * Records a slot that a Kubernetes CronJob fired (no scheduler claimed it) as `started` by this run;
 * a slot already linked to a run keeps it.
 */
export async function recordStartedSlot(db: Queryable, job: string, scheduledFor: Date, runId: string): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO schedule_slots (job, scheduled_for, state, run_id, reason) VALUES ($1, $2, 'started', $3, 'fired by the CronJob')
     ON CONFLICT (job, scheduled_for) DO UPDATE SET state = 'started', run_id = EXCLUDED.run_id, updated_at = now()
       WHERE schedule_slots.run_id IS NULL
     RETURNING 1`,
    [job, scheduledFor, runId],
  );
  return rows.length > 0;
}

/** Moves a claimed (`expected`) slot to `skipped` with the reason. */
export async function markSlotSkipped(db: Queryable, job: string, scheduledFor: Date, reason: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE schedule_slots SET state = 'skipped', reason = $3, updated_at = now()
     WHERE job = $1 AND scheduled_for = $2 AND state = 'expected'
     RETURNING 1`,
    [job, scheduledFor, reason],
  );
  return rows.length > 0;
}

/**
 * Marks `missed` the slots left `expected` for longer than `olderThanMs` (by the database's clock):
 * claimed by a scheduler that stopped or lost the database before it could record a run.
 */
export async function expireClaimedSlots(
  db: Queryable,
  olderThanMs: number,
  reason: string,
): Promise<{ job: string; scheduled_for: Date }[]> {
  return db.query<{ job: string; scheduled_for: Date }>(
    `UPDATE schedule_slots SET state = 'missed', reason = $2, updated_at = now()
     WHERE state = 'expected' AND updated_at < now() - $1 * interval '1 millisecond'
     RETURNING job, scheduled_for`,
    [olderThanMs, reason],
  );
}

/** Filters for listing slots; all optional. */
export interface SlotFilter {
  job?: string;
  state?: SlotState;
  /** Slots scheduled at or after this time. */
  since?: Date;
  /** Slots scheduled before this time. */
  until?: Date;
  limit?: number;
}

/** Lists slots newest first (default limit 100). */
export async function listSlots(db: Queryable, filter: SlotFilter = {}): Promise<ScheduleSlot[]> {
  return db.query<ScheduleSlot & Record<string, unknown>>(
    `SELECT job, scheduled_for, state, run_id::text AS run_id, reason, created_at, updated_at
     FROM schedule_slots
     WHERE ($1::text IS NULL OR job = $1) AND ($2::text IS NULL OR state = $2)
       AND ($3::timestamptz IS NULL OR scheduled_for >= $3) AND ($4::timestamptz IS NULL OR scheduled_for < $4)
     ORDER BY scheduled_for DESC, job
     LIMIT $5`,
    [filter.job ?? null, filter.state ?? null, filter.since ?? null, filter.until ?? null, filter.limit ?? 100],
  );
}

/** A slot as a strip of a job's recent schedule shows it: the outcome migration 10's view judges, and its run. */
export interface SlotOutcome {
  job: string;
  scheduled_for: Date;
  /** on_time, late, missed, skipped or pending (view `schedule_slot_outcomes`). */
  outcome: string;
  run_id: string | null;
  run_number: number | null;
  run_status: string | null;
}

/** The newest `limit` slots of each job, newest first, with their outcome and run (one statement for all jobs). */
export async function recentSlotOutcomes(db: Queryable, jobs: readonly string[], limit: number): Promise<SlotOutcome[]> {
  if (jobs.length === 0) return [];
  // LATERAL with LIMIT per job: a per-second schedule has millions of slots, and this reads only the newest.
  return db.query<SlotOutcome & Record<string, unknown>>(
    `SELECT o.job, o.scheduled_for, o.outcome, o.run_id::text AS run_id, r.run_number, r.status AS run_status
     FROM (SELECT DISTINCT name FROM jsonb_array_elements_text($1::jsonb) AS j(name)) AS j
     CROSS JOIN LATERAL (
       SELECT * FROM schedule_slot_outcomes s WHERE s.job = j.name ORDER BY s.scheduled_for DESC LIMIT $2
     ) AS o
     LEFT JOIN runs r ON r.run_id = o.run_id
     ORDER BY o.job, o.scheduled_for DESC`,
    [JSON.stringify(jobs), limit],
  );
}
