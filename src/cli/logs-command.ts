// `kubescribe logs [-f]`, written once over a run source (API or RunLog).
import type { CliContext } from './context.ts';
import { resolveRun, type RunSource, type SourceLogChunk } from './run-source.ts';

/** Writes a chunk to stdout (or stderr with `split`), waiting when the pipe is full. */
export async function writeChunk(ctx: Pick<CliContext, 'stdout' | 'stderr'>, chunk: SourceLogChunk, split?: boolean): Promise<void> {
  const target = split && chunk.stream === 'stderr' ? ctx.stderr : ctx.stdout;
  if (!target.write(chunk.text)) await new Promise((resolve) => target.once('drain', resolve));
}

/** `kubescribe logs <run>`: the run's stored output in order (stderr chunks to stderr with --split); with --follow, until it ends. */
export async function logsCommand(ctx: Pick<CliContext, 'stdout' | 'stderr'>, source: RunSource, ref: string, options: { split?: boolean; follow?: boolean }): Promise<number> {
  const runId = await resolveRun(source, ref);
  const write = (chunk: SourceLogChunk) => writeChunk(ctx, chunk, options.split);
  if (options.follow) await source.followLog(runId, write);
  else await source.readLog(runId, write);
  return 0;
}
