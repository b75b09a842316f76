import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../config/job-definition.ts';
import { parseByteSize, parseDuration } from '../config/durations.ts';
import { migrate, RunLogTooNewError } from '../runlog/migrate.ts';
import { openRunLogDb } from '../runlog/open-runlog.ts';
import { RunLogBusyError } from '../runlog/pglite-engine.ts';
import { isUnreachable } from '../runlog/connectivity.ts';
import { redactUrl } from '../runlog/db.ts';
import { TRIGGERS, type Trigger } from '../runlog/types.ts';
import { runCommand } from '../runner/runner.ts';
import { syncJobs } from '../runlog/sync-jobs.ts';
import { loadCliConfig, openCliRunLog, processContext, type CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import { registerClientCommands, routeLogs, routeRuns, routeRunsShow, SERVER_HELP, TOKEN_HELP } from './client-commands.ts';
import { registerTokensCommand } from './tokens-command.ts';
import { registerNotifyCommand } from './notify-command.ts';
import { registerRenderCommand } from './render-command.ts';
import { registerApplyCommand } from './apply-command.ts';
import { podRunOptions } from '../runner/pod-context.ts';

const collect = (value: string, previous: string[]) => [...previous, value];
const duration = (flag: string) => (value: string) => {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
};

const durationOrZero = (flag: string) => (value: string) => {
  try {
    return parseDuration(value, { allowZero: true });
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
};

/** Builds the `kubescribe` command tree; `ctx` carries the environment and output streams. */
export function buildProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  const program = new Command('kubescribe')
    .description('Run batch jobs as recorded, observable, auditable runs.')
    .version('0.1.0')
    .showHelpAfterError()
    .enablePositionalOptions()
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) })
    .exitOverride();

  program
    .command('run')
    .description('run a command as a recorded run of a job: kubescribe run --job report -- python3 script.py')
    .argument('[command...]', "the command to run (after --); default: the job's command from kubescribe.yaml")
    .option('-j, --job <name>', 'job name (default: $KUBESCRIBE_JOB, else the one ad-hoc job "adhoc")')
    .option('--run-id <uuid>', 'adopt this queued run instead of creating one (default: $KUBESCRIBE_RUN_ID)')
    .option('-p, --param <key=value>', 'a run param, repeatable; validated against the job\'s params schema', collect, [])
    .option('-f, --config <file>', 'config file (default: ./kubescribe.yaml if present)')
    .option('--timeout <duration>', 'override the job\'s timeout, e.g. 15m', duration('--timeout'))
    .option('--grace <duration>', 'time between SIGTERM and SIGKILL (default: the job\'s grace_period, 10s)', duration('--grace'))
    .option('--heartbeat <duration>', 'heartbeat interval (default 10s)', duration('--heartbeat'))
    .option('--log-cap <size>', 'stored log cap per run, e.g. 10MB (output beyond it is passed through, not stored)', (value) => {
      try {
        return parseByteSize(value);
      } catch (error) {
        throw new UsageError(`--log-cap: ${(error as Error).message}`);
      }
    })
    .option('--flush-timeout <duration>', 'at exit, how long to wait for an unreachable RunLog (default 60s)', duration('--flush-timeout'))
    .addOption(new Option('--trigger <trigger>', 'what started this run').choices([...TRIGGERS]))
    .option('--triggered-by <who>', 'who started this run (default: $USER@host)')
    .option('-q, --quiet', 'print nothing of our own on stderr except errors')
    .passThroughOptions()
    .action(async (command: string[], options) => {
      const config = await loadCliConfig(ctx, options.config);
      setExit(
        await runCommand({
          command,
          job: options.job ?? ctx.env.job,
          runId: options.runId ?? ctx.env.runId,
          params: options.param,
          trigger: (options.trigger ?? ctx.env.trigger ?? 'manual') as Trigger,
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
          ...podRunOptions(ctx.env.pod, options.job ?? ctx.env.job, options.trigger ?? ctx.env.trigger ?? 'manual'),
        }),
      );
    });

  const runs = program
    .command('runs')
    .description('list recorded runs, newest first')
    .option('-j, --job <name>', 'only runs of this job')
    .option('-s, --status <status>', 'only runs in this status')
    .option('-n, --limit <n>', 'how many (1-500, default 20)')
    .option('--json', 'print JSON')
    .option('--server <url>', SERVER_HELP)
    .option('--token <token>', TOKEN_HELP)
    .action(async (options) => setExit(await routeRuns(ctx, options)));
  runs
    .command('show')
    .description('show one run in full, with its events')
    .argument('<run_id>', 'the run id (or a unique prefix of it)')
    .option('--json', 'print JSON')
    .option('--server <url>', SERVER_HELP)
    .option('--token <token>', TOKEN_HELP)
    .action(async (id: string, options) => setExit(await routeRunsShow(ctx, id, options)));

  program
    .command('logs')
    .description("print a run's stored output")
    .argument('<run_id>', 'the run id (or a unique prefix of it)')
    .option('--split', 'send the stderr chunks to stderr instead of stdout')
    .option('-f, --follow', 'keep printing until the run ends (through the API)')
    .option('--server <url>', SERVER_HELP)
    .option('--token <token>', TOKEN_HELP)
    .action(async (id: string, options) => setExit(await routeLogs(ctx, id, options)));

  // trigger, cancel, retry, jobs (over the API) and tokens (over the API when a server runs, else in the RunLog).
  registerClientCommands(program, ctx, setExit);
  registerTokensCommand(program, ctx, setExit);
  registerNotifyCommand(program, ctx, setExit);
  registerRenderCommand(program, ctx, setExit);
  registerApplyCommand(program, ctx, setExit);

  program
    .command('migrate')
    .description('create or upgrade the RunLog schema (also automatic), and record the job definitions of kubescribe.yaml')
    .option('-f, --config <file>', 'config file (default: ./kubescribe.yaml if present)')
    .action(async (options) => {
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
      setExit(0);
    });

  program
    .command('flush')
    .description('write records that runners buffered on disk while the RunLog was unreachable')
    .action(async () => {
      const db = await openCliRunLog(ctx);
      await db.close();
      setExit(0);
    });

  const integer = (flag: string, min: number, max: number) => (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} ${value}: expected a whole number from ${min} to ${max}`);
    return n;
  };
  // dev and serve take the same options; serve listens on every interface and may run no executor.
  const server = (name: 'dev' | 'serve', description: string, host: string) =>
    program
      .command(name)
      .description(description)
      .option('-f, --config <file>', 'config file (default: ./kubescribe.yaml if present)')
      .option('--host <host>', 'address to listen on', host)
      .option('--port <port>', 'port to listen on', integer('--port', 0, 65535), 8080)
      .option('--max-concurrent-runs <n>', 'runs beyond this many wait as queued (local executor; default: local.max_concurrent_runs of the config, else 4)', integer('--max-concurrent-runs', 1, 1000))
      .option('--no-scheduler', 'do not fire schedules (in serve: another replica does)')
      .option('--shutdown-grace <duration>', 'after SIGTERM, how long runs and requests may take to finish (default: api.shutdown_grace of the config, else 25s)', durationOrZero('--shutdown-grace'));
  server('dev', 'the whole system on this machine: API, local executor, scheduler, embedded RunLog (or DATABASE_URL)', '127.0.0.1')
    .action(async (options) => {
      const { serverCommand } = await import('./server-command.ts');
      setExit(await serverCommand(ctx, 'dev', { ...options, executor: 'local' }));
    });
  server('serve', 'the production API server (DATABASE_URL; several replicas may share one database)', '0.0.0.0')
    .addOption(new Option('--executor <executor>', 'where runs execute').choices(['local', 'none']).default('local'))
    .action(async (options) => {
      const { serverCommand } = await import('./server-command.ts');
      setExit(await serverCommand(ctx, 'serve', options));
    });

  return program;
}

/** Entry point: runs the CLI and returns the process exit code; errors become one clear line. */
export async function main(argv: string[], ctx: CliContext = processContext()): Promise<number> {
  let code = 0;
  const program = buildProgram(ctx, (value) => {
    code = value;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    return reportError(ctx, error);
  }
}

function reportError(ctx: CliContext, error: unknown): number {
  const say = (message: string) => ctx.stderr.write(`kubescribe: ${message}\n`);
  if (error instanceof CommanderError) {
    // Help and version are not failures; commander has already printed what it had to say.
    return error.exitCode === 0 || error.code === 'commander.helpDisplayed' ? 0 : 2;
  }
  if (error instanceof UsageError) {
    say(error.message);
    return 2;
  }
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
