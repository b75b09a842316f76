// Response and parameter schemas shared by the route groups, and the API view of a run. The OpenAPI
// document at /openapi.json is generated from these, so they describe exactly what the API sends.
import { Type, type Static, type TSchema, type TUnsafe } from 'typebox';
import { RUN_STATUSES, TRIGGERS, type RunRecord, type RunStatus, type Trigger } from '../runlog/types.ts';
import type { RunNotification } from '../runlog/sql/notification-deliveries.ts';
import type { RunRetry } from '../runlog/sql/run-retries.ts';
import { runDurationMs } from '../runlog/run-duration.ts';
import { isoOrNull } from '../util/iso.ts';

/** A string restricted to `values`, typed as their union (`{type: string, enum}`: valid in OpenAPI 3.0). */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string; default?: T[number] } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** `schema` or null; @fastify/swagger turns this into OpenAPI 3.0 `nullable: true`. */
export function Nullable<T extends TSchema>(schema: T, options: { description?: string } = {}) {
  return Type.Union([schema, Type.Null()], options);
}

/** Any JSON object (params, outputs, a job definition): passed through as stored. */
export const JsonObject = Type.Object({}, { additionalProperties: true });

/** An ISO 8601 date-time in UTC. */
export const DateTime = Type.String({ format: 'date-time' });

/** The one error shape of every response (see errors.ts). */
export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable, machine-readable: invalid_request, run_not_found, unauthorized, …' }),
      message: Type.String({ description: 'What went wrong, in words.' }),
      details: Type.Unknown({ description: 'Specifics: for invalid_request a list of {field, reason}; otherwise an object.' }),
    }),
  },
  { title: 'ErrorResponse' },
);

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: `details` lists each field and the reason',
  401: 'No valid API token',
  403: 'The token lacks the scope this endpoint needs',
  404: 'No such run, job or route',
  503: 'The RunLog is unavailable or a lock it needs is held too long: retry after `Retry-After` seconds',
  409: 'Conflicts with the current state',
  410: 'Gone: the run’s log was pruned by retention (`retention.logs`); the run itself is kept',
  413: 'The request body is too large',
  500: 'Internal error (the server log has the details)',
};

/** Response schemas for the given error statuses, each the shared ErrorResponse shape. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorResponse> {
  const responses: Record<number, typeof ErrorResponse> = {};
  for (const status of statuses) {
    responses[status] = { ...ErrorResponse, description: ERROR_DESCRIPTIONS[status] ?? 'Error' } as typeof ErrorResponse;
  }
  return responses;
}

/**
 * The `run_id` path parameter: any run reference (src/runlog/run-ref.ts). The route group's
 * preHandler (routes/run-ref-param.ts) replaces it with the run id it names before a handler runs,
 * or answers 400/404 naming it.
 */
export const RunIdParams = Type.Object({
  run_id: Type.String({
    minLength: 1,
    maxLength: 100,
    description: 'The run: its id (a UUIDv7), its run number `job#N` (URL-encoded `job%23N`) or `job~N`, or an unambiguous prefix of its id (at least 4 characters).',
  }),
});

/** One run as the API shows it: every column of `runs`, its duration and links to its sub-resources. */
export const RunSchema = Type.Object(
  {
    run_id: Type.String({ format: 'uuid' }),
    job: Type.String(),
    run_number: Type.Integer({ minimum: 1, description: 'Per-job number (`job#N`), assigned when the run is recorded; another way to name the run in paths.' }),
    job_revision: Nullable(Type.Integer()),
    trigger: StringEnum(TRIGGERS),
    triggered_by: Nullable(Type.String()),
    params: JsonObject,
    status: StringEnum(RUN_STATUSES),
    attempt: Type.Integer({ minimum: 1 }),
    retry_of: Nullable(Type.String({ format: 'uuid' })),
    executor: Type.String(),
    executor_ref: JsonObject,
    image: Nullable(Type.String()),
    command: Nullable(Type.Array(Type.String())),
    tenant: Nullable(Type.String()),
    labels: Type.Record(Type.String(), Type.String()),
    created_at: DateTime,
    started_at: Nullable(DateTime),
    finished_at: Nullable(DateTime),
    heartbeat_at: Nullable(DateTime),
    exit_code: Nullable(Type.Integer()),
    signal: Nullable(Type.String()),
    error_type: Nullable(Type.String()),
    error_message: Nullable(Type.String()),
    error_tail: Nullable(Type.String()),
    outputs: JsonObject,
    metrics: Type.Record(Type.String(), Type.Number()),
    idempotency_key: Nullable(Type.String()),
    log_bytes: Type.Integer({ minimum: 0 }),
    log_dropped_bytes: Type.Integer({ minimum: 0 }),
    duration_ms: Nullable(Type.Integer(), { description: 'finished_at − started_at; null until the run has both.' }),
    links: Type.Object({
      self: Type.String({ description: 'This run.' }),
      events: Type.String({ description: 'Its audit trail.' }),
      logs: Type.String({ description: 'Its stored output.' }),
    }),
  },
  { title: 'Run' },
);
export type RunView = Static<typeof RunSchema>;

/** The relative links of a run's sub-resources. */
export function runLinks(runId: string): RunView['links'] {
  const self = `/runs/${runId}`;
  return { self, events: `${self}/events`, logs: `${self}/logs` };
}

/** Turns a `runs` row into its API view (ISO times, duration, links). */
export function runView(run: RunRecord): RunView {
  return {
    run_id: run.run_id,
    job: run.job,
    run_number: run.run_number,
    job_revision: run.job_revision,
    trigger: run.trigger as Trigger,
    triggered_by: run.triggered_by,
    params: run.params ?? {},
    status: run.status as RunStatus,
    attempt: run.attempt,
    retry_of: run.retry_of,
    executor: run.executor,
    executor_ref: run.executor_ref ?? {},
    image: run.image,
    command: run.command,
    tenant: run.tenant,
    labels: run.labels ?? {},
    created_at: new Date(run.created_at).toISOString(),
    started_at: isoOrNull(run.started_at),
    finished_at: isoOrNull(run.finished_at),
    heartbeat_at: isoOrNull(run.heartbeat_at),
    exit_code: run.exit_code,
    signal: run.signal,
    error_type: run.error_type,
    error_message: run.error_message,
    error_tail: run.error_tail,
    outputs: run.outputs ?? {},
    metrics: run.metrics ?? {},
    idempotency_key: run.idempotency_key,
    log_bytes: Number(run.log_bytes),
    log_dropped_bytes: Number(run.log_dropped_bytes),
    duration_ms: runDurationMs(run),
    links: runLinks(run.run_id),
  };
}

/** One attempt to deliver a notification. */
const NotificationAttemptSchema = Type.Object(
  {
    attempt: Type.Integer({ minimum: 1 }),
    sender: Type.String({ description: 'The process that tried: host:pid.' }),
    started_at: DateTime,
    finished_at: DateTime,
    ok: Type.Boolean(),
    error: Nullable(Type.String({ description: 'Why it failed (never containing a secret).' })),
  },
  { title: 'NotificationAttempt' },
);

/** A notification about a run to one channel, with every attempt (docs/notifications.md). */
export const RunNotificationSchema = Type.Object(
  {
    delivery_id: Type.String({ format: 'uuid', description: 'Also the `id` of the message the channel received.' }),
    channel: Type.String(),
    rule: Type.String({ description: 'failed, timed_out, lost, recovered, succeeded, late or abnormal.' }),
    state: StringEnum(['pending', 'sending', 'sent', 'failed', 'suppressed'] as const),
    reason: Nullable(Type.String({ description: 'Why it was suppressed, held or failed.' })),
    summary: Nullable(Type.String({ description: 'e.g. "failed 5 times in a row since 09:00 UTC".' })),
    created_at: DateTime,
    sent_at: Nullable(DateTime),
    next_attempt_at: Nullable(DateTime, { description: 'When it is tried next (pending only).' }),
    attempts: Type.Array(NotificationAttemptSchema),
  },
  { title: 'RunNotification' },
);

/** What was decided about retrying a run that ended failed, timed_out or lost (docs/runner.md#retries). */
export const RunRetrySchema = Type.Object(
  {
    state: StringEnum(['pending', 'scheduled', 'created', 'skipped'] as const, {
      description: 'pending: not decided yet (within a second or so of the run\'s end); scheduled: the retry is created at due_at; created: it is run retry_run_id; skipped: never retried, see reason.',
    }),
    attempt: Nullable(Type.Integer({ minimum: 2 }), { description: 'The attempt the retry is (this run\'s attempt + 1).' }),
    limit: Nullable(Type.Integer({ minimum: 0 }), { description: 'The job\'s retries.limit when it was decided.' }),
    due_at: Nullable(DateTime, { description: 'When the retry is (or was) created: the run\'s end + retries.backoff × 2^(attempt−2).' }),
    retry_run_id: Nullable(Type.String({ format: 'uuid' }), { description: 'The retry, once it exists.' }),
    reason: Nullable(Type.String({ description: 'Why it is not retried (skipped only).' })),
  },
  { title: 'RunRetry' },
);

/** `GET /runs/{run_id}`: the run, its notifications and its automatic retry. */
export const RunDetailSchema = Type.Object(
  {
    ...RunSchema.properties,
    notifications: Type.Array(RunNotificationSchema, { description: 'Notifications about this run, oldest first.' }),
    retry: Nullable(RunRetrySchema, { description: 'Its automatic retry; null for a run that did not end failed, timed_out or lost.' }),
  },
  { title: 'RunDetail' },
);

/** The API view of a run's retry decision (ISO times). */
export function retryView(retry: RunRetry | null): Static<typeof RunRetrySchema> | null {
  if (!retry) return null;
  return {
    state: retry.state,
    attempt: retry.attempt,
    limit: retry.retry_limit,
    due_at: isoOrNull(retry.due_at),
    retry_run_id: retry.retry_run_id,
    reason: retry.reason,
  };
}

/** The API view of one notification delivery (ISO times). */
export function notificationView(n: RunNotification): Static<typeof RunNotificationSchema> {
  return {
    ...n,
    created_at: new Date(n.created_at).toISOString(),
    sent_at: isoOrNull(n.sent_at),
    next_attempt_at: isoOrNull(n.next_attempt_at),
    attempts: n.attempts.map((a) => ({ ...a, started_at: new Date(a.started_at).toISOString(), finished_at: new Date(a.finished_at).toISOString() })),
  };
}
