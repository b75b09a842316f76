// The CLI's client side: commands that talk to a KubeScribe API (trigger, cancel, retry, jobs), and
// runs / runs show / logs, which use the API when a server is configured and the RunLog otherwise.
import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from '../config/durations.ts';
import { RUN_STATUSES, TERMINAL_STATUSES, type RunEvent, type RunRecord, type RunStatus } from '../runlog/types.ts';
import { ApiClient, ApiClientError, ApiUnreachableError, followLogs, readLogs, type ApiLogChunk } from './api-client.ts';
import type { CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import { json, table, when } from './format.ts';
import { logsCommand } from './logs-command.ts';
import { runsCommand, runsShowCommand, type RunsOptions } from './runs-command.ts';
import { resolveServer, serverFilePath, tokenFilePath, type ServerTarget } from './server-file.ts';
import { renderRun } from './render-run.ts';
import { InvalidRunRefError, parseRunRef, runLabel } from '../runlog/run-ref.ts';

/** Help text of the `--server` option every client command takes. */
export const SERVER_HELP = 'KubeScribe API URL (default: $KUBESCRIBE_SERVER, else the running `kubescribe dev`)';
/** Help text of the `--token` option every client command takes. */
export const TOKEN_HELP = 'API token (default: $KUBESCRIBE_TOKEN, else the token file `kubescribe dev` writes)';

/** `--server` / `--token` as commander parses them. */
export interface ServerFlags {
  server?: string;
  token?: string;
}

/** A run as the API returns it: the RunLog's fields with dates as ISO strings, plus its duration. */
export type ApiRun = { [K in keyof RunRecord]: RunRecord[K] extends Date | null ? string | null : RunRecord[K] } & { duration_ms?: number | null };
type ApiEvent = Omit<RunEvent, 'at'> & { at: string };

const say = (ctx: CliContext, line: string) => ctx.stderr.write(`kubescribe: ${line}\n`);
const runPath = (id: string, rest = '') => `/runs/${encodeURIComponent(id)}${rest}`;

/** Runs `fn` against the configured API; API and network failures become one line and an exit code. */
export async function withApi(ctx: CliContext, target: ServerTarget, fn: (client: ApiClient) => Promise<number>): Promise<number> {
  try {
    return await fn(new ApiClient(target.url, target.token));
  } catch (error) {
    if (error instanceof ApiUnreachableError) {
      const hint = target.source === 'local' ? ` (named in ${serverFilePath(ctx.env.home)}; is kubescribe dev still running?)` : target.source === 'env' ? ' (from KUBESCRIBE_SERVER)' : '';
      say(ctx, error.message + hint);
      return 1;
    }
    if (!(error instanceof ApiClientError)) throw error;
    const [line, code] = explain(ctx, error, target);
    say(ctx, line);
    return code;
  }
}

function explain(ctx: CliContext, error: ApiClientError, target: ServerTarget): [string, number] {
  if (error.status === 401 && !target.token) {
    return [`the KubeScribe API at ${target.url} needs a token: give --token or set KUBESCRIBE_TOKEN (an admin makes one with: kubescribe tokens create --name NAME --scope read|trigger|admin)`, 1];
  }
  if (error.status === 401) {
    const from = { flag: '--token', env: 'KUBESCRIBE_TOKEN', file: tokenFilePath(ctx.env.home) }[target.tokenSource ?? 'flag'];
    return [`the KubeScribe API at ${target.url} refused the token from ${from}: ${error.message}; give a valid token with --token or KUBESCRIBE_TOKEN`, 1];
  }
  if (error.status === 403) {
    const required = (error.details as { required?: unknown } | null)?.required;
    return [`${error.message}; use a token with scope ${typeof required === 'string' ? required : 'that allows it'} (--token or KUBESCRIBE_TOKEN)`, 1];
  }
  // Bad params and unknown runs or jobs are the caller's to fix, like the CLI's own usage errors.
  return [error.message, error.status === 400 || error.status === 404 ? 2 : 1];
}

/** Runs `fn` over the API, or fails with one line when no server is configured. */
async function overApi(ctx: CliContext, flags: ServerFlags, command: string, fn: (client: ApiClient) => Promise<number>): Promise<number> {
  const target = resolveServer(ctx.env, flags);
  if (!target) {
    say(ctx, `${command} talks to the KubeScribe API and none is configured: start one with \`kubescribe dev\`, or give --server URL (or set KUBESCRIBE_SERVER)`);
    return 1;
  }
  return withApi(ctx, target, fn);
}

/**
 * Turns `-p key=value` pairs into trigger params: a value that parses as a JSON number, boolean,
 * object or array is sent as that; a JSON string literal (`-p 'zip="02139"'`) as the string inside
 * the quotes; anything else as the string given.
 */
export function parseTriggerParams(pairs: readonly string[]): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`-p ${pair}: expected key=value, e.g. -p day=2026-11-25`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed !== null) value = parsed;
    } catch {
      // Not JSON: a plain string such as a date or a path.
    }
    params[pair.slice(0, eq)] = value;
  }
  return params;
}

/** The run id a run reference names (src/runlog/run-ref.ts), resolved by the server; a full id needs no request. */
async function resolveRemoteRunId(client: ApiClient, given: string): Promise<string> {
  const parsed = parseRunRef(given);
  if (parsed === null) throw new UsageError(new InvalidRunRefError(given).message);
  if (parsed.kind === 'id') return parsed.runId;
  try {
    return (await client.get<{ run_id: string }>(`/runs/${encodeURIComponent(given)}`)).run_id;
  } catch (error) {
    if (error instanceof ApiClientError && (error.code === 'run_not_found' || error.code === 'ambiguous_run_ref')) throw new UsageError(error.message);
    throw error;
  }
}

function apiDuration(run: ApiRun): string {
  if (typeof run.duration_ms === 'number') return formatDuration(run.duration_ms);
  if (!run.started_at) return '-';
  return formatDuration(Math.max(0, new Date(run.finished_at ?? Date.now()).getTime() - new Date(run.started_at).getTime()));
}

/** `kubescribe runs`: over the API when a server is configured, else straight from the RunLog. */
export async function routeRuns(ctx: CliContext, options: RunsOptions & ServerFlags): Promise<number> {
  const target = resolveServer(ctx.env, options);
  if (!target) return runsCommand(ctx, options);
  if (options.status && !RUN_STATUSES.includes(options.status as RunStatus)) {
    throw new UsageError(`--status ${options.status}: expected one of ${RUN_STATUSES.join(', ')}`);
  }
  const limit = options.limit === undefined ? 20 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError(`--limit ${options.limit}: expected a whole number from 1 to 500`);
  return withApi(ctx, target, async (client) => {
    const { runs } = await client.get<{ runs: ApiRun[] }>('/runs', { job: options.job, status: options.status, limit });
    if (options.json) {
      ctx.stdout.write(json(runs));
      return 0;
    }
    if (runs.length === 0) {
      ctx.stdout.write('No runs recorded yet. Start one with: kubescribe trigger <job>\n');
      return 0;
    }
    ctx.stdout.write(table(
      ['RUN', 'RUN ID', 'JOB', 'STATUS', 'TRIGGER', 'CREATED', 'DURATION', 'EXIT', 'ERROR'],
      runs.map((run) => [
        runLabel(run), run.run_id, run.job, run.status, run.trigger, when(run.created_at), apiDuration(run),
        run.exit_code === null ? (run.signal ?? '-') : String(run.exit_code),
        run.error_type ? `${run.error_type}: ${(run.error_message ?? '').split('\n')[0]!.slice(0, 60)}` : '',
      ]),
    ));
    return 0;
  });
}

/** `kubescribe runs show`: over the API when a server is configured, else straight from the RunLog. */
export async function routeRunsShow(ctx: CliContext, id: string, options: { json?: boolean } & ServerFlags): Promise<number> {
  const target = resolveServer(ctx.env, options);
  if (!target) return runsShowCommand(ctx, id, options);
  return withApi(ctx, target, async (client) => {
    const runId = await resolveRemoteRunId(client, id);
    const run = await client.get<ApiRun>(runPath(runId));
    const { events } = await client.get<{ events: ApiEvent[] }>(runPath(runId, '/events'));
    ctx.stdout.write(options.json ? json({ ...run, events }) : renderRun(run, events, apiDuration(run)));
    return 0;
  });
}

/** Writes a chunk to stdout (or stderr with `split`), waiting when the pipe is full. */
async function writeChunk(ctx: CliContext, chunk: ApiLogChunk, split?: boolean): Promise<void> {
  const target = split && chunk.stream === 'stderr' ? ctx.stderr : ctx.stdout;
  if (!target.write(chunk.text)) await new Promise((resolve) => target.once('drain', resolve));
}

/** `kubescribe logs [-f]`: over the API when a server is configured; without one, stored output only. */
export async function routeLogs(ctx: CliContext, id: string, options: { split?: boolean; follow?: boolean } & ServerFlags): Promise<number> {
  const target = resolveServer(ctx.env, options);
  if (!target) {
    if (options.follow) {
      throw new UsageError('logs -f follows a live run through the KubeScribe API: start `kubescribe dev`, or give --server URL (or set KUBESCRIBE_SERVER)');
    }
    return logsCommand(ctx, id, options);
  }
  return withApi(ctx, target, async (client) => {
    const runId = await resolveRemoteRunId(client, id);
    const write = (chunk: ApiLogChunk) => writeChunk(ctx, chunk, options.split);
    if (options.follow) await followLogs(client, runId, 0, write);
    else await readLogs(client, runId, 0, write);
    return 0;
  });
}

interface TriggerOptions extends ServerFlags {
  param: string[];
  reason?: string;
  idempotencyKey?: string;
  dryRun?: boolean;
  wait?: boolean;
  json?: boolean;
}

async function triggerCommand(ctx: CliContext, job: string, options: TriggerOptions): Promise<number> {
  if (options.dryRun && options.wait) throw new UsageError('--dry-run creates no run, so there is nothing to --wait for');
  const params = parseTriggerParams(options.param);
  const body = {
    job,
    ...(Object.keys(params).length ? { params } : {}),
    ...(options.idempotencyKey !== undefined ? { idempotency_key: options.idempotencyKey } : {}),
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
  };
  return overApi(ctx, options, 'trigger', async (client) => {
    if (options.dryRun) {
      const plan = await client.post<Record<string, unknown>>('/runs/trigger', body, { dry_run: true });
      ctx.stdout.write(options.json ? json(plan) : describePlan(plan) + (await describeManifest(plan.manifest)));
      return 0;
    }
    const created = await client.post<{ run_id: string; status: string }>('/runs/trigger', body);
    return afterCreate(ctx, client, created, `triggered ${job}`, options);
  });
}

function describePlan(plan: Record<string, unknown>): string {
  const command = plan.command;
  const rows: [string, string][] = [
    ['job', String(plan.job)],
    ['params', JSON.stringify(plan.params ?? {})],
    ['command', Array.isArray(command) ? command.join(' ') : String(command ?? '-')],
    ['env', Array.isArray(plan.env_names) && plan.env_names.length ? plan.env_names.join(', ') : '-'],
    ['executor', String(plan.executor ?? '-')],
  ];
  if (plan.concurrency_policy) rows.push(['policy', `concurrency ${String(plan.concurrency_policy)}`]);
  return rows.map(([name, value]) => `${name.padEnd(8)}  ${value}`).join('\n') + '\ndry run: nothing was created\n';
}

// The Kubernetes executor's dry run includes the Job it would create: shown as the YAML one would
// `kubectl apply`. yaml is loaded only here, so the other commands start no slower.
async function describeManifest(manifest: unknown): Promise<string> {
  if (manifest === undefined || manifest === null) return '';
  const { stringify } = await import('yaml');
  return `the Job it would create:\n---\n${stringify(manifest)}`;
}

// What trigger and retry do once the API accepted the run: print it, or wait for it.
async function afterCreate(
  ctx: CliContext,
  client: ApiClient,
  created: { run_id: string; status: string },
  what: string,
  options: { wait?: boolean; json?: boolean },
): Promise<number> {
  if (options.wait) {
    if (!options.json) ctx.stderr.write(`${what}: run ${created.run_id}\n`);
    return waitForRun(ctx, client, created.run_id, { json: options.json });
  }
  if (options.json) {
    ctx.stdout.write(json(created));
    return 0;
  }
  // The id alone on stdout, so `id=$(kubescribe trigger job)` works; the words go to stderr.
  ctx.stdout.write(`${created.run_id}\n`);
  ctx.stderr.write(`${what}: run ${created.run_id} is ${created.status}; follow it with: kubescribe logs -f ${created.run_id}\n`);
  return 0;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Registers trigger, cancel, retry and jobs on the program. */
export function registerClientCommands(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  program
    .command('trigger')
    .description('trigger a run of a job through the API: kubescribe trigger report -p day=2026-11-25 --wait')
    .argument('<job>', 'the job to run')
    .option('-p, --param <key=value>', 'a run param, repeatable; a JSON number, boolean, object or array is sent as such, anything else as a string', collect, [])
    .option('--reason <text>', "why; recorded in the run's events")
    .option('--idempotency-key <key>', 'the same key gets the same run instead of a second one')
    .option('--dry-run', 'validate and show what would run, without creating anything')
    .option('-w, --wait', "wait for the run: status on stderr, its log on stdout, and exit with the run's exit code")
    .option('--json', 'print JSON')
    .option('--server <url>', SERVER_HELP)
    .option('--token <token>', TOKEN_HELP)
    .action(async (job: string, options: TriggerOptions) => setExit(await triggerCommand(ctx, job, options)));

  program
    .command('cancel')
    .description('cancel a queued or running run through the API')
    .argument('<run_id>', 'the run id (or a unique prefix of it)')
    .option('--json', 'print JSON')
    .option('--server <url>', SERVER_HELP)
    .option('--token <token>', TOKEN_HELP)
    .action(async (id: string, options: { json?: boolean } & ServerFlags) =>
      setExit(await overApi(ctx, options, 'cancel', async (client) => {
        const runId = await resolveRemoteRunId(client, id);
        const answer = await client.post<{ status?: string } | undefined>(runPath(runId, '/cancel'));
        if (options.json) ctx.stdout.write(json(answer ?? { run_id: runId }));
        else if (answer?.status === 'cancelled') ctx.stdout.write(`run ${runId} cancelled\n`);
        else if (answer?.status === 'cancelling') ctx.stdout.write(`run ${runId} is being cancelled: its process is being stopped\n`);
        else ctx.stdout.write(`run ${runId}: cancel requested${answer?.status ? ` (status ${answer.status})` : ''}\n`);
        return 0;
      })),
    );

  program
    .command('retry')
    .description('start a new run with the params of an earlier one (or some of them changed)')
    .argument('<run_id>', 'the run to retry (or a unique prefix of its id)')
    .option('-p, --param <key=value>', 'override a param, repeatable (parsed as for trigger)', collect, [])
    .option('--reason <text>', "why; recorded in the new run's events")
    .option('-w, --wait', 'wait for the new run and exit with its exit code')
    .option('--json', 'print JSON')
    .option('--server <url>', SERVER_HELP)
    .option('--token <token>', TOKEN_HELP)
    .action(async (id: string, options: { param: string[]; reason?: string; wait?: boolean; json?: boolean } & ServerFlags) => {
      const params = parseTriggerParams(options.param);
      setExit(await overApi(ctx, options, 'retry', async (client) => {
        const runId = await resolveRemoteRunId(client, id);
        const body = { ...(Object.keys(params).length ? { params } : {}), ...(options.reason !== undefined ? { reason: options.reason } : {}) };
        const created = await client.post<{ run_id: string; status: string }>(runPath(runId, '/retry'), body);
        return afterCreate(ctx, client, created, `retrying ${runId}`, options);
      }));
    });

  program
    .command('jobs')
    .description('list the jobs the API knows: schedule, next and last run, health')
    .option('--json', 'print JSON')
    .option('--server <url>', SERVER_HELP)
    .option('--token <token>', TOKEN_HELP)
    .action(async (options: { json?: boolean } & ServerFlags) => setExit(await overApi(ctx, options, 'jobs', async (client) => {
      const { jobs } = await client.get<{ jobs: ApiJob[] }>('/jobs');
      if (options.json) ctx.stdout.write(json(jobs));
      else if (jobs.length === 0) ctx.stdout.write('No jobs. Declare them in kubescribe.yaml (docs/config.md).\n');
      else ctx.stdout.write(jobsTable(jobs));
      return 0;
    })));
}

interface ApiJob {
  name: string;
  schedule_text?: string | null;
  next_runs?: string[] | null;
  last_run?: { status?: string; created_at?: string | null; finished_at?: string | null } | null;
  health?: string | { status?: string } | null;
  suspended?: boolean;
}

function jobsTable(jobs: ApiJob[]): string {
  return table(
    ['NAME', 'SCHEDULE', 'NEXT RUN', 'LAST RUN', 'HEALTH', 'SUSPENDED'],
    jobs.map((job) => [
      job.name,
      job.schedule_text ?? '-',
      when(job.next_runs?.[0] ?? null),
      job.last_run ? `${job.last_run.status ?? '?'} ${when(job.last_run.finished_at ?? job.last_run.created_at ?? null)}` : '-',
      (typeof job.health === 'string' ? job.health : job.health?.status) ?? '-',
      job.suspended ? 'yes' : 'no',
    ]),
  );
}

/** The exit code `--wait` mirrors: the run's own, 124 timed out, 130 cancelled, 1 for any other failure. */
export function exitCodeOf(run: Pick<ApiRun, 'status' | 'exit_code'>): number {
  if (run.status === 'succeeded') return 0;
  if (run.status === 'timed_out') return 124;
  if (run.status === 'cancelled') return 130;
  return run.status === 'failed' && run.exit_code !== null && run.exit_code > 0 && run.exit_code < 256 ? run.exit_code : 1;
}

/**
 * The `--wait` status line on stderr. On a terminal it is rewritten in place (and moved out of the way
 * while log lines go by on the same terminal); elsewhere each status change is its own line.
 */
export class StatusLine {
  private text = '';
  private drawn = false;
  private logAtLineStart = true;
  private lastChange = '';

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly live: boolean,
    private readonly sharesTerminal: boolean,
  ) {}

  /** On a terminal shows `live` (with the time so far); elsewhere prints `change` when it differs from the last. */
  update(change: string, live: string): void {
    if (!this.live) {
      if (change !== this.lastChange) this.out.write(`${change}\n`);
      this.lastChange = change;
      return;
    }
    const columns = (this.out as NodeJS.WriteStream).columns || 80;
    // A wrapped line cannot be rewritten with \r, so keep it within one row.
    const text = live.length >= columns ? `${live.slice(0, columns - 2)}…` : live;
    if (text === this.text && this.drawn) return;
    this.text = text;
    this.draw();
  }

  /** Call around every write of log text to stdout. */
  async around(text: string, write: () => Promise<void>): Promise<void> {
    if (this.live && this.sharesTerminal && this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
    await write();
    if (text) this.logAtLineStart = text.endsWith('\n');
    this.draw();
  }

  /** Replaces the status line with a final line that stays. */
  finish(text: string): void {
    if (this.live && this.drawn) this.out.write('\r\x1b[K');
    else if (this.sharesTerminal && !this.logAtLineStart) this.out.write('\n');
    this.drawn = false;
    this.out.write(`${text}\n`);
  }

  private draw(): void {
    if (!this.live || !this.text || (this.sharesTerminal && !this.logAtLineStart)) return;
    this.out.write(`\r${this.text}\x1b[K`);
    this.drawn = true;
  }
}

const POLL_MS = 500;
// The live line ticks by the second; milliseconds would only flicker.
const wholeSeconds = (run: ApiRun) => formatDuration(Math.floor((Date.now() - new Date(run.started_at!).getTime()) / 1000) * 1000);
const isTty = (stream: NodeJS.WritableStream) => Boolean((stream as NodeJS.WriteStream).isTTY);

function statusText(run: ApiRun, final: boolean): string {
  const head = `run ${run.run_id} (${run.job}): ${run.status}`;
  if (!final) return head;
  const exit = run.exit_code !== null ? `, exit code ${run.exit_code}` : run.signal ? `, ${run.signal}` : '';
  const error = run.error_type ? `: ${run.error_type}: ${(run.error_message ?? '').split('\n')[0]}` : '';
  return `${head} after ${apiDuration(run)}${exit}${error}`;
}

/**
 * `--wait`: a status line on stderr while the run is queued or running, its log on stdout, and the
 * run's exit code as the result. With `json`, no log: the final run as JSON.
 */
export async function waitForRun(ctx: CliContext, client: ApiClient, runId: string, options: { json?: boolean }): Promise<number> {
  const terminal = (run: ApiRun) => TERMINAL_STATUSES.includes(run.status);
  let run = await client.get<ApiRun>(runPath(runId));
  if (options.json) {
    while (!terminal(run)) {
      await sleep(POLL_MS);
      run = await client.get<ApiRun>(runPath(runId));
    }
    ctx.stdout.write(json(run));
    return exitCodeOf(run);
  }
  const line = new StatusLine(ctx.stderr, isTty(ctx.stderr), isTty(ctx.stderr) && isTty(ctx.stdout));
  // Ctrl-C stops the waiting, not the run; say so, and how to stop the run too.
  const onInterrupt = () => {
    line.finish(`stopped waiting; run ${runId} goes on (stop it with: kubescribe cancel ${runId})`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  const stop = new AbortController();
  const show = (current: ApiRun) =>
    line.update(statusText(current, false), `${statusText(current, false)}${current.started_at ? ` ${wholeSeconds(current)}` : ''}`);
  show(run);
  const poller = (async () => {
    while (!stop.signal.aborted) {
      await sleep(POLL_MS, undefined, { signal: stop.signal }).catch(() => {});
      if (stop.signal.aborted) return;
      try {
        run = await client.get<ApiRun>(runPath(runId));
        if (!terminal(run)) show(run);
      } catch {
        // The log stream notices a server that went away and reports it.
      }
    }
  })();
  try {
    await followLogs(client, runId, 0, (chunk) => line.around(chunk.text, () => writeChunk(ctx, chunk)));
  } finally {
    stop.abort();
    await poller;
    process.removeListener('SIGINT', onInterrupt);
  }
  run = await client.get<ApiRun>(runPath(runId));
  line.finish(statusText(run, true));
  return exitCodeOf(run);
}
