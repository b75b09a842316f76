import type { Queryable } from '../db.ts';
import { jsonb } from '../db.ts';
import { uuidv7 } from '../uuidv7.ts';

/** Appends one event to a job's audit trail (`job_events`); the job must exist in `jobs`. */
export async function insertJobEvent(
  db: Queryable,
  event: { job: string; type: string; actor: string | null; detail: Record<string, unknown> },
): Promise<void> {
  await db.query(
    'INSERT INTO job_events (event_id, job, type, actor, detail) VALUES ($1, $2, $3, $4, $5::jsonb)',
    [uuidv7(), event.job, event.type, event.actor, jsonb(event.detail)],
  );
}
