// `kubescribe runs` and `kubescribe runs show`, written once over a run source (API or RunLog).
import { parseDuration } from '../config/durations.ts';
import { RUN_STATUSES, TRIGGERS, type RunStatus, type Trigger } from '../runlog/types.ts';
import { UsageError } from './errors.ts';
import { runLabel } from '../runlog/run-ref.ts';
import { json, runDuration, table, when } from './format.ts';
import { renderRun } from './render-run.ts';
import { resolveRun, type RunListFilter, type RunSource } from './run-source.ts';

/** The options of `kubescribe runs` as commander gives them: strings, checked by runListFilter. */
export interface RunsOptions {
  job?: string;
  status?: string;
  trigger?: string;
  label?: string;
  since?: string;
  until?: string;
  limit?: string;
  json?: boolean;
}

/**
 * Parses `--since` / `--until`: a duration ago (`90m`, `2h`, `7d`), a date (`2026-12-01`, midnight
 * here) or a date-time (`2026-12-01T06:00`, here; with `Z` or an offset, there).
 */
export function parseRunTime(flag: string, value: string, now: Date = new Date()): Date {
  const text = value.trim();
  if (/^\d+(?:\.\d+)?[a-z]+$/i.test(text)) {
    try {
      return new Date(now.getTime() - parseDuration(text));
    } catch {
      // Not a duration after all: tried as a time below, and the message covers both.
    }
  }
  // Date.parse takes a bare date as UTC midnight; a person typing a date means midnight here.
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00` : text;
  const at = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(iso) ? new Date(iso.replace(' ', 'T')) : new Date(NaN);
  if (Number.isNaN(at.getTime())) {
    throw new UsageError(`${flag} ${value}: expected a time (2026-12-01, 2026-12-01T06:00, 2026-12-01T06:00Z) or a duration ago (90m, 2h, 7d)`);
  }
  return at;
}

/** Checks every `kubescribe runs` option and turns them into a filter; a UsageError names the bad flag. */
export function runListFilter(options: RunsOptions, now: Date = new Date()): RunListFilter {
  if (options.status !== undefined && !RUN_STATUSES.includes(options.status as RunStatus)) {
    throw new UsageError(`--status ${options.status}: expected one of ${RUN_STATUSES.join(', ')}`);
  }
  if (options.trigger !== undefined && !TRIGGERS.includes(options.trigger as Trigger)) {
    throw new UsageError(`--trigger ${options.trigger}: expected one of ${TRIGGERS.join(', ')}`);
  }
  const limit = options.limit === undefined ? 20 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
    throw new UsageError(`--limit ${options.limit}: expected a whole number from 1 to 500`);
  }
  let label: RunListFilter['label'];
  if (options.label !== undefined) {
    const eq = options.label.indexOf('=');
    if (eq <= 0) throw new UsageError(`--label ${options.label}: expected key=value, e.g. --label team=data`);
    label = { key: options.label.slice(0, eq), value: options.label.slice(eq + 1) };
  }
  const since = options.since === undefined ? undefined : parseRunTime('--since', options.since, now);
  const until = options.until === undefined ? undefined : parseRunTime('--until', options.until, now);
  if (since && until && since >= until) throw new UsageError(`--since ${options.since} is not before --until ${options.until}`);
  return {
    job: options.job,
    status: options.status as RunStatus | undefined,
    trigger: options.trigger as Trigger | undefined,
    label,
    since,
    until,
    limit,
  };
}

/** `kubescribe runs`: the newest runs as a table (or JSON). */
export async function runsCommand(ctx: { stdout: NodeJS.WritableStream }, source: RunSource, filter: RunListFilter, options: { json?: boolean }): Promise<number> {
  const runs = await source.listRuns(filter);
  if (options.json) {
    ctx.stdout.write(json(runs));
    return 0;
  }
  if (runs.length === 0) {
    const filtered = Object.entries(filter).some(([key, value]) => key !== 'limit' && value !== undefined);
    const start = source.kind === 'api' ? 'kubescribe trigger <job>' : 'kubescribe run --job <name> -- <command>';
    ctx.stdout.write(filtered ? 'No runs match.\n' : `No runs recorded yet. Start one with: ${start}\n`);
    return 0;
  }
  ctx.stdout.write(
    table(
      ['RUN', 'RUN ID', 'JOB', 'STATUS', 'TRIGGER', 'CREATED', 'DURATION', 'EXIT', 'ERROR'],
      runs.map((run) => [
        runLabel(run),
        run.run_id,
        run.job,
        run.status,
        run.trigger,
        when(run.created_at),
        runDuration(run),
        run.exit_code === null ? (run.signal ?? '-') : String(run.exit_code),
        run.error_type ? `${run.error_type}: ${(run.error_message ?? '').split('\n')[0]!.slice(0, 60)}` : '',
      ]),
    ),
  );
  return 0;
}

/** `kubescribe runs show <run>`: one run in full, with its events. */
export async function runsShowCommand(ctx: { stdout: NodeJS.WritableStream }, source: RunSource, ref: string, options: { json?: boolean }): Promise<number> {
  const runId = await resolveRun(source, ref);
  const { run, events } = await source.showRun(runId);
  ctx.stdout.write(options.json ? json({ ...run, events }) : renderRun(run, events, runDuration(run)));
  return 0;
}
