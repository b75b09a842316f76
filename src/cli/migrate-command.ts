// `kubescribe migrate` and `kubescribe flush`: the commands that only open the RunLog.
import { migrateRunLog, openRunLogDb } from '../runlog/open-runlog.ts';
import { syncJobs } from '../runlog/sync-jobs.ts';
import { loadCliConfig, openCliRunLog, type CliContext } from './context.ts';
import { chooseRunnerSink } from './runner-sink.ts';

/** `kubescribe migrate`: creates or upgrades the schema and records the config's job definitions. */
export async function migrateCommand(ctx: CliContext, options: { config?: string }): Promise<number> {
  const config = await loadCliConfig(ctx, options.config);
  const db = await openRunLogDb(ctx.env, { migrate: false });
  try {
    const result = await migrateRunLog(db, ctx.env);
    ctx.stdout.write(
      result.applied.length
        ? `RunLog at ${db.location}: applied ${result.applied.join(', ')}; schema version ${result.to}\n`
        : `RunLog at ${db.location}: schema version ${result.to}, up to date\n`,
    );
    // Spools before the config's definitions, as every command that opens the RunLog writes them first:
    // a spooled run's job sync imported after this one would make the older definition current.
    const { flushSpools, spoolDirectory } = await import('../runner/runlog-sink.ts');
    await flushSpools(db, spoolDirectory(ctx.env.home), (line) => ctx.stderr.write(`${line}\n`));
    if (config.file) {
      const synced = await syncJobs(db, config);
      ctx.stdout.write(`jobs from ${config.file}: ${synced.map((job) => `${job.name} (revision ${job.revision})`).join(', ') || 'none'}\n`);
    }
  } finally {
    await db.close();
  }
  return 0;
}

/**
 * `kubescribe flush`: writes what runners spooled on disk. Through the running `kubescribe dev` for
 * this RunLog (or KUBESCRIBE_API_URL) when there is one, which holds the embedded RunLog; else by
 * opening the RunLog, which flushes the spools first.
 */
export async function flushCommand(ctx: CliContext): Promise<number> {
  const choice = chooseRunnerSink(ctx.env);
  if (choice.kind === 'direct') {
    const db = await openCliRunLog(ctx);
    await db.close();
    return 0;
  }
  const [{ ApiSink }, { flushSpoolsTo, spoolDirectory }] = await Promise.all([import('../runner/api-sink.ts'), import('../runner/recorder.ts')]);
  const sink = new ApiSink({ url: choice.url, credential: choice.credential });
  try {
    await flushSpoolsTo(sink, spoolDirectory(ctx.env.home), (line) => ctx.stderr.write(`${line}\n`));
    return 0;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    ctx.stderr.write(`kubescribe: flush: ${sink.description} is unreachable (${reason}); the spooled records stay on disk, run kubescribe flush again later\n`);
    return 1;
  }
}
