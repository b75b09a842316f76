// `kubescribe jobs` (over the API), and `kubescribe suspend` / `resume` (over the API when a server
// is known, else in the RunLog).
import { overApi, type ServerFlags } from './api-target.ts';
import type { CliContext } from './context.ts';
import { json, table, when } from './format.ts';
import { withRunSource } from './run-source.ts';

interface ApiJob {
  name: string;
  schedule_text?: string | null;
  time_zone?: string | null;
  next_runs?: string[] | null;
  last_run?: { status?: string; created_at?: string | null; finished_at?: string | null } | null;
  health?: string | { status?: string } | null;
  suspended?: boolean;
}

/** `kubescribe jobs`: schedule, next and last run, health and suspension of every job the API knows. */
export function jobsCommand(ctx: CliContext, options: { json?: boolean } & ServerFlags): Promise<number> {
  return overApi(ctx, options, 'jobs', async (client) => {
    const { jobs } = await client.get<{ jobs: ApiJob[] }>('/jobs');
    if (options.json) ctx.stdout.write(json(jobs));
    else if (jobs.length === 0) ctx.stdout.write('No jobs. Declare them in kubescribe.yaml (docs/config.md).\n');
    else ctx.stdout.write(jobsTable(jobs));
    return 0;
  });
}

function jobsTable(jobs: ApiJob[]): string {
  return table(
    ['NAME', 'SCHEDULE', 'NEXT RUN', 'LAST RUN', 'HEALTH', 'SUSPENDED'],
    jobs.map((job) => [
      job.name,
      job.schedule_text ?? '-',
      // In the schedule's own zone, so 06:00 reads 06:00 next to "at 06:00 every day (Europe/Berlin)".
      when(job.next_runs?.[0] ?? null, job.time_zone),
      job.last_run ? `${job.last_run.status ?? '?'} ${when(job.last_run.finished_at ?? job.last_run.created_at ?? null, job.time_zone)}` : '-',
      (typeof job.health === 'string' ? job.health : job.health?.status) ?? '-',
      job.suspended ? 'yes' : 'no',
    ]),
  );
}

/** `kubescribe suspend <job>` and `kubescribe resume <job>`: stop or restart firing a job's schedule. */
export function suspendCommand(ctx: CliContext, job: string, suspended: boolean, options: { reason?: string; json?: boolean } & ServerFlags): Promise<number> {
  return withRunSource(ctx, options, async (source) => {
    const outcome = await source.setSuspended(job, suspended, options.reason ?? null);
    if (options.json) {
      ctx.stdout.write(json(outcome.answer));
      return 0;
    }
    const already = outcome.changed === false ? ' (it already was)' : '';
    ctx.stdout.write(
      suspended
        ? `job ${job} suspended${already}: its schedule fires no runs until \`kubescribe resume ${job}\`; it can still be triggered\n`
        : `job ${job} resumed${already}: its schedule fires again from its next slot\n`,
    );
    if (outcome.note) ctx.stderr.write(`kubescribe: ${outcome.note}\n`);
    return 0;
  });
}
