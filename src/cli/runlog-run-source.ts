// The run source straight from the RunLog, for when no server is known (the database is reachable
// from here: DATABASE_URL, or the embedded RunLog no server holds).
import type { Db } from '../runlog/db.ts';
import { setJobSuspended, syncJobDefinition } from '../runlog/sql/jobs.ts';
import { listRunNotifications } from '../runlog/sql/notification-deliveries.ts';
import { readLogChunks, readRunEvents } from '../runlog/sql/run-logs.ts';
import { listRuns } from '../runlog/sql/run-queries.ts';
import { getRunRetry } from '../runlog/sql/run-retries.ts';
import { getRun } from '../runlog/sql/runs.ts';
import { runLogState } from '../runlog/sql/retention.ts';
import { logPrunedMessage } from '../runlog/retention.ts';
import { AmbiguousRunRefError, InvalidRunRefError, resolveRunRef, RunRefNotFoundError } from '../runlog/run-ref.ts';
import { jobSyncOf } from '../runlog/sync-jobs.ts';
import { loadCliConfig, type CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import type { RunSource } from './run-source.ts';

const LOG_PAGE = 1000;

/** A run source that queries `db`; `ctx` gives the actor of suspend / resume and the config file. */
export function runLogRunSource(db: Db, ctx: CliContext): RunSource {
  return {
    kind: 'runlog',
    async resolveRunRef(ref) {
      try {
        return await resolveRunRef(db, ref);
      } catch (error) {
        if (error instanceof InvalidRunRefError || error instanceof RunRefNotFoundError || error instanceof AmbiguousRunRefError) throw new UsageError(error.message);
        throw error;
      }
    },
    async listRuns(filter) {
      // The API's list query, so both paths filter alike; its keyset column is for paging only.
      const rows = await listRuns(db, filter);
      return rows.map(({ cursor_at: _cursor, ...run }) => run);
    },
    async showRun(runId) {
      const run = await getRun(db, runId);
      if (!run) throw new UsageError(`no run ${runId} in the RunLog`);
      const retry = await getRunRetry(db, runId);
      return {
        run: {
          ...run,
          notifications: await listRunNotifications(db, runId),
          // The API's shape (RunRetry), so that both sources render alike.
          retry: retry && { state: retry.state, attempt: retry.attempt, limit: retry.retry_limit, due_at: retry.due_at, retry_run_id: retry.retry_run_id, reason: retry.reason },
        },
        events: await readRunEvents(db, runId),
      };
    },
    async readLog(runId, onChunk) {
      const state = await runLogState(db, runId);
      if (!state) throw new UsageError(`no run ${runId} in the RunLog`);
      const pruned = logPrunedMessage(runId, state, undefined);
      if (pruned) throw new Error(pruned);
      let after = 0;
      for (;;) {
        const chunks = await readLogChunks(db, runId, after, LOG_PAGE);
        for (const chunk of chunks) {
          await onChunk(chunk);
          after = chunk.seq;
        }
        if (chunks.length < LOG_PAGE) return;
      }
    },
    followLog() {
      // withRunSource refuses `logs -f` before opening the RunLog; this is the backstop.
      return Promise.reject(new UsageError('logs -f follows a live run through the KubeScribe API'));
    },
    async jobStats(job, window) {
      const { jobStats } = await import('../reports/stats.ts');
      const stats = await jobStats(db, job, { window });
      if (!stats) throw new UsageError(`no job ${job} in the RunLog`);
      return stats;
    },
    async allJobStats(window) {
      const { allJobStats } = await import('../reports/stats.ts');
      return allJobStats(db, { window });
    },
    async setSuspended(job, suspended, reason) {
      const audit = { actor: ctx.env.user, reason };
      let result = await setJobSuspended(db, job, suspended, audit);
      if (!result.found) {
        // Declared in kubescribe.yaml but not recorded yet (no server or migrate has run since): record it, as the API does.
        const config = await loadCliConfig(ctx, undefined);
        const definition = config.jobs.get(job);
        if (!definition) throw new UsageError(`no job ${job} in the RunLog or in ${config.file ?? 'kubescribe.yaml'}`);
        await syncJobDefinition(db, jobSyncOf(definition, config.file));
        result = await setJobSuspended(db, job, suspended, audit);
      }
      return {
        answer: { name: job, suspended, changed: result.changed },
        changed: result.changed,
        // Without a server nobody patches a CronJob now; the Kubernetes reconciler does on its next pass.
        note: null,
      };
    },
  };
}
