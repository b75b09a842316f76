// The command tree of the CLI's client side: runs, runs show, logs, trigger, cancel, retry, jobs,
// suspend and resume. Only their options and help live here; each action imports its command's
// module when it runs, so `kubescribe --help` loads none of them (see docs/benchmarks.md).
import type { Command } from 'commander';
import type { ServerFlags } from './api-target.ts';
import type { CliContext } from './context.ts';
import type { RunsOptions } from './runs-command.ts';
import type { ReportOptions } from './report-command.ts';
import type { RetryOptions, TriggerOptions } from './trigger-command.ts';

/** Help text of the `--server` option every client command takes. */
export const SERVER_HELP = 'KubeScribe API URL (default: $KUBESCRIBE_SERVER, else the running `kubescribe dev`)';
/** Help text of the `--token` option every client command takes. */
export const TOKEN_HELP = 'API token (default: $KUBESCRIBE_TOKEN, else the token file `kubescribe dev` writes)';

const RUN_REF = 'the run: its number (report#42), its id, or a unique prefix of the id';
const NEEDS_API_TO_FOLLOW = 'logs -f follows a live run through the KubeScribe API: start `kubescribe dev`, or give --server URL (or set KUBESCRIBE_SERVER)';
const collect = (value: string, previous: string[]) => [...previous, value];
const serverOptions = (command: Command) => command.option('--server <url>', SERVER_HELP).option('--token <token>', TOKEN_HELP);

/** Registers the client commands on the program. */
export function registerClientCommands(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const runs = serverOptions(
    program
      .command('runs')
      .description('list recorded runs, newest first (through the API when a server is known, else from the RunLog)')
      .option('-j, --job <name>', 'only runs of this job')
      .option('-s, --status <status>', 'only runs in this status')
      .option('--trigger <trigger>', 'only runs started this way: schedule, manual, api, retry or chain')
      .option('--label <key=value>', 'only runs whose labels have this key with this value')
      .option('--since <time>', 'only runs created at or after: 2026-12-01, 2026-12-01T06:00 (local; add Z or +01:00 for another zone), or a duration ago: 2h, 7d')
      .option('--until <time>', 'only runs created before (same forms as --since)')
      .option('-n, --limit <n>', 'how many (1-500, default 20)')
      .option('--json', 'print JSON'),
  ).action(async (options: RunsOptions & ServerFlags) => {
    const { runListFilter, runsCommand } = await import('./runs-command.ts');
    // Checked before any server or database is contacted: a typo answers at once.
    const filter = runListFilter(options);
    const { withRunSource } = await import('./run-source.ts');
    setExit(await withRunSource(ctx, options, (source) => runsCommand(ctx, source, filter, options)));
  });
  serverOptions(
    runs
      .command('show')
      .description('show one run in full, with its events')
      .argument('<run_id>', RUN_REF)
      .option('--json', 'print JSON'),
  ).action(async (ref: string, options: { json?: boolean } & ServerFlags) => {
    const [{ runsShowCommand }, { withRunSource }] = await Promise.all([import('./runs-command.ts'), import('./run-source.ts')]);
    setExit(await withRunSource(ctx, options, (source) => runsShowCommand(ctx, source, ref, options)));
  });

  serverOptions(
    program
      .command('logs')
      .description("print a run's stored output")
      .argument('<run_id>', RUN_REF)
      .option('--split', 'send the stderr chunks to stderr instead of stdout')
      .option('-f, --follow', 'keep printing until the run ends (through the API)'),
  ).action(async (ref: string, options: { split?: boolean; follow?: boolean } & ServerFlags) => {
    const [{ logsCommand }, { withRunSource }] = await Promise.all([import('./logs-command.ts'), import('./run-source.ts')]);
    setExit(await withRunSource(ctx, options, (source) => logsCommand(ctx, source, ref, options), options.follow ? NEEDS_API_TO_FOLLOW : undefined));
  });

  serverOptions(
    program
      .command('report')
      .description('the job health table over a window: success rate, p95 duration, SLA share, streak, last failure (through the API when a server is known, else from the RunLog)')
      .option('-j, --job <name>', 'only this job')
      .option('-w, --window <window>', 'the window ending now: 24h, 7d, 30d or 90d', '30d')
      .option('--json', "print the API's JSON (GET /stats, or GET /jobs/{name}/stats with --job)")
      .option('--md', 'print a short Markdown table, to paste into a ticket'),
  ).action(async (options: ReportOptions) => {
    const { reportCommand, reportWindow } = await import('./report-command.ts');
    // Checked before any server or database is contacted: a typo answers at once.
    const window = reportWindow(options);
    setExit(await reportCommand(ctx, options, window));
  });

  serverOptions(
    program
      .command('trigger')
      .description('trigger a run of a job through the API: kubescribe trigger report -p day=2026-11-25 --wait')
      .argument('<job>', 'the job to run')
      .option('-p, --param <key=value>', 'a run param, repeatable; a JSON number, boolean, object or array is sent as such, anything else as a string', collect, [])
      .option('--reason <text>', "why; recorded in the run's events")
      .option('--idempotency-key <key>', 'the same key gets the same run instead of a second one')
      .option('--dry-run', 'validate and show what would run, without creating anything')
      .option('-w, --wait', "wait for the run: status on stderr, its log on stdout, and exit with the run's exit code")
      .option('--json', 'print JSON'),
  ).action(async (job: string, options: TriggerOptions) => {
    const { triggerCommand } = await import('./trigger-command.ts');
    setExit(await triggerCommand(ctx, job, options));
  });

  serverOptions(
    program
      .command('cancel')
      .description('cancel a queued or running run through the API')
      .argument('<run_id>', RUN_REF)
      .option('--json', 'print JSON'),
  ).action(async (ref: string, options: { json?: boolean } & ServerFlags) => {
    const { cancelCommand } = await import('./cancel-command.ts');
    setExit(await cancelCommand(ctx, ref, options));
  });

  serverOptions(
    program
      .command('retry')
      .description('start a new run with the params of an earlier one (or some of them changed)')
      .argument('<run_id>', 'the run to retry (or a unique prefix of its id)')
      .option('-p, --param <key=value>', 'override a param, repeatable (parsed as for trigger)', collect, [])
      .option('--reason <text>', "why; recorded in the new run's events")
      .option('-w, --wait', 'wait for the new run and exit with its exit code')
      .option('--json', 'print JSON'),
  ).action(async (ref: string, options: RetryOptions) => {
    const { retryCommand } = await import('./trigger-command.ts');
    setExit(await retryCommand(ctx, ref, options));
  });

  serverOptions(
    program
      .command('jobs')
      .description('list the jobs the API knows: schedule, next and last run, health')
      .option('--json', 'print JSON'),
  ).action(async (options: { json?: boolean } & ServerFlags) => {
    const { jobsCommand } = await import('./jobs-command.ts');
    setExit(await jobsCommand(ctx, options));
  });

  for (const suspend of [true, false]) {
    const command = program
      .command(suspend ? 'suspend' : 'resume')
      .description(
        suspend
          ? "suspend a job's schedule: it fires no runs (its slots are skipped) until resumed; it can still be triggered (over the API: needs an admin token)"
          : "resume a job's schedule: it fires again from its next slot (over the API: needs an admin token)",
      )
      .argument('<job>', 'the job')
      .option('--reason <text>', "why; recorded in the job's events");
    serverOptions(command.option('--json', 'print JSON')).action(async (job: string, options: { reason?: string; json?: boolean } & ServerFlags) => {
      const { suspendCommand } = await import('./jobs-command.ts');
      setExit(await suspendCommand(ctx, job, suspend, options));
    });
  }
}
