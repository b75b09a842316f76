// Keeps the RunLog in step with what the cluster says about KubeScribe's Jobs and Pods, so a run's
// fate is known even when its runner never ran (image pull, unschedulable) or was killed with its pod
// (OOM, eviction, deadline, deletion). List, then watch from the list's resourceVersion; a 410 Gone
// means the history is compacted: list again (the list is the truth, so no transition is missed).
// Every write is a compare-and-set from a live status, so where the runner recorded an outcome, its
// record wins.
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { Db } from '../runlog/db.ts';
import { getRun, transitionRun, type EventInput, type RunPatch } from '../runlog/sql/runs.ts';
import { isTerminal, LIVE_STATUSES, type RunStatus } from '../runlog/types.ts';
import { uuidv7 } from '../runlog/uuidv7.ts';
import { KubeApiError, type KubeClient } from './client.ts';
import type { KubeLogEntry } from './kubernetes-executor.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, RUN_ID_LABEL } from './manifests.ts';
import { RUNNER_IMAGE_PATH, RUNNER_INIT_CONTAINER } from './runner-injection.ts';
import { cancelRequestedBy, findLiveRunByPod, mergeExecutorRef } from '../runlog/sql/executor-runs.ts';

export const WATCHER_ACTOR = 'kubernetes-watcher';
/** Selects what KubeScribe created: Jobs, their pods (labels are copied from the template), CronJobs. */
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

// Waiting reasons that mean the image will not run: the kubelet backs off, but nothing changes by itself.
const IMAGE_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 10_000;

export interface WatcherOptions {
  db: Db;
  client: KubeClient;
  /** After a pod ended, how long to wait for its runner's own record before writing ours. */
  settleMs: number;
  /** A pod Pending this long (unschedulable, image never pulled) fails its run. */
  startTimeoutMs: number;
  /** Pause before reconnecting a failed watch: `minMs` doubled per failure in a row, at most `maxMs` (default 100 ms to 10 s). */
  reconnect?: { minMs?: number; maxMs?: number };
  log: (entry: KubeLogEntry) => void;
}

type Kind = 'jobs' | 'pods';
interface Stream { resourceVersion: string | null; abort: AbortController | null; failures: number; connected: boolean }

/** What the watcher decided about a run: the status, the error, and the patch. */
interface Fate { to: RunStatus; from: readonly RunStatus[]; type: string; message: string; patch?: RunPatch; settle: boolean; deleteJob?: string }

/** Lists and watches Jobs and Pods with the managed-by label and reconciles runs with them. */
export class Watcher {
  /** Events handled and re-lists done, for tests and metrics. */
  readonly stats = { events: 0, lists: 0, expired: 0, reconnects: 0 };
  private running = false;
  private readonly streams: Record<Kind, Stream> = {
    jobs: { resourceVersion: null, abort: null, failures: 0, connected: false },
    pods: { resourceVersion: null, abort: null, failures: 0, connected: false },
  };
  private readonly loops: Promise<void>[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly wakers = new Set<() => void>();
  // One event at a time, in the order received: a later event about a run never overtakes an earlier one.
  private chain: Promise<void> = Promise.resolve();
  private readonly knownPods = new Map<string, V1Pod>();
  private readonly pending = new Map<string, V1Pod>();
  private readonly settling = new Set<string>();
  // Runs whose Job Kubernetes failed for its deadline. The Job controller also deletes the pods, and
  // the pod's deletion and the Job's condition come on two watches in either order: the deadline is
  // what happened, the deletion only its consequence.
  private readonly pastDeadline = new Map<string, Fate>();
  private sweep: NodeJS.Timeout | null = null;

  constructor(private readonly options: WatcherOptions) {}

  /** True once both Jobs and Pods were listed and are being watched. */
  get synced(): boolean {
    return this.streams.jobs.connected && this.streams.pods.connected;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.loops.push(this.loop('jobs'), this.loop('pods'));
    const every = Math.max(50, Math.min(this.options.startTimeoutMs / 4, 5000));
    this.sweep = setInterval(() => this.enqueue(() => this.checkPending()), every);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.sweep) clearInterval(this.sweep);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const wake of this.wakers) wake();
    for (const stream of Object.values(this.streams)) stream.abort?.abort();
    await Promise.allSettled(this.loops);
    await this.chain;
  }

  /** Waits until every event received so far is handled (tests). */
  async idle(): Promise<void> {
    await this.chain;
  }

  private async loop(kind: Kind): Promise<void> {
    const stream = this.streams[kind];
    while (this.running) {
      try {
        if (stream.resourceVersion === null) await this.relist(kind);
        const ended = await this.watchOnce(kind);
        if (ended === 'expired') {
          this.stats.expired++;
          stream.resourceVersion = null;
          this.say('info', `watch of ${kind} expired (410 Gone); listing again`);
          continue;
        }
        // A normal end (server timeout, dropped connection): resume from the last resourceVersion.
        if (ended === 'events') stream.failures = 0;
      } catch (error) {
        stream.failures++;
        stream.connected = false;
        const message = error instanceof Error ? error.message : String(error);
        this.say(stream.failures === 1 ? 'warn' : 'info', `watch of ${kind} failed (${message}); reconnecting`);
      }
      if (!this.running) break;
      this.stats.reconnects++;
      const { minMs = RECONNECT_MIN_MS, maxMs = RECONNECT_MAX_MS } = this.options.reconnect ?? {};
      await this.pause(Math.min(minMs * 2 ** Math.min(stream.failures, 10), maxMs));
    }
  }

  private async relist(kind: Kind): Promise<void> {
    const { client } = this.options;
    const list = kind === 'jobs' ? await client.listJobs(MANAGED_SELECTOR) : await client.listPods(MANAGED_SELECTOR);
    this.stats.lists++;
    if (kind === 'pods') {
      // A pod that went away while we were not watching gets its DELETED now.
      const present = new Set(list.items.map((pod) => pod.metadata?.name));
      for (const [name, pod] of this.knownPods) if (!present.has(name)) this.enqueue(() => this.onPod('DELETED', pod));
    }
    for (const item of list.items) {
      if (kind === 'jobs') this.enqueue(() => this.onJob('MODIFIED', item as V1Job));
      else this.enqueue(() => this.onPod('MODIFIED', item as V1Pod));
    }
    this.streams[kind].resourceVersion = list.resourceVersion;
  }

  private watchOnce(kind: Kind): Promise<'expired' | 'events' | 'quiet'> {
    const stream = this.streams[kind];
    return new Promise((resolve, reject) => {
      let expired = false;
      let received = false;
      this.options.client.watch(kind, MANAGED_SELECTOR, stream.resourceVersion ?? '', (type, object) => {
        if (type === 'ERROR') {
          const code = (object as { code?: number }).code;
          if (code === 410) expired = true;
          else this.say('warn', `watch of ${kind}: ${String((object as { message?: string }).message ?? 'error event')}`);
          stream.abort?.abort();
          return;
        }
        received = true;
        const rv = (object.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
        if (rv) stream.resourceVersion = rv;
        if (type === 'BOOKMARK') return;
        this.stats.events++;
        if (kind === 'jobs') this.enqueue(() => this.onJob(type, object as V1Job));
        else this.enqueue(() => this.onPod(type, object as V1Pod));
      }, (error) => {
        stream.abort = null;
        stream.connected = false;
        const aborted = (error as { name?: string } | null)?.name === 'AbortError';
        if (expired) resolve('expired');
        else if (error && !aborted) reject(error instanceof Error ? error : new KubeApiError(0, 'WatchFailed', 'watch', kind, null, [], String(error)));
        else resolve(received ? 'events' : 'quiet');
      }).then((abort) => {
        stream.abort = abort;
        stream.connected = !abort.signal.aborted;
        if (!this.running) abort.abort();
      }, reject);
    });
  }

  private enqueue(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((error: unknown) => {
      this.say('error', `reconciling a watch event failed: ${error instanceof Error ? error.message : String(error)}`);
    });
  }

  // ---- what the cluster says, and what it means for the run -------------------------------------

  private async onJob(type: string, job: V1Job): Promise<void> {
    const runId = job.metadata?.labels?.[RUN_ID_LABEL];
    if (!runId || type === 'DELETED') return;
    const failed = job.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
    if (failed?.reason === 'DeadlineExceeded') {
      const deadline = job.spec?.activeDeadlineSeconds;
      const fate: Fate = {
        to: 'timed_out', from: LIVE_STATUSES, settle: true, type: 'DeadlineExceeded',
        message: `the Job ${job.metadata?.name} ran longer than its activeDeadlineSeconds${deadline ? ` (${deadline} s)` : ''} and Kubernetes stopped it; ` +
          'the runner recorded no outcome',
      };
      this.pastDeadline.set(runId, fate);
      await this.settle(runId, fate);
    }
  }

  private async onPod(type: string, pod: V1Pod): Promise<void> {
    const name = pod.metadata?.name ?? '';
    if (type === 'DELETED') this.knownPods.delete(name);
    else this.knownPods.set(name, pod);
    const { db } = this.options;
    const runId = pod.metadata?.labels?.[RUN_ID_LABEL] ?? (await findLiveRunByPod(db, pod.metadata?.namespace ?? '', name));
    if (!runId) return;
    const run = await getRun(db, runId);
    if (!run) return;
    const container = pod.status?.containerStatuses?.[0];
    const jobName = pod.metadata?.labels?.['batch.kubernetes.io/job-name'] ?? pod.metadata?.labels?.['job-name'] ?? null;
    const ref: Record<string, unknown> = { namespace: pod.metadata?.namespace, pod: name, ...(jobName ? { job: jobName } : {}) };
    if (container?.imageID) ref.image_id = container.imageID;
    if (pod.spec?.nodeName) ref.node = pod.spec.nodeName;
    // Also on a finished run: the runner's adoption replaced executor_ref with its own host and pid,
    // and where it ran (and from which image digest) belongs in the record whatever its outcome.
    await mergeExecutorRef(db, runId, ref, container?.image ?? null);
    if (isTerminal(run.status)) {
      this.pending.delete(runId);
      return;
    }

    const fate = this.fateOf(type, pod, jobName);
    if (pod.status?.phase === 'Pending' && type !== 'DELETED' && !fate) this.pending.set(runId, pod);
    else this.pending.delete(runId);
    if (fate) await this.settle(runId, fate);
  }

  private fateOf(type: string, pod: V1Pod, jobName: string | null): Fate | null {
    const name = pod.metadata?.name;
    const container = pod.status?.containerStatuses?.[0];
    const waiting = container?.state?.waiting;
    const terminated = container?.state?.terminated;
    if (type === 'DELETED') {
      return {
        to: 'lost', from: LIVE_STATUSES, settle: true, type: 'PodDeleted',
        message: `its pod ${name} was deleted before the runner recorded an outcome; exit code unknown`,
      };
    }
    const init = initContainerFate(pod, jobName);
    if (init) return init;
    if (waiting?.reason && IMAGE_REASONS.has(waiting.reason)) {
      return {
        to: 'failed', from: LIVE_STATUSES, settle: false, type: 'ImagePull', deleteJob: jobName ?? undefined,
        message: `the image ${container?.image} could not be pulled (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}); the job never started`,
      };
    }
    if (pod.status?.phase === 'Failed' && pod.status.reason === 'Evicted') {
      return {
        to: 'lost', from: LIVE_STATUSES, settle: true, type: 'Evicted',
        message: `its pod ${name} was evicted by the node${pod.status.message ? `: ${pod.status.message}` : ''}`,
      };
    }
    if (terminated?.reason === 'OOMKilled') {
      return {
        to: 'failed', from: LIVE_STATUSES, settle: true, type: 'OOMKilled', patch: { exit_code: terminated.exitCode ?? 137 },
        message: `the container ran out of memory and was killed (OOMKilled, exit code ${terminated.exitCode ?? 137})` +
          (container?.name ? '; raise its memory limit or use less' : ''),
      };
    }
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
      const code = terminated?.exitCode;
      return {
        to: 'lost', from: LIVE_STATUSES, settle: true, type: 'Lost',
        message: `its pod ${name} ended (${pod.status.phase}${code === undefined ? '' : `, exit code ${code}`}${terminated?.reason ? `, ${terminated.reason}` : ''}) ` +
          'but its runner recorded no outcome',
      };
    }
    return null;
  }

  /** Writes a fate once the runner had `settleMs` to write its own; a cancel requested makes a deletion `cancelled`. */
  private async settle(runId: string, fate: Fate): Promise<void> {
    if (!fate.settle) {
      await this.write(runId, fate);
      return;
    }
    const key = `${runId}:${fate.type}`;
    if (this.settling.has(key)) return;
    this.settling.add(key);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.enqueue(async () => {
        this.settling.delete(key);
        await this.write(runId, fate);
      });
    }, this.options.settleMs);
    this.timers.add(timer);
  }

  private async write(runId: string, fate: Fate): Promise<void> {
    const { db } = this.options;
    if (fate.type === 'PodDeleted') fate = this.pastDeadline.get(runId) ?? fate;
    if (fate.type === 'DeadlineExceeded') this.pastDeadline.delete(runId);
    let { to, type, message } = fate;
    let actor = WATCHER_ACTOR;
    if (fate.type === 'PodDeleted' || fate.type === 'Lost') {
      const by = await cancelRequestedBy(db, runId);
      if (by) {
        to = 'cancelled';
        type = 'Cancelled';
        actor = by;
        message = `cancelled by ${by}: its Job was deleted and the runner recorded no outcome; exit code unknown`;
      }
    }
    const moved = await transitionRun(db, runId, fate.from, to, {
      finished_at: new Date(),
      error_type: type,
      error_message: message,
      ...fate.patch,
    }, event(to, actor, { reason: type, source: 'kubernetes' }));
    if (!moved.changed) return;
    this.pending.delete(runId);
    this.say(to === 'cancelled' ? 'info' : 'warn', `run ${runId} ${to}: ${message}`, runId);
    if (fate.deleteJob) {
      // The pod would sit in back-off until the Job's deadline: nothing more will come of it.
      await this.options.client.deleteJob(fate.deleteJob, 'Background').catch((error: unknown) =>
        this.say('warn', `could not delete Job ${fate.deleteJob}: ${(error as Error).message}`, runId));
    }
  }

  private async checkPending(): Promise<void> {
    const now = Date.now();
    for (const [runId, pod] of this.pending) {
      const created = pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : now;
      if (now - created < this.options.startTimeoutMs) continue;
      const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
      const jobName = pod.metadata?.labels?.['batch.kubernetes.io/job-name'] ?? pod.metadata?.labels?.['job-name'];
      const seconds = Math.round(this.options.startTimeoutMs / 1000);
      const unschedulable = scheduled?.status === 'False';
      await this.write(runId, {
        to: 'failed', from: LIVE_STATUSES, settle: false, deleteJob: jobName,
        type: unschedulable ? 'Unschedulable' : 'StartTimeout',
        message: unschedulable
          ? `its pod ${pod.metadata?.name} could not be scheduled within the start timeout (${seconds} s): ${scheduled?.message ?? scheduled?.reason ?? 'no node fits'}`
          : `its pod ${pod.metadata?.name} did not start within the start timeout (${seconds} s); last state: ${pod.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? pod.status?.phase}`,
      });
      this.pending.delete(runId);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const wakers = this.wakers;
      function done() {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      }
      this.wakers.add(done);
    });
  }

  private say(level: KubeLogEntry['level'], message: string, runId?: string): void {
    this.options.log({ level, message, ...(runId ? { run_id: runId } : {}) });
  }
}

function event(type: string, actor: string, detail: Record<string, unknown>): EventInput {
  return { event_id: uuidv7(), at: new Date(), type, actor, detail };
}

/**
 * A pod stopped by an init container (`runner: inject`: the one that copies the runner), before the
 * job's container ever ran: the KubeScribe image cannot be pulled, or the copy failed (an image
 * without the single-file runner). The run fails at once with the reason, instead of waiting for the
 * start timeout or ending as `lost`.
 */
function initContainerFate(pod: V1Pod, jobName: string | null): Fate | null {
  for (const status of pod.status?.initContainerStatuses ?? []) {
    const waiting = status.state?.waiting;
    if (waiting?.reason && IMAGE_REASONS.has(waiting.reason)) {
      return {
        to: 'failed', from: LIVE_STATUSES, settle: false, type: 'ImagePull', deleteJob: jobName ?? undefined,
        message: `the image ${status.image} of init container ${status.name} could not be pulled (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}); the job never started`,
      };
    }
    const terminated = status.state?.terminated;
    if (terminated && terminated.exitCode !== 0) {
      return {
        to: 'failed', from: LIVE_STATUSES, settle: false, type: 'InitContainerFailed',
        message: `init container ${status.name} (${status.image}) exited with code ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}` +
          `${terminated.message ? `: ${terminated.message}` : ''}; the job never started` +
          (status.name === RUNNER_INIT_CONTAINER ? ` — does ${status.image} hold the single-file runner at ${RUNNER_IMAGE_PATH}? (kubernetes.image must be a KubeScribe image built with it)` : ''),
      };
    }
  }
  return null;
}
