import type { Db, Queryable } from '../db.ts';
import { uuidv7 } from '../uuidv7.ts';
import { jsonb } from '../db.ts';
import { TERMINAL_STATUSES } from '../types.ts';

export interface JobSync {
  name: string;
  description: string | null;
  tenant: string | null;
  labels: Record<string, string>;
  definition: unknown;
  content_hash: string;
  source: string | null;
}

/**
 * Records a job definition: creates the job, and a new numbered revision when the definition's
 * hash differs from the current one. Returns the revision the definition now has. Idempotent.
 */
export async function syncJobDefinition(db: Db, job: JobSync): Promise<number> {
  return db.transaction(async (tx) => {
    // The upsert takes the job's row lock, so concurrent syncs of one job queue up here. The read
    // must be a separate statement: under READ COMMITTED only a new statement's snapshot sees the
    // revision that the sync we waited for has just committed.
    await tx.query(
      `INSERT INTO jobs (name, description, tenant, labels, declared) VALUES ($1, $2, $3, $4::jsonb, true)
       ON CONFLICT (name) DO UPDATE SET declared = true, removed_at = NULL`,
      [job.name, job.description, job.tenant, jsonb(job.labels)],
    );
    const [current] = await tx.query<{ current_revision: number | null; content_hash: string | null }>(
      `SELECT j.current_revision, r.content_hash
       FROM jobs j LEFT JOIN job_revisions r ON r.job = j.name AND r.revision = j.current_revision
       WHERE j.name = $1`,
      [job.name],
    );
    if (current?.current_revision && current.content_hash === job.content_hash) return current.current_revision;
    const [inserted] = await tx.query<{ revision: number }>(
      `INSERT INTO job_revisions (job, revision, definition, content_hash, source)
       SELECT $1, COALESCE(max(revision), 0) + 1, $2::jsonb, $3, $4 FROM job_revisions WHERE job = $1
       RETURNING revision`,
      [job.name, jsonb(job.definition), job.content_hash, job.source],
    );
    await tx.query(
      `UPDATE jobs SET current_revision = $2, description = $3, tenant = $4, labels = $5::jsonb, updated_at = now()
       WHERE name = $1`,
      [job.name, inserted!.revision, job.description, job.tenant, jsonb(job.labels)],
    );
    return inserted!.revision;
  });
}

/** Makes sure a job row exists for a run of a job that has no definition in the config. */
export async function ensureUndeclaredJob(db: Queryable, name: string): Promise<void> {
  await db.query('INSERT INTO jobs (name, declared) VALUES ($1, false) ON CONFLICT (name) DO NOTHING', [name]);
}

/** Marks jobs that are no longer in the config as removed; their history stays. */
export async function markRemovedJobs(db: Queryable, declared: string[]): Promise<void> {
  await db.query(
    `UPDATE jobs SET removed_at = now() WHERE declared AND removed_at IS NULL
       AND NOT (name = ANY (string_to_array($1, E'\\x1f')))`,
    [declared.join('\x1f')],
  );
}

export interface JobRow {
  name: string;
  description: string | null;
  declared: boolean;
  current_revision: number | null;
  suspended: boolean;
  removed_at: Date | null;
}

/** Lists jobs known to the RunLog. */
export async function listJobs(db: Queryable): Promise<JobRow[]> {
  return db.query<JobRow & Record<string, unknown>>(
    'SELECT name, description, declared, current_revision, suspended, removed_at FROM jobs ORDER BY name',
  );
}

/** A job row with its newest run and the status of its newest finished run (for health). */
export interface JobOverviewRow extends JobRow {
  last_run_id: string | null;
  last_status: string | null;
  last_created_at: Date | null;
  last_finished_at: Date | null;
  last_finished_status: string | null;
}

/** Lists jobs (or the one named) with their newest run and newest finished run, by name. */
export async function listJobOverviews(db: Queryable, name: string | null = null): Promise<JobOverviewRow[]> {
  // LATERAL + LIMIT 1 walks runs_job_created_idx per job instead of scanning every run.
  return db.query<JobOverviewRow & Record<string, unknown>>(
    `SELECT j.name, j.description, j.declared, j.current_revision, j.suspended, j.removed_at,
            l.run_id AS last_run_id, l.status AS last_status, l.created_at AS last_created_at, l.finished_at AS last_finished_at,
            f.status AS last_finished_status
     FROM jobs j
     LEFT JOIN LATERAL (
       SELECT run_id::text AS run_id, status, created_at, finished_at FROM runs
       WHERE job = j.name ORDER BY created_at DESC, run_id DESC LIMIT 1
     ) l ON true
     LEFT JOIN LATERAL (
       SELECT status FROM runs
       WHERE job = j.name AND status = ANY ($2::text[])
       ORDER BY created_at DESC, run_id DESC LIMIT 1
     ) f ON true
     WHERE $1::text IS NULL OR j.name = $1
     ORDER BY j.name`,
    [name, TERMINAL_STATUSES],
  );
}

export interface JobRevisionRow {
  revision: number;
  content_hash: string;
  created_at: Date;
}

/** A job's revisions, newest first. */
export async function listJobRevisions(db: Queryable, name: string): Promise<JobRevisionRow[]> {
  return db.query<JobRevisionRow & Record<string, unknown>>(
    'SELECT revision, content_hash, created_at FROM job_revisions WHERE job = $1 ORDER BY revision DESC',
    [name],
  );
}

/** The stored definition of one revision of a job, or null. */
export async function getJobRevisionDefinition(db: Queryable, name: string, revision: number): Promise<Record<string, unknown> | null> {
  const [row] = await db.query<{ definition: Record<string, unknown> }>(
    'SELECT definition FROM job_revisions WHERE job = $1 AND revision = $2',
    [name, revision],
  );
  return row?.definition ?? null;
}

/** Sets a job's `suspended` flag; `found` is false for an unknown job, `changed` false when it already had that value. */
export async function setJobSuspended(
  db: Queryable,
  name: string,
  suspended: boolean,
  audit: { actor: string | null; reason: string | null } = { actor: null, reason: null },
): Promise<{ found: boolean; changed: boolean }> {
  // The change and its job event are one statement: a suspension never goes unrecorded.
  const [row] = await db.query<{ found: boolean; changed: boolean }>(
    `WITH prev AS (
       SELECT name, suspended FROM jobs WHERE name = $1 FOR UPDATE
     ), upd AS (
       UPDATE jobs j SET suspended = $2, updated_at = now() FROM prev WHERE j.name = prev.name AND prev.suspended IS DISTINCT FROM $2
       RETURNING j.name
     ), ev AS (
       INSERT INTO job_events (event_id, job, type, actor, detail)
       SELECT $3, upd.name, CASE WHEN $2 THEN 'suspended' ELSE 'resumed' END, $4, jsonb_build_object('reason', $5::text)
       FROM upd
       RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM prev) AS found, EXISTS (SELECT 1 FROM upd) AS changed`,
    [name, suspended, uuidv7(), audit.actor, audit.reason],
  );
  return { found: row?.found ?? false, changed: row?.changed ?? false };
}
