// `trigger --wait` and `retry --wait`: follow a run to its end over the API, a status line on
// stderr and the log on stdout, and exit as the run did.
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from '../config/durations.ts';
import { FAILING_STATUSES, TERMINAL_STATUSES } from '../runlog/types.ts';
import type { ApiClient } from '../api-client/api-client.ts';
import { followLogs } from './api-logs.ts';
import { runPath, type ApiRun } from './api-run-source.ts';
import type { CliContext } from './context.ts';
import { json, runDuration } from './format.ts';
import { describeRetry, type RenderableRetry } from './render-run.ts';
import { writeChunk } from './logs-command.ts';
import { StatusLine } from './status-line.ts';

/** The exit code `--wait` mirrors: the run's own, 124 timed out, 130 cancelled, 1 for any other failure. */
export function exitCodeOf(run: Pick<ApiRun, 'status' | 'exit_code'>): number {
  if (run.status === 'succeeded') return 0;
  if (run.status === 'timed_out') return 124;
  if (run.status === 'cancelled') return 130;
  return run.status === 'failed' && run.exit_code !== null && run.exit_code > 0 && run.exit_code < 256 ? run.exit_code : 1;
}

const POLL_MS = 500;
// How long a failing run's retry decision is waited for: the server's retrier looks every second, so
// this is several of its passes; a server without one (`--executor none`) leaves it undecided.
const RETRY_DECISION_WAIT_MS = 3000;

type WaitedRun = ApiRun & { retry?: RenderableRetry | null };

/**
 * The ended run once the server has decided about its retry (a failing run), or after
 * RETRY_DECISION_WAIT_MS with the decision still pending: `--wait` then says what comes next.
 */
async function withRetryDecision(client: ApiClient, run: WaitedRun): Promise<WaitedRun> {
  if (!FAILING_STATUSES.includes(run.status)) return run;
  const deadline = Date.now() + RETRY_DECISION_WAIT_MS;
  while ((!run.retry || run.retry.state === 'pending') && Date.now() < deadline) {
    await sleep(POLL_MS / 2);
    run = await client.get<WaitedRun>(runPath(run.run_id));
  }
  return run;
}

function retryText(run: WaitedRun): string {
  if (!FAILING_STATUSES.includes(run.status) || !run.retry) return '';
  // A job without retries: nothing is coming, and the status says it all.
  if (run.retry.state === 'skipped' && run.retry.limit === null) return '';
  // Undecided after the wait: a server without a retrier (`--executor none`); nothing to promise.
  if (run.retry.state === 'pending') return '';
  return `; ${describeRetry(run.retry)}`;
}
// The live line ticks by the second; milliseconds would only flicker.
const wholeSeconds = (run: ApiRun) => formatDuration(Math.floor((Date.now() - new Date(run.started_at!).getTime()) / 1000) * 1000);
const isTty = (stream: NodeJS.WritableStream) => Boolean((stream as NodeJS.WriteStream).isTTY);

function statusText(run: ApiRun, final: boolean): string {
  const head = `run ${run.run_id} (${run.job}): ${run.status}`;
  if (!final) return head;
  const exit = run.exit_code !== null ? `, exit code ${run.exit_code}` : run.signal ? `, ${run.signal}` : '';
  const error = run.error_type ? `: ${run.error_type}: ${(run.error_message ?? '').split('\n')[0]}` : '';
  return `${head} after ${runDuration(run)}${exit}${error}`;
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
    run = await withRetryDecision(client, run);
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
  const ended = await withRetryDecision(client, await client.get<WaitedRun>(runPath(runId)));
  line.finish(statusText(ended, true) + retryText(ended));
  return exitCodeOf(ended);
}
