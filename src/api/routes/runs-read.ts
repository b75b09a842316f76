// The read side of runs: the filtered list, one run, its events, and its log by range or followed
// live as Server-Sent Events.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiDeps } from '../app.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { LogFollowers } from '../log-stream.ts';
import { NotFoundError } from '../errors.ts';
import { DateTime, errorResponses, JsonObject, notificationView, Nullable, RunDetailSchema, RunIdParams, RunSchema, runView, StringEnum } from '../schemas.ts';
import { listRunNotifications } from '../../runlog/sql/notifications.ts';
import { readLogChunks, readRunEvents } from '../../runlog/sql/run-logs.ts';
import { getRun } from '../../runlog/sql/runs.ts';
import { getRunStatus, listRuns } from '../../runlog/sql/run-queries.ts';
import { isTerminal, RUN_STATUSES, TRIGGERS, type LogChunk } from '../../runlog/types.ts';
import { resolveRunIdParam } from './run-ref-param.ts';

// run_logs.seq is a PostgreSQL integer: a larger bound would be a database error, not an empty page.
const MAX_SEQ = 2_147_483_647;

const ListQuery = Type.Object(
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
    actor: Nullable(Type.String({ description: 'Who did it: a user, `cron`, `token:<name>`.' })),
    detail: JsonObject,
  },
  { title: 'RunEvent' },
);

const LogChunkSchema = Type.Object(
  {
    seq: Type.Integer({ minimum: 1, description: 'Position in the run’s output; gaps are where the log cap dropped chunks.' }),
    stream: StringEnum(['stdout', 'stderr', 'system'] as const),
    at: DateTime,
    text: Type.String(),
  },
  { title: 'LogChunk' },
);

const LogQuery = Type.Object(
  {
    after_seq: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEQ, default: 0, description: 'Chunks with a greater seq (0: from the start).' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000, description: 'Chunks per page (not with follow).' })),
    follow: Type.Optional(Type.Boolean({ default: false, description: 'Stream the log as Server-Sent Events until the run ends.' })),
  },
  { additionalProperties: false },
);

const LogHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,10}$', description: 'With follow: resume after this seq (sent by EventSource on reconnect).' })),
});

const LogPage = Type.Object({
  chunks: Type.Array(LogChunkSchema),
  next_after_seq: Type.Integer({ minimum: 0, description: 'Pass as `after_seq` for the next page.' }),
  complete: Type.Boolean({ description: 'True when the run is finished and no chunk follows these.' }),
});


/** GET /runs, /runs/{run_id}, /runs/{run_id}/events and /runs/{run_id}/logs (scope read). */
export async function runsReadRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  resolveRunIdParam(app, deps.db);
  const followers = new LogFollowers(deps.db, app.log, deps.logStream);
  // Open streams would hold server.close() until their clients hang up: end them first.
  app.addHook('preClose', () => followers.close());

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
      const query = request.query;
      // Ajv fills in the default; the fallback only satisfies the type.
      const limit = query.limit ?? 50;
      const before = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      const separator = query.label?.indexOf('=') ?? -1;
      const label = query.label === undefined ? undefined : { key: query.label.slice(0, separator), value: query.label.slice(separator + 1) };
      // One row beyond the page tells whether another page exists, so the last page says null.
      const rows = await listRuns(deps.db, {
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
      return { runs: page.map(runView), next_cursor: next };
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
      return { ...runView(run), notifications: (await listRunNotifications(deps.db, run.run_id)).map(notificationView) };
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

  api.get(
    '/runs/:run_id/logs',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['runs'],
        summary: 'A run’s stored output, by seq range or followed live',
        description:
          'Without `follow`: a page of chunks after `after_seq`. With `follow=true`: `text/event-stream` with an `event: log` '
          + '(`id` = seq, `data` = the chunk as JSON) per chunk, then one `event: end` (`data` = {run_id, status}) once the run '
          + 'has finished and every chunk is sent. Reconnecting with `Last-Event-ID` resumes after that seq.',
        params: RunIdParams,
        querystring: LogQuery,
        headers: LogHeaders,
        response: {
          200: {
            description: 'A page of chunks (JSON), or the live stream (with follow=true)',
            content: {
              'application/json': { schema: LogPage },
              'text/event-stream': { schema: Type.String({ description: 'Server-Sent Events: `log` events, then one `end` event.' }) },
            },
          },
          ...errorResponses(400, 401, 404, 500),
        },
      },
    },
    async (request, reply) => {
      const runId = request.params.run_id;
      const { after_seq: afterSeq = 0, limit = 1000, follow = false } = request.query;
      // Read the status before the chunks: a run seen finished before the read has all its chunks in it.
      const status = await getRunStatus(deps.db, runId);
      if (status === null) throw new NotFoundError('run', runId);
      if (follow) {
        const lastEventId = request.headers['last-event-id'];
        await followers.follow(runId, lastEventId === undefined ? afterSeq : Math.min(Number(lastEventId), MAX_SEQ), reply);
        return reply;
      }
      const rows = await readLogChunks(deps.db, runId, afterSeq, limit + 1);
      const chunks = rows.slice(0, limit).map(chunkView);
      return reply.type('application/json').send({
        chunks,
        next_after_seq: chunks.length ? chunks[chunks.length - 1]!.seq : afterSeq,
        complete: isTerminal(status) && rows.length <= limit,
      });
    },
  );
}

function chunkView(chunk: LogChunk) {
  return { seq: chunk.seq, stream: chunk.stream, at: new Date(chunk.at).toISOString(), text: chunk.text };
}
