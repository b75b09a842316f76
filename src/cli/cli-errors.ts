// How an error that reaches the top of a command becomes one clear line and an exit code. Apart from
// cli-root.ts (which adds commander's own errors) so that `kubescribe run`'s fast path (run-main.ts),
// which never loads commander, reports its errors exactly as the full CLI does.
import type { CliContext } from './context.ts';
import { UsageError } from './errors.ts';

/** Says what went wrong on stderr and returns the exit code: 2 for usage and config errors, else 1. */
export async function reportCliError(ctx: CliContext, error: unknown): Promise<number> {
  const say = (message: string) => ctx.stderr.write(`kubescribe: ${message}\n`);
  if (error instanceof UsageError) {
    say(error.message);
    return 2;
  }
  // The other error classes are imported on the way out, so recognising them costs nothing at start-up.
  const [{ ConfigError }, { RunLogTooNewError }, { RunLogBusyError }, { isUnreachable }, { redactUrl }] = await Promise.all([
    import('../config/job-definition.ts'),
    import('../runlog/migrate.ts'),
    import('../runlog/pglite-lock.ts'),
    import('../runlog/connectivity.ts'),
    import('../runlog/db.ts'),
  ]);
  if (error instanceof ConfigError) {
    ctx.stderr.write(`${error.message}\n`);
    return 2;
  }
  if (error instanceof RunLogBusyError || error instanceof RunLogTooNewError) {
    say(error.message);
    return 1;
  }
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    say(`${(error as Error).message}: another server uses that port; pass --port to choose another`);
    return 1;
  }
  if (isUnreachable(error)) {
    const where = ctx.env.databaseUrl ? redactUrl(ctx.env.databaseUrl) : 'the embedded RunLog';
    say(`cannot reach the RunLog at ${where}: ${(error as Error).message || (error as NodeJS.ErrnoException).code}`);
    return 1;
  }
  say(error instanceof Error ? error.message : String(error));
  return 1;
}
