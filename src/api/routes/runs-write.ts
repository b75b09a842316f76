import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiDeps } from '../app.ts';
import { ApiError, BadRequestError, ConflictError, NotFoundError } from '../errors.ts';
import { errorResponses, RunIdParams, runLinks, StringEnum } from '../schemas.ts';
import { RUN_STATUSES, type RunStatus } from '../../runlog/types.ts';
import {
  ConcurrencyConflictError,
  IdempotencyConflictError,
  JobNotFoundError,
  RunNotFoundError,
  RunStateConflictError,
} from '../../runs/errors.ts';
import { cancelRun } from '../../runs/cancel-run.ts';
import { retryRun } from '../../runs/retry-run.ts';
import { InvalidParamsError, triggerRun } from '../../runs/trigger-run.ts';
import { resolveRunIdParam } from './run-ref-param.ts';

const Params = Type.Record(Type.String(), Type.Unknown(), { description: "The run's params, validated against the job's JSON Schema." });

const runAccepted = (description: string) =>
  Type.Object({
    run_id: Type.String({ format: 'uuid' }),
    status: StringEnum([...RUN_STATUSES, 'cancelling'], { description: "The run's status; `cancelling` while its executor stops it." }),
    links: Type.Object({ self: Type.String(), events: Type.String(), logs: Type.String() }),
  }, { description });

const TriggerBody = Type.Object(
  {
    job: Type.String({ minLength: 1, maxLength: 200, description: 'A job declared in kubescribe.yaml.' }),
    params: Type.Optional(Params),
    idempotency_key: Type.Optional(Type.String({
      minLength: 1,
      maxLength: 255,
      description: 'The same key always answers with the same run, however often and however concurrently it is sent.',
    })),
    reason: Type.Optional(Type.String({ maxLength: 1000, description: "Why: recorded in the run's `created` event." })),
  },
  { additionalProperties: false },
);
const TriggerQuery = Type.Object(
  { dry_run: Type.Optional(Type.Boolean({ default: false, description: 'Validate and show what would run; create nothing.' })) },
  { additionalProperties: false },
);
const DryRun = Type.Object({
  dry_run: Type.Literal(true),
  job: Type.String(),
  params: Params,
  command: Type.Array(Type.String()),
  env_names: Type.Array(Type.String(), { description: "Names of the job's env variables; values are never shown." }),
  executor: Type.String(),
  concurrency_policy: Type.String(),
  manifest: Type.Optional(Type.Object({}, {
    additionalProperties: true,
    description: 'With the kubernetes executor: the batch/v1 Job the run would get, for a placeholder run id ' +
      '(00000000-0000-0000-0000-000000000000). Values of the job\'s env are shown as "***"; Secrets appear only as references.',
  })),
}, { description: 'With `dry_run=true`: what would run. Nothing was written, and no Job was created.' });
const RetryBody = Type.Object(
  {
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "Merged over the retried run's params." })),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);

/** Triggering, cancelling and retrying runs. */
export async function runsWriteRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  resolveRunIdParam(app, deps.db);

  typed.post('/runs/trigger', {
    // The token is checked in the statement that writes the run (or first, on every other path).
    config: { scope: 'trigger', tokenCheckedByHandler: true },
    schema: {
      tags: ['runs'],
      summary: 'Trigger a run of a job',
      description:
        'Validates the params against the job\'s schema (defaults applied), applies its concurrency policy ' +
        '(Forbid → 409 naming the live run; Replace → the live run is cancelled first) and writes the run as ' +
        '`queued` before handing it to the executor. With `dry_run=true` nothing is written.',
      body: TriggerBody,
      querystring: TriggerQuery,
      response: {
        202: runAccepted('The run was written as `queued` and handed to the executor (or, for a known idempotency key, the run that key created).'),
        200: DryRun,
        ...errorResponses(400, 401, 403, 404, 409, 413, 503),
      },
    },
  }, async (request, reply) => {
    const body = request.body;
    const result = await triggerRun(deps, {
      job: body.job,
      params: body.params,
      idempotency_key: body.idempotency_key ?? null,
      reason: body.reason ?? null,
      trigger: 'api',
      triggered_by: request.actor,
      ...(request.actor ? {} : { token: request.bearer!, authenticate: async () => (await request.authenticate(), request.actor) }),
      dry_run: request.query.dry_run === true,
    }).catch(rethrow);
    if (!request.actor && result.run?.triggered_by) request.actor = result.run.triggered_by;
    if (result.dry_run) return reply.code(200).send({ dry_run: true as const, ...result.dry_run });
    const run = result.run!;
    if (!result.created) reply.header('idempotent-replayed', 'true');
    return reply.code(202).header('location', `/runs/${run.run_id}`).send(accepted(run.run_id, run.status));
  });

  typed.post('/runs/:run_id/cancel', {
    config: { scope: 'trigger' },
    schema: {
      tags: ['runs'],
      summary: 'Cancel a run',
      description:
        'A queued run is cancelled at once (200). A starting or running run is stopped by its executor ' +
        '(SIGTERM, SIGKILL after the grace period) and answered with 202 `cancelling`. Cancelling a cancelled ' +
        'run answers 200 again; any other finished run is a 409 `run_finished`.',
      params: RunIdParams,
      response: {
        200: runAccepted('The run is cancelled (it was queued, or already cancelled).'),
        202: runAccepted('Its executor is stopping the run; it ends `cancelled`.'),
        ...errorResponses(400, 401, 403, 404, 409, 413, 503),
      },
    },
    // The cancel takes no fields; a body that brings some is refused rather than ignored.
    preValidation: async (request) => {
      const body = request.body as Record<string, unknown> | null | undefined;
      if (body === undefined || body === null) return;
      const fields = typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : ['(body)'];
      if (fields.length === 0) return;
      const details = fields.map((field) => ({ field: field === '(body)' ? 'body' : `body.${field}`, reason: 'is not a known field' }));
      throw new BadRequestError(details.map((detail) => `${detail.field}: ${detail.reason}`).join('; '), details);
    },
  }, async (request, reply) => {
    const result = await cancelRun(deps, request.params.run_id, request.actor).catch(rethrow);
    return reply.code(result.status === 'cancelling' ? 202 : 200).send(accepted(result.run_id, result.status));
  });

  typed.post('/runs/:run_id/retry', {
    config: { scope: 'trigger' },
    schema: {
      tags: ['runs'],
      summary: 'Retry a finished run',
      description:
        'Creates a new run of the same job with trigger `retry`, `retry_of` set to this run, the next ' +
        'attempt number, and the same params unless `params` overrides some of them. 409 while the run is live. ' +
        'The body may be omitted.',
      params: RunIdParams,
      body: RetryBody,
      response: { 202: runAccepted('The new run was written as `queued` and handed to the executor.'), ...errorResponses(400, 401, 403, 404, 409, 413, 503) },
    },
    // Fastify validates an absent body as a missing object; "no body" here means "no overrides".
    preValidation: async (request) => {
      request.body ??= {};
    },
  }, async (request, reply) => {
    const body = request.body;
    const result = await retryRun(deps, request.params.run_id, {
      params: body.params,
      reason: body.reason ?? null,
      triggered_by: request.actor,
    }).catch(rethrow);
    const run = result.run!;
    return reply.code(202).header('location', `/runs/${run.run_id}`).send(accepted(run.run_id, run.status));
  });
}

function accepted(runId: string, status: RunStatus | 'cancelling') {
  return { run_id: runId, status, links: runLinks(runId) };
}

// Domain errors carry facts; here they become the API's status codes and error codes.
function rethrow(error: unknown): never {
  if (error instanceof JobNotFoundError) throw new ApiError(404, 'job_not_found', error.message, { job: error.job });
  if (error instanceof InvalidParamsError) {
    const details = error.issues.map((issue) => ({
      field: issue.param === '(params)' ? 'params' : `params.${issue.param}`,
      reason: issue.message,
    }));
    throw new ApiError(400, 'invalid_params', error.message, details);
  }
  if (error instanceof ConcurrencyConflictError) {
    throw new ConflictError('concurrency_forbidden', error.message, {
      job: error.job,
      running_run_id: error.running_run_id,
      status: error.running_status,
    });
  }
  if (error instanceof RunNotFoundError) throw new NotFoundError('run', error.run_id);
  if (error instanceof RunStateConflictError) {
    throw new ConflictError(error.code, error.message, { run_id: error.run_id, status: error.status });
  }
  if (error instanceof IdempotencyConflictError) {
    throw new ConflictError('idempotency_key_reused', error.message, { idempotency_key: error.idempotency_key, run_id: error.run_id });
  }
  throw error;
}
