// Where the read commands (runs, runs show, logs, report) and suspend / resume get their answers: the
// KubeScribe API when a server is known, else the RunLog itself. Each command is written once
// against this interface; api-run-source.ts and runlog-run-source.ts are its two implementations.
import type { RunQuery } from '../runlog/sql/run-queries.ts';
import type { JobStats, StatsWindow } from '../reports/stats.ts';
import type { ServerFlags } from './api-target.ts';
import type { CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import { InvalidRunRefError, parseRunRef } from '../runlog/run-ref.ts';
import type { RenderableEvent, RenderableNotification, RenderableRetry, RenderableRun } from './render-run.ts';
import { resolveServer } from './server-file.ts';

/** A run from either source; the API adds its duration. */
export type SourceRun = RenderableRun & { duration_ms?: number | null };

/** What `kubescribe runs` filters on (the RunLog's list filters, one page); every given filter must hold. */
export type RunListFilter = Omit<RunQuery, 'before' | 'limit'> & { limit: number };

/** One stored piece of a run's output. */
export interface SourceLogChunk {
  seq: number;
  stream: 'stdout' | 'stderr' | 'system';
  text: string;
}

/** What a suspend or resume did. */
export interface SuspendOutcome {
  /** The answer as the source gave it, for --json. */
  answer: unknown;
  /** False when the job already was so; null when the source does not say. */
  changed: boolean | null;
  /** Anything the person should know, e.g. that a CronJob could not be patched yet. */
  note: string | null;
}

/** The RunLog as the CLI reads it, through the API or straight from the database. */
export interface RunSource {
  /** Which one this is: some messages differ (how to start a run, what `logs -f` needs). */
  readonly kind: 'api' | 'runlog';
  /** The run id a run reference names (src/runlog/run-ref.ts); a UsageError saying why when none or several. */
  resolveRunRef(ref: string): Promise<string>;
  /** Runs newest first matching `filter`. */
  listRuns(filter: RunListFilter): Promise<SourceRun[]>;
  /** One run with its notification deliveries, its automatic retry and events; a UsageError when there is none. */
  showRun(runId: string): Promise<{ run: SourceRun & { notifications?: RenderableNotification[]; retry?: RenderableRetry | null }; events: RenderableEvent[] }>;
  /** Calls `onChunk` for every stored chunk of the run's log, in order. */
  readLog(runId: string, onChunk: (chunk: SourceLogChunk) => Promise<void>): Promise<void>;
  /** Like readLog, then goes on until the run ends. */
  followLog(runId: string, onChunk: (chunk: SourceLogChunk) => Promise<void>): Promise<void>;
  /** Suspends or resumes a job's schedule; a UsageError for an unknown job. */
  setSuspended(job: string, suspended: boolean, reason: string | null): Promise<SuspendOutcome>;
  /** One job's stats over the window (GET /jobs/{name}/stats); a UsageError for an unknown job. */
  jobStats(job: string, window: StatsWindow): Promise<JobStats>;
  /** Every job's stats over the window, by name (GET /stats). */
  allJobStats(window: StatsWindow): Promise<JobStats[]>;
}

/** The run a person means by `ref` (a run id, `job#N`, or a unique id prefix): the one place the CLI resolves run references. */
export function resolveRun(source: RunSource, ref: string): Promise<string> {
  // Malformed references are refused here, before any request or query.
  const parsed = parseRunRef(ref);
  if (parsed === null) return Promise.reject(new UsageError(new InvalidRunRefError(ref).message));
  if (parsed.kind === 'id') return Promise.resolve(parsed.runId);
  return source.resolveRunRef(ref);
}

/**
 * Runs `fn` on the API when a server is configured (flags, KUBESCRIBE_SERVER, or a running
 * `kubescribe dev`), else on the RunLog. `apiOnly`: the usage error to give when there is no server.
 */
export async function withRunSource(
  ctx: CliContext,
  flags: ServerFlags,
  fn: (source: RunSource) => Promise<number>,
  apiOnly?: string,
): Promise<number> {
  const target = resolveServer(ctx.env, flags);
  // Each source loads its own modules: the API path never loads a database driver.
  if (target) {
    const [{ withApi }, { apiRunSource }] = await Promise.all([import('./api-target.ts'), import('./api-run-source.ts')]);
    return withApi(ctx, target, (client) => fn(apiRunSource(client)));
  }
  if (apiOnly) throw new UsageError(apiOnly);
  const [{ withRunLog }, { runLogRunSource }] = await Promise.all([import('./context.ts'), import('./runlog-run-source.ts')]);
  return withRunLog(ctx, (db) => fn(runLogRunSource(db, ctx)));
}
