// Jobs: what the RunLog knows merged with what this server's kubescribe.yaml declares, with the
// schedule in words, its next fire times, the last run and health; suspend and resume a schedule.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import type { ApiDeps } from '../app.ts';
import { NotFoundError } from '../errors.ts';
import { DateTime, errorResponses, JsonObject, Nullable, StringEnum } from '../schemas.ts';
import type { JobDefinition } from '../../config/job-definition.ts';
import {
  getJobRevisionDefinition,
  listJobOverviews,
  listJobRevisions,
  setJobSuspended,
  syncJobDefinition,
  type JobOverviewRow,
} from '../../runlog/sql/jobs.ts';
import { insertJobEvent } from '../../runlog/sql/job-events.ts';
import { jobSyncOf } from '../../runlog/sync-jobs.ts';
import { FAILING_STATUSES } from '../../runlog/types.ts';
import { describeSchedule, nextFireTimes } from '../../scheduler/describe-schedule.ts';

const HEALTH = ['healthy', 'failing', 'unknown'] as const;
const FAILING: ReadonlySet<string> = new Set(FAILING_STATUSES);

const JobProperties = {
  name: Type.String(),
  description: Nullable(Type.String()),
  declared: Type.Boolean({ description: 'Defined in kubescribe.yaml (false: only seen as `kubescribe run --job X -- cmd`).' }),
  suspended: Type.Boolean({ description: 'Schedule suspended: runs only when triggered by hand.' }),
  current_revision: Nullable(Type.Integer({ minimum: 1 }), { description: 'The job revision recorded in the RunLog.' }),
  schedule: Nullable(Type.String(), { description: 'The cron expression this server fires the job on; null when unscheduled.' }),
  time_zone: Nullable(Type.String(), { description: 'IANA time zone of the schedule.' }),
  schedule_text: Nullable(Type.String(), { description: 'The schedule in words, e.g. "at 06:00 every day (Europe/Berlin)".' }),
  next_runs: Type.Array(DateTime, { description: 'The next 3 fire times; empty when unscheduled or suspended.' }),
  last_run: Nullable(
    Type.Object({
      run_id: Type.String({ format: 'uuid' }),
      status: Type.String(),
      created_at: DateTime,
      finished_at: Nullable(DateTime),
    }),
    { description: 'The newest run, whatever its status.' },
  ),
  health: StringEnum(HEALTH, {
    description: 'From the newest finished run: healthy (succeeded), failing (failed, timed_out, lost), unknown (none yet, or cancelled).',
  }),
};

const JobSchema = Type.Object(JobProperties, { title: 'Job' });
export type JobView = Static<typeof JobSchema>;

const JobDetailSchema = Type.Object(
  {
    ...JobProperties,
    definition: Nullable(JsonObject, {
      description: 'The current revision’s definition (else the config’s); environment variable values are shown as "***".',
    }),
    revisions: Type.Array(
      Type.Object({ number: Type.Integer({ minimum: 1 }), content_hash: Type.String(), created_at: DateTime }),
      { description: 'Every recorded revision, newest first.' },
    ),
  },
  { title: 'JobDetail' },
);

const JobActionSchema = Type.Object(
  {
    ...JobProperties,
    action: Type.Object({
      type: StringEnum(['suspend', 'resume'] as const),
      actor: Type.String({ description: 'Who asked: `token:<name>`.' }),
      reason: Nullable(Type.String()),
      executor: Type.Optional(Type.Object({
        name: Type.String({ description: 'The executor that keeps the schedule, e.g. `kubernetes`.' }),
        applied: Type.Boolean({ description: "Its copy of the schedule (the CronJob's `spec.suspend`) was set by this request." }),
        message: Nullable(Type.String({
          description: 'Why not: the job has no CronJob, or the cluster could not be reached or refused ' +
            '(the suspension is recorded all the same, and the reconciler applies it later).',
        })),
      }, { description: 'Present when the executor keeps schedules of its own (Kubernetes CronJobs) and the job is scheduled.' })),
    }),
  },
  { title: 'JobAction' },
);

const JobParams = Type.Object({ name: Type.String({ minLength: 1, description: 'The job name.' }) });
const ActionBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 1000, description: 'Why; written to the server log.' })) },
  { additionalProperties: false },
);

/** GET /jobs and /jobs/{name} (scope read); POST /jobs/{name}/suspend and /resume (scope admin). */
export async function jobsRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  const summaries = (name: string | null) => listJobViews(deps, name);
  const findJob = (name: string) => findJobView(deps, name);

  api.get(
    '/jobs',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['jobs'],
        summary: 'Every job: declared in kubescribe.yaml or seen in the RunLog',
        response: { 200: Type.Object({ jobs: Type.Array(JobSchema) }), ...errorResponses(401, 500) },
      },
    },
    async () => ({ jobs: await summaries(null) }),
  );

  api.get(
    '/jobs/:name',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['jobs'],
        summary: 'One job with its definition and revisions',
        params: JobParams,
        response: { 200: JobDetailSchema, ...errorResponses(401, 404, 500) },
      },
    },
    async (request) => {
      const name = request.params.name;
      const job = await findJob(name);
      const stored = job.current_revision === null ? null : await getJobRevisionDefinition(deps.db, name, job.current_revision);
      const definition = stored ?? (deps.config.jobs.get(name) as unknown as Record<string, unknown> | undefined) ?? null;
      const revisions = await listJobRevisions(deps.db, name);
      return {
        ...job,
        definition: definition === null ? null : redactDefinition(definition),
        revisions: revisions.map((revision) => ({
          number: revision.revision,
          content_hash: revision.content_hash,
          created_at: new Date(revision.created_at).toISOString(),
        })),
      };
    },
  );

  for (const action of ['suspend', 'resume'] as const) {
    api.post(
      `/jobs/:name/${action}`,
      {
        config: { scope: 'admin' },
        schema: {
          tags: ['jobs'],
          summary: action === 'suspend' ? 'Suspend a job’s schedule (idempotent)' : 'Resume a job’s schedule (idempotent)',
          description: (action === 'suspend'
            ? 'The scheduler stops firing the job (its slots are skipped); it can still be triggered by hand.'
            : 'The scheduler fires the job again from its next slot.') +
            " With the Kubernetes executor the job's CronJob `spec.suspend` is patched at once; when the cluster cannot be " +
            'reached the call still succeeds (see `action.executor`) and the reconciler patches it later.',
          params: JobParams,
          body: ActionBody,
          response: { 200: JobActionSchema, ...errorResponses(400, 401, 403, 404, 500) },
        },
        // An empty POST is the common case: treat a missing body as `{}` rather than a 400.
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request) => changeJobSchedule(deps, request.params.name, action, { actor: request.actor, reason: request.body?.reason ?? null }, request.log),
    );
  }
}

/** Every job (declared or seen in the RunLog), or only `name`, as GET /jobs shows it; the UI's jobs page too. */
export async function listJobViews(deps: ApiDeps, name: string | null): Promise<JobView[]> {
  // Read per request: a dev server reloads its config while it runs.
  const declared = deps.config.jobs;
  const rows = new Map((await listJobOverviews(deps.db, name)).map((row) => [row.name, row]));
  const names = new Set(rows.keys());
  for (const job of declared.keys()) if (name === null || job === name) names.add(job);
  const now = new Date();
  return [...names].sort().map((job) => jobView(job, rows.get(job), declared.get(job), now));
}

/** One job's view; NotFoundError when there is none. */
export async function findJobView(deps: ApiDeps, name: string): Promise<JobView> {
  const [job] = await listJobViews(deps, name);
  if (!job) throw new NotFoundError('job', name);
  return job;
}

/**
 * Suspends or resumes a job's schedule (idempotent), recording who and why, and applies it to the
 * executor's own copy (CronJob) when it keeps one: POST /jobs/{name}/suspend|resume and the UI's forms.
 */
export async function changeJobSchedule(
  deps: ApiDeps,
  name: string,
  action: 'suspend' | 'resume',
  audit: { actor: string; reason: string | null },
  log: FastifyBaseLogger,
) {
  const { actor, reason } = audit;
  let result = await setJobSuspended(deps.db, name, action === 'suspend', audit);
  const definition = deps.config.jobs.get(name);
  if (!result.found && definition) {
    // Declared but not yet synced into the RunLog (the server syncs on start): record it, then flag it.
    await syncJobDefinition(deps.db, jobSyncOf(definition, deps.config.file));
    result = await setJobSuspended(deps.db, name, action === 'suspend', audit);
  }
  if (!result.found) throw new NotFoundError('job', name);
  log.info({ job: name, action, actor, reason, changed: result.changed }, `job ${action}`);
  const executor = definition?.schedule ? await applyToExecutor(deps, name, action === 'suspend', actor, log) : undefined;
  return { ...(await findJobView(deps, name)), action: { type: action, actor, reason, ...(executor ? { executor } : {}) } };
}

/**
 * Sets the executor's own copy of the schedule (a CronJob's spec.suspend) at once. The RunLog flag,
 * written before, is the truth: when this fails the request still succeeds, the failure is logged
 * and recorded in job_events, and the Kubernetes reconciler applies the flag on its next pass.
 */
async function applyToExecutor(deps: ApiDeps, job: string, suspended: boolean, actor: string, log: FastifyBaseLogger) {
  const executor = deps.executor;
  if (!executor.setSuspended) return undefined;
  try {
    const applied = await executor.setSuspended(job, suspended);
    return { name: executor.name, applied, message: applied ? null : `job ${job} has no CronJob in the cluster yet (kubescribe apply creates it)` };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.warn({ job, suspended, executor: executor.name, err: message }, 'could not apply the suspension now; the reconciler will');
    await insertJobEvent(deps.db, { job, type: 'schedule_patch_failed', actor, detail: { executor: executor.name, suspended, message } })
      .catch((failure: unknown) => log.error({ job, err: failure }, 'could not record schedule_patch_failed'));
    return { name: executor.name, applied: false, message: `${message}; recorded, the reconciler applies it on its next pass` };
  }
}

function jobView(name: string, row: JobOverviewRow | undefined, definition: JobDefinition | undefined, now: Date): JobView {
  const suspended = row?.suspended ?? false;
  const schedule = definition?.schedule ?? null;
  const timeZone = definition?.time_zone ?? null;
  const finished = row?.last_finished_status ?? null;
  return {
    name,
    description: definition?.description ?? row?.description ?? null,
    declared: definition !== undefined || (row?.declared === true && row.removed_at === null),
    suspended,
    current_revision: row?.current_revision ?? null,
    schedule,
    time_zone: timeZone,
    schedule_text: schedule === null ? null : describeSchedule(schedule, timeZone ?? 'UTC'),
    next_runs: schedule === null || suspended ? [] : nextFireTimes(schedule, timeZone ?? 'UTC', 3, now).map((at) => at.toISOString()),
    last_run: row?.last_run_id
      ? {
          run_id: row.last_run_id,
          status: row.last_status!,
          created_at: new Date(row.last_created_at!).toISOString(),
          finished_at: row.last_finished_at === null ? null : new Date(row.last_finished_at).toISOString(),
        }
      : null,
    health: finished === 'succeeded' ? 'healthy' : finished !== null && FAILING.has(finished) ? 'failing' : 'unknown',
  };
}

/** A definition with environment variable values masked: they may hold secrets, which never leave the server. */
function redactDefinition(definition: Record<string, unknown>): Record<string, unknown> {
  const env = definition.env;
  if (env === null || typeof env !== 'object' || Array.isArray(env)) return definition;
  return { ...definition, env: Object.fromEntries(Object.keys(env).map((key) => [key, '***'])) };
}
