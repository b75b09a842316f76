import type { Db } from '../runlog/db.ts';
import { findRunsByPrefix, getRun, listRuns } from '../runlog/sql/runs.ts';
import { readRunEvents } from '../runlog/sql/run-logs.ts';
import { listRunNotifications } from '../runlog/sql/notifications.ts';
import { RUN_STATUSES, type RunStatus } from '../runlog/types.ts';
import { isUuid } from '../runlog/uuidv7.ts';
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
      ['RUN ID', 'JOB', 'STATUS', 'TRIGGER', 'CREATED', 'DURATION', 'EXIT', 'ERROR'],
      runs.map((run) => [
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

/** Resolves a full run id or a unique prefix of one (as printed by `kubescribe runs`). */
export async function resolveRunId(db: Db, given: string): Promise<string> {
  if (isUuid(given)) return given.toLowerCase();
  if (!/^[0-9a-f-]{4,36}$/i.test(given)) throw new UsageError(`${given}: expected a run id (a UUID, or at least its first 4 characters)`);
  const matches = await findRunsByPrefix(db, given, 2);
  if (matches.length === 0) throw new UsageError(`no run with an id starting ${given}`);
  if (matches.length > 1) throw new UsageError(`${given} matches more than one run; give more of the id`);
  return matches[0]!;
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
