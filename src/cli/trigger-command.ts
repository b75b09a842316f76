// The commands that start a run over the API: `kubescribe trigger` and `kubescribe retry`, with
// --wait, --dry-run and --json.
import type { ApiClient } from '../api-client/api-client.ts';
import { apiRunSource, runPath } from './api-run-source.ts';
import { overApi, type ServerFlags } from './api-target.ts';
import type { CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import { json } from './format.ts';
import { resolveRun } from './run-source.ts';
import { waitForRun } from './wait-for-run.ts';

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

/** The options of `kubescribe trigger`. */
export interface TriggerOptions extends ServerFlags {
  param: string[];
  reason?: string;
  idempotencyKey?: string;
  dryRun?: boolean;
  wait?: boolean;
  json?: boolean;
}

/** `kubescribe trigger <job>`: creates a run through POST /runs/trigger, or shows what it would run. */
export async function triggerCommand(ctx: CliContext, job: string, options: TriggerOptions): Promise<number> {
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

/** The options of `kubescribe retry`. */
export interface RetryOptions extends ServerFlags {
  param: string[];
  reason?: string;
  wait?: boolean;
  json?: boolean;
}

/** `kubescribe retry <run>`: a new run with the params of an earlier one, some changed by -p. */
export async function retryCommand(ctx: CliContext, ref: string, options: RetryOptions): Promise<number> {
  const params = parseTriggerParams(options.param);
  return overApi(ctx, options, 'retry', async (client) => {
    const runId = await resolveRun(apiRunSource(client), ref);
    const body = { ...(Object.keys(params).length ? { params } : {}), ...(options.reason !== undefined ? { reason: options.reason } : {}) };
    const created = await client.post<{ run_id: string; status: string }>(runPath(runId, '/retry'), body);
    return afterCreate(ctx, client, created, `retrying ${runId}`, options);
  });
}
