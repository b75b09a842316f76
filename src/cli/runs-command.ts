import type { Db } from '../runlog/db.ts';
import { getRun } from '../runlog/sql/runs.ts';
import { listRuns } from '../runlog/sql/run-queries.ts';
import { readRunEvents } from '../runlog/sql/run-logs.ts';
import { listRunNotifications } from '../runlog/sql/notification-deliveries.ts';
import { RUN_STATUSES, type RunStatus } from '../runlog/types.ts';
import { AmbiguousRunRefError, InvalidRunRefError, resolveRunRef, RunRefNotFoundError, runLabel } from '../runlog/run-ref.ts';
import { withRunLog, type CliContext } from './context.ts';
import { json, runDuration, table, when } from './format.ts';
import { renderRun } from './render-run.ts';
import { UsageError } from './errors.ts';

export interface RunsOptions {
  job?: string;
  status?: string;
  limit?: string;
  json?: boolean;
}

/** `kubescribe runs`: the newest runs as a table (or JSON). */
export async function runsCommand(ctx: CliContext, options: RunsOptions): Promise<number> {
  if (options.status && !RUN_STATUSES.includes(options.status as RunStatus)) {
    throw new UsageError(`--status ${options.status}: expected one of ${RUN_STATUSES.join(', ')}`);
  }
  const limit = options.limit === undefined ? 20 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
    throw new UsageError(`--limit ${options.limit}: expected a whole number from 1 to 500`);
  }
  const runs = await withRunLog(ctx, (db) =>
    listRuns(db, { job: options.job, status: options.status as RunStatus | undefined, limit }),
  );
  if (options.json) {
    ctx.stdout.write(json(runs));
    return 0;
  }
  if (runs.length === 0) {
    ctx.stdout.write('No runs recorded yet. Start one with: kubescribe run --job <name> -- <command>\n');
    return 0;
  }
  ctx.stdout.write(
    table(
      ['RUN', 'RUN ID', 'JOB', 'STATUS', 'TRIGGER', 'CREATED', 'DURATION', 'EXIT', 'ERROR'],
      runs.map((run) => [
        runLabel(run),
        run.run_id,
        run.job,
        run.status,
        run.trigger,
        when(run.created_at),
        runDuration(run),
        run.exit_code === null ? (run.signal ?? '-') : String(run.exit_code),
        run.error_type ? `${run.error_type}: ${(run.error_message ?? '').split('\n')[0]!.slice(0, 60)}` : '',
      ]),
    ),
  );
  return 0;
}

/** The run id a CLI argument names (src/runlog/run-ref.ts), or a UsageError saying why there is none. */
export async function resolveRunId(db: Db, given: string): Promise<string> {
  try {
    return await resolveRunRef(db, given);
  } catch (error) {
    if (error instanceof InvalidRunRefError || error instanceof RunRefNotFoundError || error instanceof AmbiguousRunRefError) {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

/** `kubescribe runs show <run_id>`: one run in full, with its events. */
export async function runsShowCommand(ctx: CliContext, id: string, options: { json?: boolean }): Promise<number> {
  const result = await withRunLog(ctx, async (db) => {
    const runId = await resolveRunId(db, id);
    const run = await getRun(db, runId);
    if (!run) throw new UsageError(`no run ${runId} in the RunLog`);
    return { run: { ...run, notifications: await listRunNotifications(db, runId) }, events: await readRunEvents(db, runId) };
  });
  if (options.json) {
    ctx.stdout.write(json({ ...result.run, events: result.events }));
    return 0;
  }
  ctx.stdout.write(renderRun(result.run, result.events, runDuration(result.run)));
  return 0;
}
