// `kubescribe migrate` and `kubescribe flush`: the commands that only open the RunLog.
import { migrate } from '../runlog/migrate.ts';
import { openRunLogDb } from '../runlog/open-runlog.ts';
import { syncJobs } from '../runlog/sync-jobs.ts';
import { loadCliConfig, openCliRunLog, type CliContext } from './context.ts';

/** `kubescribe migrate`: creates or upgrades the schema and records the config's job definitions. */
export async function migrateCommand(ctx: CliContext, options: { config?: string }): Promise<number> {
  const config = await loadCliConfig(ctx, options.config);
  const db = await openRunLogDb(ctx.env, { migrate: false });
  try {
    const result = await migrate(db);
    ctx.stdout.write(
      result.applied.length
        ? `RunLog at ${db.location}: applied ${result.applied.join(', ')}; schema version ${result.to}\n`
        : `RunLog at ${db.location}: schema version ${result.to}, up to date\n`,
    );
    if (config.file) {
      const synced = await syncJobs(db, config);
      ctx.stdout.write(`jobs from ${config.file}: ${synced.map((job) => `${job.name} (revision ${job.revision})`).join(', ') || 'none'}\n`);
    }
  } finally {
    await db.close();
  }
  return 0;
}

/** `kubescribe flush`: opening the RunLog writes what runners spooled on disk. */
export async function flushCommand(ctx: CliContext): Promise<number> {
  const db = await openCliRunLog(ctx);
  await db.close();
  return 0;
}
