// `kubescribe run`: the runner, the entrypoint of every job's process. Loaded only by that command.
import type { Trigger } from '../runlog/types.ts';
import { podRunOptions } from '../runner/pod-context.ts';
import type { RecordSink } from '../runner/record-sink.ts';
import { runCommand } from '../runner/runner.ts';
import { loadCliConfig, type CliContext } from './context.ts';
import { chooseRunnerSink } from './runner-sink.ts';
import { spawnFlusher, writesBehind } from './spool-flusher.ts';
import { spoolFileOf } from '../runner/recorder.ts';
import { SpoolSink } from '../runner/spool-sink.ts';
import { uuidv7 } from '../runlog/uuidv7.ts';
import { timing } from '../util/timing.ts';

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
  timing('run command loaded');
  const config = await loadCliConfig(ctx, options.config);
  const trigger = options.trigger ?? ctx.env.trigger ?? 'manual';
  const choice = chooseRunnerSink(ctx.env);
  const runId = options.runId ?? ctx.env.runId;
  let sink: RecordSink;
  let behind: SpoolSink | null = null;
  let newRunId: string | undefined;
  if (choice.kind === 'api') {
    const { ApiSink } = await import('../runner/api-sink.ts');
    sink = new ApiSink({ url: choice.url, credential: choice.credential });
  } else if (writesBehind(ctx.env, runId !== null && runId !== undefined)) {
    // The embedded RunLog, no server: the run goes to its spool and a detached flusher imports it
    // (spool-sink.ts says why), so the job never waits ~0.9 s of CPU for PGlite to open.
    behind = new SpoolSink(spoolFileOf(ctx.env.home, (newRunId = uuidv7())));
    sink = behind;
  } else {
    // Loaded only on this path: the database engines are most of the runner's start-up cost.
    const [{ openRunLogDb }, { RunLogSink }] = await Promise.all([import('../runlog/open-runlog.ts'), import('../runner/runlog-sink.ts')]);
    // Threaded: the runner's event loop must stay free to read the child's pipes in order.
    // Pipelined: a batch of records is one round trip to PostgreSQL, not one per statement.
    sink = new RunLogSink({ open: () => openRunLogDb(ctx.env, { threaded: true, pipeline: true }) });
  }
  timing(`sink chosen: ${behind ? 'spool' : choice.kind}`);
  const code = await runCommand({
    command,
    job: options.job ?? ctx.env.job,
    runId: runId ?? null,
    newRunId,
    params: options.param,
    trigger: trigger as Trigger,
    triggeredBy: options.triggeredBy ?? ctx.env.triggeredBy ?? ctx.env.user,
    config,
    home: ctx.env.home,
    sink,
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
  if (behind?.hasRecords) {
    spawnFlusher(ctx.env);
    timing('flusher started');
  }
  return code;
}
