// The read side of runs: the filtered list, one run and its events. Its log (by range, or followed
// live as Server-Sent Events) is in run-log.ts.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import type { ApiDeps } from '../app.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { NotFoundError } from '../errors.ts';
import { DateTime, errorResponses, JsonObject, notificationView, Nullable, retryView, RunDetailSchema, RunIdParams, RunSchema, runView, StringEnum } from '../schemas.ts';
import { getRunRetry } from '../../runlog/sql/run-retries.ts';
import { listRunNotifications } from '../../runlog/sql/notification-deliveries.ts';
import { readRunEvents } from '../../runlog/sql/run-logs.ts';
import { getRun } from '../../runlog/sql/runs.ts';
import { getRunStatus, listRuns, type ListedRun } from '../../runlog/sql/run-queries.ts';
import type { Queryable } from '../../runlog/db.ts';
import { RUN_STATUSES, TRIGGERS } from '../../runlog/types.ts';
import { runLogRoute } from './run-log.ts';
import { resolveRunIdParam } from './run-ref-param.ts';


export const ListQuery = Type.Object(
  {
    job: Type.Optional(Type.String({ minLength: 1, description: 'Only runs of this job.' })),
    status: Type.Optional(StringEnum(RUN_STATUSES, { description: 'Only runs in this status.' })),
    trigger: Type.Optional(StringEnum(TRIGGERS, { description: 'Only runs started this way.' })),
    label: Type.Optional(Type.String({ pattern: '^[^=]+=', description: '`key=value`: only runs whose labels have this key with this value.' })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Only runs created at or after this time.' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'Only runs created before this time.' })),
    cursor: Type.Optional(Type.String({ minLength: 1, description: 'The `next_cursor` of the previous page.' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'Runs per page.' })),
  },
  { additionalProperties: false },
);

const RunList = Type.Object({
  runs: Type.Array(RunSchema),
  next_cursor: Nullable(Type.String(), { description: 'Pass as `cursor` for the next page; null on the last page.' }),
});

const RunEventSchema = Type.Object(
  {
    event_id: Type.String({ format: 'uuid' }),
    run_id: Type.String({ format: 'uuid' }),
    at: DateTime,
    type: Type.String({ description: 'created, started, succeeded, failed, cancel_requested, warning, …' }),
    from_status: Nullable(Type.String({ description: 'The status before, for a status change.' })),
    to_status: Nullable(Type.String({ description: 'The status after, for a status change.' })),
    actor: Nullable(Type.String({ description: 'Who did it: whoever triggered the run for `created` (`token:<name>`, `$USER@host`, `scheduler@<host>`, `retry-policy`), the executor where the run runs for its later steps (`executor:local@<host>`, `executor:kubernetes@<pod>`), `kubernetes-watcher`, `kubernetes-reconciler`, `reaper`, or the canceller (docs/runner.md, "Who did what").' })),
    detail: JsonObject,
  },
  { title: 'RunEvent' },
);

/** The filters of GET /runs, as its query string has them (validated by ListQuery). */
export type RunListQuery = Static<typeof ListQuery>;

/**
 * One page of GET /runs: the runs matching every filter, newest first, and the cursor of the next
 * page (null on the last). The UI's runs page reads the same function.
 */
export async function listRunPage(db: Queryable, query: RunListQuery): Promise<{ runs: ListedRun[]; next_cursor: string | null }> {
  // Ajv fills in the default; the fallback only satisfies the type.
  const limit = query.limit ?? 50;
  const before = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const separator = query.label?.indexOf('=') ?? -1;
  const label = query.label === undefined ? undefined : { key: query.label.slice(0, separator), value: query.label.slice(separator + 1) };
  // One row beyond the page tells whether another page exists, so the last page says null.
  const rows = await listRuns(db, {
    job: query.job,
    status: query.status,
    trigger: query.trigger,
    label,
    since: query.since === undefined ? undefined : new Date(query.since),
    until: query.until === undefined ? undefined : new Date(query.until),
    before,
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const next = rows.length > limit && last ? encodeCursor({ created_at: last.cursor_at, run_id: last.run_id }) : null;
  return { runs: page, next_cursor: next };
}

/** GET /runs, /runs/{run_id}, /runs/{run_id}/events and (run-log.ts) /runs/{run_id}/logs (scope read). */
export async function runsReadRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  resolveRunIdParam(app, deps.db);

  api.get(
    '/runs',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['runs'],
        summary: 'List runs, newest first',
        description: 'Filters combine with AND. Keyset-paginated: follow `next_cursor` until it is null.',
        querystring: ListQuery,
        response: { 200: RunList, ...errorResponses(400, 401, 500) },
      },
    },
    async (request) => {
      const page = await listRunPage(deps.db, request.query);
      return { runs: page.runs.map(runView), next_cursor: page.next_cursor };
    },
  );

  api.get(
    '/runs/:run_id',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['runs'],
        summary: 'One run',
        params: RunIdParams,
        response: { 200: RunDetailSchema, ...errorResponses(400, 401, 404, 500) },
      },
    },
    async (request) => {
      const run = await getRun(deps.db, request.params.run_id);
      if (!run) throw new NotFoundError('run', request.params.run_id);
      return {
        ...runView(run),
        notifications: (await listRunNotifications(deps.db, run.run_id)).map(notificationView),
        retry: retryView(await getRunRetry(deps.db, run.run_id)),
      };
    },
  );

  api.get(
    '/runs/:run_id/events',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['runs'],
        summary: 'A run’s audit trail, in order',
        params: RunIdParams,
        response: { 200: Type.Object({ events: Type.Array(RunEventSchema) }), ...errorResponses(400, 401, 404, 500) },
      },
    },
    async (request) => {
      const runId = request.params.run_id;
      if ((await getRunStatus(deps.db, runId)) === null) throw new NotFoundError('run', runId);
      const events = await readRunEvents(deps.db, runId);
      return {
        events: events.map((event) => ({ ...event, at: new Date(event.at).toISOString(), detail: event.detail ?? {} })),
      };
    },
  );
  // The log, paged or followed live, is its own module (run-log.ts); same scope, same run-ref hook.
  await runLogRoute(app, deps);
}
