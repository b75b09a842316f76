// The run record's beginning and end as the runner writes it: create the run (or adopt the queued one
// an executor wrote), with its params resolved, and close the recorder once the outcome is written.
import { hostname } from 'node:os';
import { jobDefinitionHash, type JobDefinition, type KubescribeConfig } from '../config/job-definition.ts';
import { runEvent } from '../runlog/run-event.ts';
import type { EventInput, RunPatch } from '../runlog/sql/runs.ts';
import { jobSyncOf } from '../runlog/sync-jobs.ts';
import { isTerminal, type RunStatus, type Trigger } from '../runlog/types.ts';
import { InvalidParamsError } from './params.ts';
import { flushSpoolsTo, spoolDirectory, type Recorder } from './recorder.ts';

/** Exit code for usage, config and params errors, as most CLIs do. */
export const USAGE_EXIT_CODE = 2;

/** What the runner knows about the run it is about to write. */
export interface RunStart {
  runId: string;
  /** True when the run id came from the caller (--run-id): an existing queued run is adopted. */
  adopt: boolean;
  job: string;
  definition: JobDefinition | undefined;
  config: KubescribeConfig;
  command: string[];
  /** Params from -p, before the schema's defaults. */
  cliParams: Record<string, string>;
  trigger: Trigger;
  triggeredBy: string;
  executor: string;
  /** Where the runner runs beyond host and pid. */
  executorRef: Record<string, unknown> | undefined;
  scheduledFor: Date | null;
  home: string;
  recorder: Recorder;
  /** How long to wait at exit for an unreachable RunLog. */
  flushTimeoutMs: number | undefined;
  /** Makes the events of the runner's own steps (adopted, failed), credited to the runner. */
  event: (type: string, detail?: Record<string, unknown>) => EventInput;
  warn: (line: string) => void;
  note: (line: string) => void;
}

/** The run as written, ready to start its command. */
export interface StartedRun {
  params: Record<string, unknown>;
}

/**
 * Writes the run as `starting`: inserts it with its `created` event, or adopts the queued run the id
 * names (a compare-and-set that must be won). Invalid params are recorded as a failed run. Returns
 * the resolved params, or the exit code when the command must not start.
 */
export async function startRunRecord(start: RunStart): Promise<StartedRun | { exitCode: number }> {
  const { recorder, runId, warn } = start;
  const refuse = async (message: string) => {
    warn(message);
    await recorder.close(1000);
    return { exitCode: USAGE_EXIT_CODE };
  };

  // Records that earlier runners could not deliver go first, so history stays in order.
  await recorder.read((sink) => (sink.replaysSpools === false ? Promise.resolve(0) : flushSpoolsTo(sink, spoolDirectory(start.home), start.note)));

  if (start.definition) {
    recorder.record({ op: 'sync_job', job: jobSyncOf(start.definition, start.config.file) });
  } else {
    recorder.record({ op: 'ensure_job', name: start.job });
  }

  let rawParams: Record<string, unknown> = start.cliParams;
  let adopted = false;
  if (start.adopt) {
    const existing = await recorder.read((sink) => sink.getRun(runId));
    if (existing) {
      if (isTerminal(existing.status)) {
        return refuse(`kubescribe: run ${runId} already finished (${existing.status}); a run is never started twice`);
      }
      if (existing.status !== 'queued') {
        return refuse(`kubescribe: run ${runId} is already ${existing.status} in another runner; not starting it again`);
      }
      rawParams = { ...existing.params, ...start.cliParams };
      adopted = true;
    }
  }

  // Validated before the run is written so that it records the params it really ran with (defaults
  // applied); invalid params are still recorded, as a failed attempt.
  let params: Record<string, unknown> = rawParams;
  let invalid: InvalidParamsError | null = null;
  try {
    if (start.definition) {
      // ajv costs ~30 ms to load: only jobs with a params schema pay for it.
      const { resolveParams } = await import('./params-schema.ts');
      params = resolveParams(start.job, start.definition.params, rawParams, { coerce: true });
    }
  } catch (error) {
    if (!(error instanceof InvalidParamsError)) throw error;
    invalid = error;
  }

  if (adopted) {
    // The adoption is a compare-and-set we must win before spawning: a cancel or another runner may
    // have moved the run since we read it. Offline, the record is buffered and we go ahead.
    const patch: RunPatch = { executor_ref: executorRef(null, start.executorRef), params };
    const adoptEvent = start.event('adopted', { host: hostname() });
    const won = await recorder.read((sink) => sink.adopt(runId, patch, adoptEvent));
    if (won === null) {
      recordTransition(recorder, runId, ['queued'], 'starting', patch, adoptEvent);
    } else if (!won.changed) {
      return refuse(`kubescribe: run ${runId} is ${won.status ?? 'gone'} now, no longer queued; not starting it`);
    }
  } else {
    recorder.record({
      op: 'insert_run',
      run: {
        run_id: runId,
        job: start.job,
        job_content_hash: start.definition ? jobDefinitionHash(start.definition) : null,
        trigger: start.trigger,
        triggered_by: start.triggeredBy,
        params,
        status: 'starting',
        executor: start.executor,
        executor_ref: executorRef(null, start.executorRef),
        image: start.definition?.image ?? null,
        command: start.command,
        tenant: start.definition?.tenant ?? null,
        labels: start.definition?.labels ?? {},
        created_at: new Date(),
      },
      // Whoever triggered the run created it; the runner's own steps are credited by `start.event`.
      event: runEvent('created', start.triggeredBy, { trigger: start.trigger, ...(start.scheduledFor ? { scheduled_for: start.scheduledFor.toISOString() } : {}) }),
    });
    if (start.scheduledFor) recorder.record({ op: 'link_slot', job: start.job, scheduled_for: start.scheduledFor.toISOString(), run_id: runId });
  }

  if (invalid) {
    warn(`kubescribe: ${invalid.message}`);
    recordTransition(recorder, runId, ['starting'], 'failed', {
      finished_at: new Date(),
      error_type: 'InvalidParams',
      error_message: invalid.message,
    }, start.event('failed', { reason: 'invalid params', issues: invalid.issues }));
    await closeRunRecord(recorder, runId, start.flushTimeoutMs, warn);
    return { exitCode: USAGE_EXIT_CODE };
  }
  return { params };
}

/** Queues a compare-and-set of the run's status with its event. */
export function recordTransition(recorder: Recorder, runId: string, from: readonly RunStatus[], to: RunStatus, patch: RunPatch, event: EventInput): void {
  recorder.record({ op: 'transition', run_id: runId, from: [...from], to, patch, event });
}

/** The run's executor_ref: where the runner runs (`extra`, e.g. a pod), its host, and the command's pid once known. */
export function executorRef(pid: number | null, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return pid === null ? { ...extra, host: hostname() } : { ...extra, host: hostname(), pid };
}

/** Writes what is left, waiting up to `flushTimeoutMs` for an unreachable RunLog, and says where records stayed. */
export async function closeRunRecord(recorder: Recorder, runId: string, flushTimeoutMs: number | undefined, warn: (line: string) => void): Promise<void> {
  const left = await recorder.close(flushTimeoutMs ?? 60_000);
  if (left) {
    warn(
      `kubescribe: the RunLog is still unreachable; run ${runId}'s records are kept in ${left} and will be written ` +
        'by the next kubescribe command that reaches it (or run `kubescribe flush`)',
    );
  }
}
