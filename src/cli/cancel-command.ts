// `kubescribe cancel <run>` over the API.
import { apiRunSource, runPath } from './api-run-source.ts';
import { overApi, type ServerFlags } from './api-target.ts';
import type { CliContext } from './context.ts';
import { json } from './format.ts';
import { resolveRun } from './run-source.ts';

/** `kubescribe cancel <run>`: asks the API to cancel a queued or running run, and says what became of it. */
export function cancelCommand(ctx: CliContext, ref: string, options: { json?: boolean } & ServerFlags): Promise<number> {
  return overApi(ctx, options, 'cancel', async (client) => {
    const runId = await resolveRun(apiRunSource(client), ref);
    const answer = await client.post<{ status?: string } | undefined>(runPath(runId, '/cancel'));
    if (options.json) ctx.stdout.write(json(answer ?? { run_id: runId }));
    else if (answer?.status === 'cancelled') ctx.stdout.write(`run ${runId} cancelled\n`);
    else if (answer?.status === 'cancelling') ctx.stdout.write(`run ${runId} is being cancelled: its process is being stopped\n`);
    else ctx.stdout.write(`run ${runId}: cancel requested${answer?.status ? ` (status ${answer.status})` : ''}\n`);
    return 0;
  });
}
