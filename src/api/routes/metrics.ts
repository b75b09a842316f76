// GET /metrics (scope read): the Prometheus text exposition of the RunLog's reporting numbers
// (docs/reporting.md#prometheus-metrics). Values come from the RunLog, so every replica answers the
// same; one snapshot is read at most every 5 s and shared by the scrapes that ask meanwhile, so
// however many Prometheus servers scrape however many replicas, the RunLog sees a few small queries.
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { ApiDeps, RouteGroup } from '../app.ts';
import { errorResponses } from '../schemas.ts';
import { TriggerTimer } from '../trigger-timer.ts';
import type { KubescribeConfig } from '../../config/job-definition.ts';
import { readMetricsSnapshot, type MetricsSnapshot } from '../../reports/metrics-snapshot.ts';
import { longestScheduleGapSeconds } from '../../scheduler/schedule-interval.ts';

/** How long a snapshot is served before the RunLog is read again. */
export const SNAPSHOT_TTL_MS = 5000;

/** GET /metrics, with the snapshot kept `snapshotTtlMs` (tests use 0 to see every change at once). */
export function metricsRouteGroup({ snapshotTtlMs = SNAPSHOT_TTL_MS } = {}): RouteGroup {
  return (app, deps) => registerMetrics(app, deps, snapshotTtlMs);
}

/** GET /metrics as `serve` and `dev` register it. */
export const metricsRoutes: RouteGroup = metricsRouteGroup();

async function registerMetrics(app: FastifyInstance, deps: ApiDeps, snapshotTtlMs: number): Promise<void> {
  const triggers = new TriggerTimer(app.server);
  app.addHook('onClose', async () => triggers.stop());
  const snapshots = new SnapshotCache(() => readMetricsSnapshot(deps.db), snapshotTtlMs);

  app.get(
    '/metrics',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['metrics'],
        summary: 'Prometheus metrics, read from the RunLog',
        description:
          'The Prometheus text format (version 0.0.4). Counters and gauges come from the RunLog, so every replica reports '
          + 'the same values; `kubescribe_trigger_duration_seconds` alone is per process. Refreshed at most every 5 s. '
          + 'Give Prometheus a token of scope read (`authorization: {credentials_file: ...}`); see docs/reporting.md.',
        // Prometheus may add `params:` to its scrapes; none is known here, and an unknown one is a 400 naming it.
        querystring: Type.Object({}, { additionalProperties: false }),
        response: {
          200: { description: 'The metrics', content: { 'text/plain': { schema: Type.String() } } },
          ...errorResponses(401, 403, 503),
        },
      },
    },
    async (_request, reply) => {
      const snapshot = await snapshots.get();
      // prom-client is loaded by the first scrape, never at start-up.
      const { renderMetrics } = await import('../../reports/prometheus-metrics.ts');
      const { contentType, body } = await renderMetrics(snapshot, {
        scheduleIntervals: scheduleIntervals(deps.config),
        triggerDurations: triggers.snapshot(),
      });
      return reply.header('cache-control', 'no-store').type(contentType).send(body);
    },
  );
}

function scheduleIntervals(config: KubescribeConfig): Array<{ job_name: string; seconds: number }> {
  return [...config.jobs.values()].flatMap((job) => {
    if (!job.schedule) return [];
    const seconds = longestScheduleGapSeconds(job.schedule, job.time_zone);
    return seconds === null ? [] : [{ job_name: job.name, seconds }];
  });
}

/**
 * The last snapshot for `ttlMs`, and one read shared by every caller while it is in flight. A failed
 * read is not kept: the callers waiting for it get its error (503 when the RunLog is down) and the
 * next scrape reads again.
 */
export class SnapshotCache {
  private last: { at: number; snapshot: MetricsSnapshot } | null = null;
  private reading: Promise<MetricsSnapshot> | null = null;

  constructor(private readonly read: () => Promise<MetricsSnapshot>, private readonly ttlMs: number, private readonly now = () => Date.now()) {}

  /** The cached snapshot while fresh, else the one being read, else a new read. */
  get(): Promise<MetricsSnapshot> {
    if (this.last && this.now() - this.last.at < this.ttlMs) return Promise.resolve(this.last.snapshot);
    this.reading ??= this.read().then(
      (snapshot) => {
        this.last = { at: this.now(), snapshot };
        this.reading = null;
        return snapshot;
      },
      (error: unknown) => {
        this.reading = null;
        throw error;
      },
    );
    return this.reading;
  }
}
