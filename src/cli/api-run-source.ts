// The run source over the KubeScribe API (GET /runs, /runs/{id}, /events, /logs; POST /jobs/{name}/suspend|resume).
import type { RunEvent, RunRecord } from '../runlog/types.ts';
import { ApiClientError, type ApiClient } from '../api-client/api-client.ts';
import { followLogs, readLogs } from './api-logs.ts';
import { UsageError } from './errors.ts';
import type { RenderableNotification, RenderableRetry } from './render-run.ts';
import type { RunSource, SourceRun } from './run-source.ts';
import type { JobStats } from '../reports/stats.ts';

/** A run as the API returns it: the RunLog's fields with dates as ISO strings, plus its duration. */
export type ApiRun = { [K in keyof RunRecord]: RunRecord[K] extends Date | null ? string | null : RunRecord[K] } & { duration_ms?: number | null };
type ApiEvent = Omit<RunEvent, 'at'> & { at: string };

/** The path of a run, or of one of its sub-resources. */
export const runPath = (id: string, rest = '') => `/runs/${encodeURIComponent(id)}${rest}`;

/** A run source that asks the API through `client`. */
export function apiRunSource(client: ApiClient): RunSource {
  return {
    kind: 'api',
    async resolveRunRef(ref) {
      // The server resolves numbers and prefixes over the whole RunLog, as the RunLog path does.
      try {
        return (await client.get<{ run_id: string }>(runPath(ref))).run_id;
      } catch (error) {
        if (error instanceof ApiClientError && (error.code === 'run_not_found' || error.code === 'ambiguous_run_ref')) throw new UsageError(error.message);
        throw error;
      }
    },
    async listRuns(filter) {
      const { runs } = await client.get<{ runs: ApiRun[] }>('/runs', {
        job: filter.job,
        status: filter.status,
        trigger: filter.trigger,
        label: filter.label ? `${filter.label.key}=${filter.label.value}` : undefined,
        since: filter.since?.toISOString(),
        until: filter.until?.toISOString(),
        limit: filter.limit,
      });
      return runs;
    },
    async showRun(runId) {
      const run = await client.get<ApiRun & { notifications?: RenderableNotification[]; retry?: RenderableRetry | null }>(runPath(runId));
      const { events } = await client.get<{ events: ApiEvent[] }>(runPath(runId, '/events'));
      return { run: run as SourceRun & { notifications?: RenderableNotification[]; retry?: RenderableRetry | null }, events };
    },
    async readLog(runId, onChunk) {
      await readLogs(client, runId, 0, onChunk);
    },
    async followLog(runId, onChunk) {
      await followLogs(client, runId, 0, onChunk);
    },
    async setSuspended(job, suspended, reason) {
      const answer = await client.post<{ action?: { executor?: { applied: boolean; message: string | null } } }>(
        `/jobs/${encodeURIComponent(job)}/${suspended ? 'suspend' : 'resume'}`,
        reason === null ? {} : { reason },
      );
      const executor = answer?.action?.executor;
      return { answer, changed: null, note: executor && !executor.applied ? executor.message : null };
    },
    async jobStats(job, window) {
      try {
        return await client.get<JobStats>(`/jobs/${encodeURIComponent(job)}/stats`, { window });
      } catch (error) {
        if (error instanceof ApiClientError && error.code === 'job_not_found') throw new UsageError(error.message);
        throw error;
      }
    },
    async allJobStats(window) {
      return (await client.get<{ jobs: JobStats[] }>('/stats', { window })).jobs;
    },
  };
}
