// `kubescribe run`: the runner, the entrypoint of every job's process. Loaded only by that command.
import { openRunLogDb } from '../runlog/open-runlog.ts';
import type { Trigger } from '../runlog/types.ts';
import { podRunOptions } from '../runner/pod-context.ts';
import { runCommand } from '../runner/runner.ts';
import { loadCliConfig, type CliContext } from './context.ts';

/** The options of `kubescribe run` as commander parses them. */
export interface RunOptions {
  job?: string;
  runId?: string;
  param: string[];
  config?: string;
  timeout?: number;
  grace?: number;
  heartbeat?: number;
  logCap?: number;
  flushTimeout?: number;
  trigger?: string;
  triggeredBy?: string;
  quiet?: boolean;
}

/** Runs `command` under the runner as a recorded run; returns the exit code to exit with. */
export async function runJobCommand(ctx: CliContext, command: string[], options: RunOptions): Promise<number> {
  const config = await loadCliConfig(ctx, options.config);
  const trigger = options.trigger ?? ctx.env.trigger ?? 'manual';
  return runCommand({
    command,
    job: options.job ?? ctx.env.job,
    runId: options.runId ?? ctx.env.runId,
    params: options.param,
    trigger: trigger as Trigger,
    triggeredBy: options.triggeredBy ?? ctx.env.triggeredBy ?? ctx.env.user,
    config,
    home: ctx.env.home,
    // Threaded: the runner's event loop must stay free to read the child's pipes in order.
    openDb: () => openRunLogDb(ctx.env, { threaded: true }),
    timeoutMs: options.timeout,
    graceMs: options.grace,
    heartbeatMs: options.heartbeat,
    logCapBytes: options.logCap,
    flushTimeoutMs: options.flushTimeout,
    passEnv: ctx.env.passEnv,
    quiet: Boolean(options.quiet),
    stdout: ctx.stdout,
    stderr: ctx.stderr,
    ...podRunOptions(ctx.env.pod, options.job ?? ctx.env.job, trigger),
  });
}
