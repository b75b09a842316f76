// Job stats (docs/reporting.md#stats): GET /jobs/{name}/stats and GET /stats, both scope read. The
// numbers come from src/reports/stats.ts, which reads the RunLog's reporting views.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiDeps } from '../app.ts';
import { NotFoundError } from '../errors.ts';
import { DateTime, errorResponses, Nullable, StringEnum } from '../schemas.ts';
import { allJobStats, jobStats, STATS_BUCKETS, STATS_WINDOWS } from '../../reports/stats.ts';
import { FAILING_STATUSES, RUN_STATUSES } from '../../runlog/types.ts';

const Seconds = (description: string) => Nullable(Type.Number({ minimum: 0 }), { description });
const Count = Type.Integer({ minimum: 0 });

const JobStatsSchema = Type.Object(
  {
    job_name: Type.String(),
    window: StringEnum(STATS_WINDOWS),
    from: DateTime,
    to: DateTime,
    runs: Type.Object(
      { ...Object.fromEntries(RUN_STATUSES.map((status) => [status, Count])), total: Count },
      { description: 'Terminal statuses: runs that ended in the window. queued, starting, running: runs in that state now.' },
    ),
    success_rate: Nullable(Type.Number({ minimum: 0, maximum: 1 }), {
      description: 'succeeded / (succeeded + failed + timed_out + lost) in the window (cancelled left out); null when none.',
    }),
    duration_seconds: Type.Object(
      { p50: Seconds('Median.'), p95: Seconds('95th percentile.'), p99: Seconds('99th percentile.'), max: Seconds('Longest.') },
      { description: 'finished_at − started_at of the runs that ended in the window and had started (percentile_cont).' },
    ),
    queue_wait_seconds: Type.Object({ p95: Seconds('95th percentile of created_at → started_at.') }),
    streak: Nullable(Type.Object({ status: StringEnum(RUN_STATUSES), count: Type.Integer({ minimum: 1 }) }), {
      description: 'The newest run in the window that was not cancelled, and how many in a row ended the same way.',
    }),
    last_success_at: Nullable(DateTime, { description: 'The newest success, whatever the window.' }),
    last_failure: Nullable(
      Type.Object({
        run_id: Type.String({ format: 'uuid' }),
        run_number: Type.Integer({ minimum: 1 }),
        status: StringEnum(FAILING_STATUSES),
        finished_at: DateTime,
        error_line: Nullable(Type.String(), { description: '`<error_type>: <first line of error_message>`.' }),
      }),
      { description: 'The newest failed, timed_out or lost run, whatever the window.' },
    ),
    mtbf_seconds: Seconds('Mean time between failures in the window: (last − first) / (failures − 1); null with fewer than two.'),
    sla: Type.Object(
      {
        on_time: Count,
        late: Count,
        missed: Count,
        skipped: Count,
        on_time_share: Nullable(Type.Number({ minimum: 0, maximum: 1 }), { description: 'on_time / (on_time + late + missed).' }),
      },
      { description: 'Schedule slots in the window: on time when the run started within 60 s of the slot, else late.' },
    ),
    buckets: Type.Optional(Type.Array(Type.Object({
      start: DateTime,
      runs: Count,
      succeeded: Count,
      failed: Type.Integer({ minimum: 0, description: 'failed, timed_out or lost.' }),
      p95_duration_seconds: Seconds('95th percentile of the durations in the bucket.'),
    }), { description: 'With `bucket`: per UTC hour or day of the window, oldest first, empty ones included.' })),
    metric: Type.Optional(Type.Object({
      name: Type.String(),
      bucket: StringEnum(STATS_BUCKETS),
      buckets: Type.Array(Type.Object({
        start: DateTime,
        count: Count,
        avg: Nullable(Type.Number()),
        min: Nullable(Type.Number()),
        max: Nullable(Type.Number()),
      })),
    }, { description: 'With `metric`: the numeric value the runs reported under that name, per bucket (`bucket`, else 1d).' })),
  },
  { title: 'JobStats' },
);

const WindowParam = StringEnum(STATS_WINDOWS, { description: 'The window ending now.', default: '30d' });

const JobStatsQuery = Type.Object(
  {
    window: Type.Optional(WindowParam),
    bucket: Type.Optional(StringEnum(STATS_BUCKETS, { description: 'Add `buckets`: the window per UTC hour or day.' })),
    metric: Type.Optional(Type.String({
      minLength: 1, maxLength: 200, description: 'Add `metric`: the trend of this value of runs.metrics (e.g. rows_read).',
    })),
  },
  { additionalProperties: false },
);

const AllStatsQuery = Type.Object({ window: Type.Optional(WindowParam) }, { additionalProperties: false });

/** GET /jobs/{name}/stats and GET /stats (scope read). */
export async function statsRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get(
    '/jobs/:name/stats',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['stats'],
        summary: 'One job’s stats over a window: runs by status, success rate, durations, streak, SLA',
        params: Type.Object({ name: Type.String({ minLength: 1, description: 'The job name.' }) }),
        querystring: JobStatsQuery,
        response: { 200: JobStatsSchema, ...errorResponses(400, 401, 404, 500) },
      },
    },
    async (request) => {
      const { window = '30d', bucket, metric } = request.query;
      const stats = await jobStats(deps.db, request.params.name, { window, bucket, metric });
      if (!stats) throw new NotFoundError('job', request.params.name);
      return stats;
    },
  );

  api.get(
    '/stats',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['stats'],
        summary: 'Every job’s stats over a window (the health table)',
        querystring: AllStatsQuery,
        response: { 200: Type.Object({ window: StringEnum(STATS_WINDOWS), jobs: Type.Array(JobStatsSchema) }), ...errorResponses(400, 401, 500) },
      },
    },
    async (request) => {
      const window = request.query.window ?? '30d';
      return { window, jobs: await allJobStats(deps.db, { window }) };
    },
  );
}
