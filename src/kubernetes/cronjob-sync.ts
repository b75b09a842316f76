// Schedules → CronJobs: one batch/v1 CronJob per scheduled job, created or updated to match the
// config, suspended as the RunLog says, and deleted only when KubeScribe owns it (its managed-by
// label) and its job lost its schedule or left the config. A CronJob of the same name that KubeScribe
// does not own is reported and never touched.
import type { V1CronJob } from '@kubernetes/client-node';
import type { KubescribeConfig } from '../config/job-definition.ts';
import type { KubernetesSettings } from '../config/kubernetes-config.ts';
import type { Db } from '../runlog/db.ts';
import { listJobs } from '../runlog/sql/jobs.ts';
import { syncJobs } from '../runlog/sync-jobs.ts';
import { KubeApiError, type KubeClient } from './client.ts';
import { cronJobManifest, JOB_LABEL, ManifestError, MANAGED_BY, MANAGED_BY_LABEL } from './manifests.ts';
import { MANAGED_SELECTOR } from './watcher.ts';

/** What a sync did, per CronJob name. */
export interface CronJobSyncResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  deleted: string[];
  /** Jobs whose CronJob could not be written, with the reason (403, 422, not ours...). */
  errors: { job: string; message: string }[];
}

export interface CronJobSyncInput {
  db: Db;
  client: KubeClient;
  config: KubescribeConfig;
  settings: KubernetesSettings;
  /** Report what would change, change nothing. */
  dryRun?: boolean;
}

/**
 * Makes the cluster's CronJobs match the config: records the job revisions first (the CronJobs carry
 * them), then creates, updates and deletes. Errors are collected per job; the other jobs still sync.
 */
export async function syncCronJobs(input: CronJobSyncInput): Promise<CronJobSyncResult> {
  const { db, client, config, settings } = input;
  const result: CronJobSyncResult = { created: [], updated: [], unchanged: [], deleted: [], errors: [] };
  const revisions = new Map((await syncJobs(db, config)).map((row) => [row.name, row.revision]));
  const suspended = new Set((await listJobs(db)).filter((row) => row.suspended).map((row) => row.name));
  const owned = new Map((await client.listCronJobs(MANAGED_SELECTOR)).map((cron) => [cron.metadata?.name ?? '', cron]));

  for (const definition of config.jobs.values()) {
    if (!definition.schedule) continue;
    let desired: V1CronJob;
    try {
      desired = cronJobManifest(definition, settings, revisions.get(definition.name), { suspend: suspended.has(definition.name) });
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
      result.errors.push({ job: definition.name, message: error.message });
      continue;
    }
    const name = desired.metadata!.name!;
    const current = owned.get(name);
    owned.delete(name);
    try {
      if (!current) {
        if (!input.dryRun) await client.createCronJob(desired);
        result.created.push(name);
      } else if (sameContent(current, desired)) {
        result.unchanged.push(name);
      } else {
        if (!input.dryRun) await client.replaceCronJob({ ...desired, metadata: { ...desired.metadata, resourceVersion: current.metadata?.resourceVersion } });
        result.updated.push(name);
      }
    } catch (error) {
      if (!(error instanceof KubeApiError)) throw error;
      const message = error.code === 409 && error.reason === 'AlreadyExists'
        ? `a CronJob named ${name} already exists in namespace ${client.namespace} without the label ${MANAGED_BY_LABEL}=${MANAGED_BY}; ` +
          'KubeScribe does not touch what it does not own: delete or rename it'
        : error.message;
      result.errors.push({ job: definition.name, message });
    }
  }

  // What is left is owned by KubeScribe and no longer wanted.
  for (const [name, cron] of owned) {
    if (cron.metadata?.labels?.[JOB_LABEL] === undefined) continue;
    try {
      if (!input.dryRun) await client.deleteCronJob(name);
      result.deleted.push(name);
    } catch (error) {
      if (!(error instanceof KubeApiError)) throw error;
      result.errors.push({ job: cron.metadata?.labels?.[JOB_LABEL] ?? name, message: error.message });
    }
  }
  return result;
}

/** Sets a job's CronJob `spec.suspend` (suspend/resume); false when the job has no CronJob. */
export async function setCronJobSuspended(client: KubeClient, job: string, suspend: boolean): Promise<boolean> {
  try {
    await client.patchCronJob(job, { spec: { suspend } });
    return true;
  } catch (error) {
    if (error instanceof KubeApiError && error.code === 404) return false;
    throw error;
  }
}

// Compares what KubeScribe sets (labels, annotations, spec), not what the API server adds (defaults, status).
function sameContent(current: V1CronJob, desired: V1CronJob): boolean {
  const wanted = JSON.parse(JSON.stringify(desired)) as V1CronJob;
  const have = JSON.parse(JSON.stringify(current)) as V1CronJob;
  return covers(have.metadata?.labels, wanted.metadata?.labels) &&
    covers(have.metadata?.annotations, wanted.metadata?.annotations) &&
    covers(have.spec, wanted.spec);
}

/** True when every field of `wanted` has the same value in `have` (server-side defaults are ignored). */
function covers(have: unknown, wanted: unknown): boolean {
  if (wanted === undefined) return true;
  if (wanted === null || typeof wanted !== 'object') return have === wanted;
  if (Array.isArray(wanted)) {
    return Array.isArray(have) && have.length === wanted.length && wanted.every((item, i) => covers(have[i], item));
  }
  if (have === null || typeof have !== 'object' || Array.isArray(have)) return false;
  return Object.entries(wanted).every(([key, value]) => covers((have as Record<string, unknown>)[key], value));
}
