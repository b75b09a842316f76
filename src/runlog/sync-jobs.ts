import { jobDefinitionHash, type JobDefinition, type KubescribeConfig } from '../config/job-definition.ts';
import type { Db } from './db.ts';
import { markRemovedJobs, syncJobDefinition, type JobSync } from './sql/jobs.ts';

/** What the RunLog stores of a job definition. */
export function jobSyncOf(definition: JobDefinition, source: string | null): JobSync {
  return {
    name: definition.name,
    description: definition.description ?? null,
    tenant: definition.tenant ?? null,
    labels: definition.labels,
    definition,
    content_hash: jobDefinitionHash(definition),
    source,
  };
}

/**
 * Records every job of a config file in the RunLog — a new numbered revision for each changed
 * definition — and marks the jobs that left the file as removed (their history stays).
 */
export async function syncJobs(db: Db, config: KubescribeConfig): Promise<{ name: string; revision: number }[]> {
  const synced: { name: string; revision: number }[] = [];
  for (const definition of config.jobs.values()) {
    const revision = await syncJobDefinition(db, jobSyncOf(definition, config.file));
    synced.push({ name: definition.name, revision });
  }
  await markRemovedJobs(db, [...config.jobs.keys()]);
  return synced;
}
