// Module-level caches of the trigger service, one set per database: the batching inserter of Allow
// triggers and the job definitions already recorded. Kept apart so the trigger logic holds no state.
import { jobDefinitionHash, type JobDefinition } from '../config/job-definition.ts';
import type { Db } from '../runlog/db.ts';
import { syncJobDefinition } from '../runlog/sql/jobs.ts';
import { insertRunsIsolated, type RunInsert } from '../runlog/sql/run-writes.ts';
import { jobSyncOf } from '../runlog/sync-jobs.ts';
import type { RunRecord } from '../runlog/types.ts';
import { Coalescer } from '../util/coalescer.ts';

const inserters = new WeakMap<Db, Coalescer<RunInsert, RunRecord | null>>();

// Triggers of Allow jobs need no lock, only an insert, so concurrent ones are written together: one
// statement and one commit for the batch (see Coalescer).
/** The batching inserter of `db`'s Allow triggers. */
export function allowInserts(db: Db): Coalescer<RunInsert, RunRecord | null> {
  let coalescer = inserters.get(db);
  if (!coalescer) {
    coalescer = new Coalescer<RunInsert, RunRecord | null>((entries) => insertRunsIsolated(db, entries), { maxInFlight: 1, maxBatch: 64 });
    inserters.set(db, coalescer);
  }
  return coalescer;
}

// Syncing costs a transaction that locks the job's row; once per definition per database is enough,
// because a revision, once recorded, is never removed.
const syncedHashes = new WeakMap<Db, Map<string, string>>();
const definitionHashes = new WeakMap<JobDefinition, string>();

/** Records the job's definition (a new revision if it changed) once per definition per database; its content hash. */
export async function ensureJobSynced(db: Db, source: string | null, definition: JobDefinition): Promise<string> {
  let hash = definitionHashes.get(definition);
  if (!hash) {
    hash = jobDefinitionHash(definition);
    definitionHashes.set(definition, hash);
  }
  let synced = syncedHashes.get(db);
  if (!synced) syncedHashes.set(db, (synced = new Map()));
  if (synced.get(definition.name) !== hash) {
    await syncJobDefinition(db, jobSyncOf(definition, source));
    synced.set(definition.name, hash);
  }
  return hash;
}
