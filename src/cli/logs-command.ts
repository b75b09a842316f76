import { readLogChunks } from '../runlog/sql/run-logs.ts';
import { getRun } from '../runlog/sql/runs.ts';
import { withRunLog, type CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import { resolveRunId } from './runs-command.ts';

/** `kubescribe logs <run_id>`: prints a run's stored output in order (stderr chunks to stderr with --split). */
export async function logsCommand(ctx: CliContext, id: string, options: { split?: boolean }): Promise<number> {
  await withRunLog(ctx, async (db) => {
    const runId = await resolveRunId(db, id);
    if (!(await getRun(db, runId))) throw new UsageError(`no run ${runId} in the RunLog`);
    let after = 0;
    for (;;) {
      const chunks = await readLogChunks(db, runId, after, 1000);
      for (const chunk of chunks) {
        const target = options.split && chunk.stream === 'stderr' ? ctx.stderr : ctx.stdout;
        if (!target.write(chunk.text)) await new Promise((resolve) => target.once('drain', resolve));
        after = chunk.seq;
      }
      if (chunks.length < 1000) break;
    }
  });
  return 0;
}
