// A run's stored output: a page of chunks by seq range, or (follow=true) the log followed live as
// Server-Sent Events until the run ends. Registered by runsReadRoutes, whose scope and run-ref hook
// it shares.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiDeps } from '../app.ts';
import { LogFollowers } from '../log-stream.ts';
import { ApiError, NotFoundError } from '../errors.ts';
import { DateTime, errorResponses, RunIdParams, StringEnum } from '../schemas.ts';
import { readLogChunks } from '../../runlog/sql/run-logs.ts';
import { runLogState } from '../../runlog/sql/retention.ts';
import { logPrunedMessage } from '../../runlog/retention.ts';
import { isTerminal, type LogChunk } from '../../runlog/types.ts';

// run_logs.seq is a PostgreSQL integer: a larger bound would be a database error, not an empty page.
const MAX_SEQ = 2_147_483_647;

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


/** GET /runs/{run_id}/logs (scope read): a page of the log, or its live stream. */
export async function runLogRoute(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const followers = new LogFollowers(deps.db, app.log, deps.logStream);
  // Open streams would hold server.close() until their clients hang up: end them first.
  app.addHook('preClose', () => followers.close());

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
          ...errorResponses(400, 401, 404, 410, 500),
        },
      },
    },
    async (request, reply) => {
      const runId = request.params.run_id;
      const { after_seq: afterSeq = 0, limit = 1000, follow = false } = request.query;
      // Read the status before the chunks: a run seen finished before the read has all its chunks in it.
      const state = await runLogState(deps.db, runId);
      if (state === null) throw new NotFoundError('run', runId);
      // Never an empty or partial log that looks complete: say that retention removed it.
      const pruned = logPrunedMessage(runId, state, deps.config.retention?.logs_ms);
      if (pruned) throw new ApiError(410, 'log_pruned', pruned, { run_id: runId, log_pruned_at: state.log_pruned_at ? new Date(state.log_pruned_at).toISOString() : null });
      const { status } = state;
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
