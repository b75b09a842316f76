// The run source over the KubeScribe API (GET /runs, /runs/{id}, /events, /logs; POST /jobs/{name}/suspend|resume).
import type { RunEvent, RunRecord } from '../runlog/types.ts';
import { followLogs, readLogs, type ApiClient } from './api-client.ts';
import type { RenderableNotification } from './render-run.ts';
import type { RunSource, SourceRun } from './run-source.ts';

/** A run as the API returns it: the RunLog's fields with dates as ISO strings, plus its duration. */
export type ApiRun = { [K in keyof RunRecord]: RunRecord[K] extends Date | null ? string | null : RunRecord[K] } & { duration_ms?: number | null };
type ApiEvent = Omit<RunEvent, 'at'> & { at: string };

// The API's largest page: prefixes are matched among this many of the newest runs.
const PREFIX_WINDOW = 500;

/** The path of a run, or of one of its sub-resources. */
export const runPath = (id: string, rest = '') => `/runs/${encodeURIComponent(id)}${rest}`;

/** A run source that asks the API through `client`. */
export function apiRunSource(client: ApiClient): RunSource {
  return {
    kind: 'api',
    async findRunsByPrefix(prefix, limit) {
      const { runs } = await client.get<{ runs: ApiRun[] }>('/runs', { limit: PREFIX_WINDOW });
      return runs.filter((run) => run.run_id.startsWith(prefix)).slice(0, limit).map((run) => run.run_id);
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
      const run = await client.get<ApiRun & { notifications?: RenderableNotification[] }>(runPath(runId));
      const { events } = await client.get<{ events: ApiEvent[] }>(runPath(runId, '/events'));
      return { run: run as SourceRun & { notifications?: RenderableNotification[] }, events };
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
  };
}
