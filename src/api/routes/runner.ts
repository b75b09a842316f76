// The runner endpoints: a runner that holds no DATABASE_URL records its run through the API
// (src/runner/api-sink.ts). Scope `runner` (src/api/runner-auth.ts): an admin API token, or a runner
// credential that can touch its own run (or create and write runs of its job) and nothing else.
// Records are the runner's own RecordOps (src/runner/record-ops.ts) and are written with the same SQL
// as the direct path, so a run recorded either way is the same rows.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static, type TSchema } from 'typebox';
import type { ApiDeps } from '../app.ts';
import { ApiError, BadRequestError, ConflictError, NotFoundError } from '../errors.ts';
import { identityAllowsRun, isAdminIdentity, type RunnerIdentity } from '../runner-auth.ts';
import { DateTime, errorResponses, Nullable, StringEnum } from '../schemas.ts';
import { applyOps, type RecordOp } from '../../runner/record-ops.ts';
import { createRunnerCredential } from '../../runlog/sql/runner-credentials.ts';
import { ensureUndeclaredJob } from '../../runlog/sql/jobs.ts';
import { recordStartedSlot } from '../../runlog/sql/schedule-slots.ts';
import { getRun, insertRun, transitionRun, type EventInput, type RunPatch } from '../../runlog/sql/runs.ts';
import { parseTokenLifetime } from '../../runlog/sql/tokens.ts';
import { RUN_STATUSES, STARTED_STATUSES, TRIGGERS, type RunStatus } from '../../runlog/types.ts';

// Bounds: a batch is what one Recorder batch holds (256 records, 1 MiB of log text; record-sink.ts),
// with room to spare; a log chunk is at most 64 KiB (log-capture.ts), a marker less.
const MAX_RECORDS = 1000;
const MAX_ROWS = 10_000;
const MAX_TEXT = 1024 * 1024;
const MAX_MESSAGE = 64 * 1024;
// A records request carries up to ~1 MiB of log text as JSON (escapes can grow it several times).
const RECORDS_BODY_LIMIT = 8 * 1024 * 1024;
// The terminal states a runner may record; `lost` is the reaper's.
const RUNNER_FINAL: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];

const Uuid = Type.String({ format: 'uuid' });
const Json = (description: string) => Type.Record(Type.String({ maxLength: 200 }), Type.Unknown(), { description });
const Name = (description: string) => Type.String({ minLength: 1, maxLength: 200, description });

const EventSchema = Type.Object({
  event_id: Uuid,
  at: DateTime,
  type: Type.String({ minLength: 1, maxLength: 100 }),
  actor: Nullable(Type.String({ maxLength: 300 }), {
    description: 'Kept when it names an executor (`executor:<name>@<where>`: the runner acts on its behalf); otherwise the server records the credential\'s actor.',
  }),
  detail: Type.Optional(Json('The event\'s specifics.')),
}, { additionalProperties: false, title: 'RunnerEvent' });

const LogRowSchema = Type.Object({
  seq: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }),
  stream: StringEnum(['stdout', 'stderr', 'system'] as const),
  at: DateTime,
  text: Type.String({ maxLength: MAX_TEXT }),
}, { additionalProperties: false, title: 'LogChunk' });

const PatchSchema = Type.Object({
  started_at: Type.Optional(DateTime),
  finished_at: Type.Optional(DateTime),
  heartbeat_at: Type.Optional(DateTime),
  exit_code: Type.Optional(Nullable(Type.Integer({ minimum: -(2 ** 31), maximum: 2 ** 31 - 1 }))),
  signal: Type.Optional(Nullable(Type.String({ maxLength: 20 }))),
  error_type: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  error_message: Type.Optional(Nullable(Type.String({ maxLength: MAX_MESSAGE }))),
  error_tail: Type.Optional(Nullable(Type.String({ maxLength: MAX_MESSAGE }))),
  outputs: Type.Optional(Json('KUBESCRIBE_OUTPUT outputs.')),
  metrics: Type.Optional(Type.Record(Type.String({ maxLength: 200 }), Type.Number(), { description: 'KUBESCRIBE_OUTPUT metrics.' })),
  executor_ref: Type.Optional(Json('Where the runner runs.')),
  params: Type.Optional(Json('The params the run started with (adoption only).')),
  log_bytes: Type.Optional(Type.Integer({ minimum: 0 })),
  log_dropped_bytes: Type.Optional(Type.Integer({ minimum: 0 })),
}, { additionalProperties: false, title: 'RunPatch' });

/** One record of a batch: `op` says which (the runner's RecordOp, minus job syncs and run creation). */
function recordOf<const O extends string, P extends Record<string, TSchema>>(op: O, description: string, properties: P) {
  return Type.Object({ op: Type.Literal(op), run_id: Uuid, ...properties }, { additionalProperties: false, description, title: `record:${op}` });
}
const RecordSchemas = [
  recordOf('heartbeat', 'The runner is alive (a finished run is left alone).', { at: DateTime }),
  recordOf('event', 'A run event that is not a transition (warning, timeout_reached, cancel_requested). Idempotent by event_id.', { event: EventSchema }),
  recordOf('logs', 'Log chunks; a chunk already stored (same seq) is skipped.', { rows: Type.Array(LogRowSchema, { minItems: 1, maxItems: MAX_ROWS }) }),
  recordOf('log_marker', 'The truncation marker of a capped log (rewritten as it grows).', { row: LogRowSchema }),
  recordOf('delete_logs', 'Deletes the chunks [from, to]: the dropped middle of a capped log.', {
    from: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }),
    to: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }),
  }),
  recordOf('log_totals', 'The stored log size.', { bytes: Type.Integer({ minimum: 0 }), dropped: Type.Integer({ minimum: 0 }) }),
  recordOf('transition', 'A compare-and-set of the status with its event: starting → running (the command started), '
    + 'starting|running → succeeded|failed|cancelled|timed_out (the finish: exit code, outputs, metrics, error), or queued → starting '
    + '(an adoption recorded while the API was unreachable).', {
    from: Type.Array(StringEnum(RUN_STATUSES), { minItems: 1, maxItems: 3, uniqueItems: true }),
    to: StringEnum(RUN_STATUSES),
    patch: PatchSchema,
    event: EventSchema,
  }),
  recordOf('link_slot', 'Links the run to the schedule slot (a CronJob\'s fire time) that started it.', { job: Name('The run\'s job.'), scheduled_for: DateTime }),
];
type WireRecord = Static<(typeof RecordSchemas)[number]>;

// Ajv's discriminator (enabled in app.ts) picks the one schema by `op`, so an invalid record is
// reported against its own kind (`body.records.3.run_id`) rather than against all eight.
const RecordsBody = Type.Object({
  records: Type.Array(Type.Unsafe<WireRecord>({ type: 'object', discriminator: { propertyName: 'op' }, required: ['op'], oneOf: RecordSchemas }), {
    minItems: 1,
    maxItems: MAX_RECORDS,
  }),
}, { additionalProperties: false });

const NewRunSchema = Type.Object({
  run_id: Uuid,
  job: Name('The job: declared in the server\'s config (or, for an admin token, any name: recorded as undeclared).'),
  job_content_hash: Nullable(Type.String({ maxLength: 200 }), { description: 'The definition\'s hash, to link the job revision it ran.' }),
  trigger: StringEnum(TRIGGERS),
  triggered_by: Nullable(Type.String({ maxLength: 300 }), { description: 'Kept for an admin token; a runner credential\'s actor otherwise.' }),
  params: Json('The run\'s params, defaults applied.'),
  status: Type.Literal('starting'),
  executor: Type.String({ minLength: 1, maxLength: 100 }),
  executor_ref: Type.Optional(Json('Where the runner runs.')),
  image: Type.Optional(Nullable(Type.String({ maxLength: 1000 }))),
  command: Type.Optional(Nullable(Type.Array(Type.String({ maxLength: 64 * 1024 }), { maxItems: 1000 }))),
  tenant: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  labels: Type.Optional(Type.Record(Type.String({ maxLength: 200 }), Type.String({ maxLength: 1000 }))),
  created_at: DateTime,
}, { additionalProperties: false, title: 'RunnerNewRun' });

const CreateBody = Type.Object({
  run: NewRunSchema,
  event: EventSchema,
  scheduled_for: Type.Optional(DateTime),
}, { additionalProperties: false });

const RunnerRun = Type.Object({
  run_id: Uuid,
  job: Type.String(),
  status: StringEnum(RUN_STATUSES),
  params: Json('The run\'s params.'),
}, { title: 'RunnerRun' });

const IdParams = Type.Object({ id: Type.String({ format: 'uuid', description: 'The run id (a UUIDv7; no run references here).' }) });

const AdoptBody = Type.Object({
  patch: Type.Object({ executor_ref: Type.Optional(Json('Where the runner runs.')), params: Type.Optional(Json('The params it runs with.')) }, { additionalProperties: false }),
  event: EventSchema,
}, { additionalProperties: false });

const CredentialBody = Type.Object({
  run_id: Type.Optional(Uuid),
  job: Type.Optional(Name('Create and write runs of this job (a CronJob\'s runs).')),
  expires_in: Type.String({ minLength: 1, maxLength: 100, description: 'Lifetime such as "2h" or "1d" (1m to 3650d).' }),
}, { additionalProperties: false });

const CredentialSchema = Type.Object({
  token: Type.String({ description: 'The run token (`ksr_…`): shown this once, only its hash is stored.' }),
  run_id: Nullable(Uuid),
  job: Nullable(Type.String()),
  expires_at: DateTime,
}, { title: 'RunnerCredential' });

const bad = (field: string, reason: string) => new BadRequestError(`${field}: ${reason}`, [{ field, reason }]);

const forbidden = (identity: RunnerIdentity, what: string) =>
  new ApiError(403, 'forbidden', `${identity.actor} may not ${what}`, {
    actor: identity.actor,
    ...(identity.runId ? { run_id: identity.runId } : {}),
    ...(identity.job ? { job: identity.job } : {}),
  });

/** The caller's runner identity (set by auth for every `runner` route). */
function identityOf(request: FastifyRequest): RunnerIdentity {
  if (!request.runner) throw new ApiError(401, 'unauthorized', 'runner endpoints need a runner credential');
  return request.runner;
}

/**
 * The actor an event is recorded with: the runner's own (`executor:…`) when it names the executor
 * the runner acts for (docs/runner.md, "Who did what"), else the credential's. So a runner credential
 * can never write an event as a token or a person.
 */
function actorFor(identity: RunnerIdentity, claimed: string | null): string {
  return claimed !== null && claimed.startsWith('executor:') ? claimed : identity.actor;
}

function eventFor(identity: RunnerIdentity, event: Static<typeof EventSchema>): EventInput {
  return { ...event, at: new Date(event.at), actor: actorFor(identity, event.actor) };
}

const pick = (patch: Record<string, unknown>, allowed: readonly string[], field: string) => {
  for (const key of Object.keys(patch)) {
    if (!allowed.includes(key)) throw bad(`${field}.${key}`, 'is not set by this transition');
  }
};
const START_PATCH = ['started_at', 'heartbeat_at', 'executor_ref'];
const ADOPT_PATCH = ['executor_ref', 'params'];
const FINISH_PATCH = ['finished_at', 'exit_code', 'signal', 'error_type', 'error_message', 'error_tail', 'outputs', 'metrics', 'log_bytes', 'log_dropped_bytes'];

/** Checks the transitions a runner may make: every record of the batch, before anything is written. */
function checkTransition(record: Extract<WireRecord, { op: 'transition' }>, field: string): void {
  const from = record.from as RunStatus[];
  const to = record.to as RunStatus;
  if (to === 'running') {
    if (from.length !== 1 || from[0] !== 'starting') throw bad(`${field}.from`, 'a run starts running only from ["starting"]');
    pick(record.patch, START_PATCH, `${field}.patch`);
  } else if (to === 'starting') {
    if (from.length !== 1 || from[0] !== 'queued') throw bad(`${field}.from`, 'a run is adopted only from ["queued"]');
    pick(record.patch, ADOPT_PATCH, `${field}.patch`);
  } else if (RUNNER_FINAL.includes(to)) {
    if (!from.every((status) => STARTED_STATUSES.includes(status))) throw bad(`${field}.from`, 'a run finishes only from starting or running');
    pick(record.patch, FINISH_PATCH, `${field}.patch`);
  } else {
    throw bad(`${field}.to`, `a runner may move its run to running, starting (adoption) or ${RUNNER_FINAL.join(', ')}`);
  }
}

/** POST /runner/runs, GET /runner/runs/{id}, POST /runner/runs/{id}/adopt, POST /runner/runs/{id}/records, POST /runner/credentials. */
export async function runnerRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = deps;

  /** The run, checked against the identity: 403 for another run (before any read when bound to one run), 404 when missing. */
  const runFor = async (identity: RunnerIdentity, runId: string) => {
    if (identity.runId !== null && identity.runId !== runId) throw forbidden(identity, `touch run ${runId}`);
    const run = await getRun(db, runId);
    if (run && !identityAllowsRun(identity, runId, run.job)) throw forbidden(identity, `touch run ${runId} of job ${run.job}`);
    if (!run) throw new NotFoundError('run', runId);
    return run;
  };

  api.post('/runner/runs', {
    config: { scope: 'runner' },
    schema: {
      tags: ['runner'],
      summary: 'Create the run a runner is about to start (idempotent on run_id)',
      description: 'Writes the run as `starting` with its `created` event (and links the schedule slot when `scheduled_for` is given). '
        + 'A replay of the same create answers 200 with the run; a different job under an existing run_id is 409. '
        + 'The job must be declared in the server\'s config; an admin token may also record an undeclared job (`kubescribe run -- cmd`). '
        + 'A runner credential may create only its own run, or runs of its job.',
      body: CreateBody,
      response: { 200: RunnerRun, 201: RunnerRun, ...errorResponses(400, 401, 403, 404, 409, 503) },
    },
  }, async (request, reply) => {
    const identity = identityOf(request);
    const { run, event, scheduled_for } = request.body;
    if (!identityAllowsRun(identity, run.run_id, run.job)) throw forbidden(identity, `create run ${run.run_id} of job ${run.job}`);
    const admin = isAdminIdentity(identity);
    if (!deps.config.jobs.has(run.job)) {
      if (!admin) throw new ApiError(404, 'job_not_found', `job ${run.job} is not declared in the server's config`, { job: run.job });
      await ensureUndeclaredJob(db, run.job);
    }
    const triggeredBy = admin ? run.triggered_by : identity.actor;
    const created = await insertRun(
      db,
      { ...run, triggered_by: triggeredBy, created_at: new Date(run.created_at) },
      { ...event, at: new Date(event.at), actor: admin ? event.actor : identity.actor },
    );
    const stored = await getRun(db, run.run_id);
    if (!stored) throw new NotFoundError('run', run.run_id);
    if (stored.job !== run.job) {
      throw new ConflictError('run_id_taken', `run ${run.run_id} exists as a run of job ${stored.job}, not ${run.job}`, { run_id: run.run_id, job: stored.job });
    }
    if (scheduled_for) await recordStartedSlot(db, run.job, new Date(scheduled_for), run.run_id);
    return reply.code(created ? 201 : 200).send({ run_id: stored.run_id, job: stored.job, status: stored.status, params: stored.params });
  });

  api.get('/runner/runs/:id', {
    config: { scope: 'runner' },
    schema: {
      tags: ['runner'],
      summary: 'The run\'s status and params (a runner adopting a queued run)',
      params: IdParams,
      response: { 200: RunnerRun, ...errorResponses(400, 401, 403, 404, 503) },
    },
  }, async (request) => {
    const run = await runFor(identityOf(request), request.params.id);
    return { run_id: run.run_id, job: run.job, status: run.status, params: run.params };
  });

  api.post('/runner/runs/:id/adopt', {
    config: { scope: 'runner' },
    schema: {
      tags: ['runner'],
      summary: 'Adopt a queued run: the compare-and-set queued → starting',
      description: '`changed` is false when the run was no longer queued (cancelled, or adopted by another runner); `status` is its status now.',
      params: IdParams,
      body: AdoptBody,
      response: { 200: Type.Object({ changed: Type.Boolean(), status: StringEnum(RUN_STATUSES) }), ...errorResponses(400, 401, 403, 404, 503) },
    },
  }, async (request) => {
    const identity = identityOf(request);
    const runId = request.params.id;
    await runFor(identity, runId);
    const { patch, event } = request.body;
    const result = await transitionRun(db, runId, ['queued'], 'starting', patch as RunPatch, eventFor(identity, event));
    return { changed: result.changed, status: result.status! };
  });

  api.post('/runner/runs/:id/records', {
    config: { scope: 'runner' },
    bodyLimit: RECORDS_BODY_LIMIT,
    schema: {
      tags: ['runner'],
      summary: 'Write an ordered batch of the run\'s records (one transaction)',
      description: 'Heartbeats, events, log chunks (and the capped log\'s marker, dropped middle and totals), the starting → running '
        + 'transition and the finish. Every record is idempotent (chunks by seq, events by event_id, transitions are compare-and-sets), '
        + 'so a batch may be replayed. The whole batch is checked before anything is written: a bad record is a 400 naming it and '
        + 'nothing is written.',
      params: IdParams,
      body: RecordsBody,
      response: { 200: Type.Object({ written: Type.Integer({ description: 'Records in the batch.' }) }), ...errorResponses(400, 401, 403, 404, 413, 503) },
    },
  }, async (request) => {
    const identity = identityOf(request);
    const runId = request.params.id;
    const records = request.body.records;
    records.forEach((record, index) => {
      const field = `body.records.${index}`;
      if (record.run_id !== runId) throw bad(`${field}.run_id`, `must be the run of the path (${runId})`);
      if (record.op === 'transition') checkTransition(record, field);
    });
    const run = await runFor(identity, runId);
    const ops = records.map((record, index): RecordOp => {
      switch (record.op) {
        case 'event':
          return { ...record, event: eventFor(identity, record.event) };
        case 'transition':
          // Dates travel as ISO strings; applyOps revives them (as it does for the spool).
          return { ...record, from: record.from as RunStatus[], to: record.to as RunStatus, patch: record.patch as RunPatch, event: eventFor(identity, record.event) };
        case 'link_slot':
          if (record.job !== run.job) throw bad(`body.records.${index}.job`, `must be the run's job (${run.job})`);
          return record;
        default:
          return record as RecordOp;
      }
    });
    await applyOps(db, ops);
    return { written: ops.length };
  });

  api.post('/runner/credentials', {
    config: { scope: 'admin' },
    schema: {
      tags: ['runner'],
      summary: 'Mint a run token for one run or one job; its value is in this response only',
      description: 'For setups without Kubernetes\' TokenReview: give the runner `KUBESCRIBE_TOKEN=<token>`. A run\'s token stops working '
        + 'at its expiry, and five minutes after its run ended; a job\'s token at its expiry.',
      body: CredentialBody,
      response: { 201: CredentialSchema, ...errorResponses(400, 401, 403, 503) },
    },
  }, async (request, reply) => {
    const { run_id, job, expires_in } = request.body;
    if ((run_id === undefined) === (job === undefined)) throw bad('body.run_id', 'give exactly one of run_id and job');
    let ms: number;
    try {
      ms = parseTokenLifetime(expires_in);
    } catch (error) {
      throw bad('body.expires_in', (error as Error).message);
    }
    const expiresAt = new Date(Date.now() + ms);
    const { token, row } = run_id !== undefined
      ? await createRunnerCredential(db, { run_id, expires_at: expiresAt, created_by: request.actor })
      : await createRunnerCredential(db, { job: job!, expires_at: expiresAt, created_by: request.actor });
    request.log.info({ run_id: row.run_id, job: row.job, actor: request.actor }, 'runner credential created');
    return reply.code(201).send({ token, run_id: row.run_id, job: row.job, expires_at: new Date(row.expires_at).toISOString() });
  });
}
