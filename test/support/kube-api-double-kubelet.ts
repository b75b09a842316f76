// The simulated control plane behind the Kubernetes API double: a Job controller (one pod per Job,
// backoffLimit 0 semantics, activeDeadlineSeconds, deletion propagation), a CronJob controller that
// fires on request, and a kubelet that moves pods through Pending → Running → Succeeded/Failed
// following a scenario chosen per Job, or runs a real process as the pod. A process pod gets the
// ServiceAccount tokens its projected volumes ask for, written under a temporary directory that stands
// in for the mount path: env values naming a path under the mount are rewritten to it (the one
// difference from a real kubelet, which mounts them where the pod spec says). An emptyDir is a real
// temporary directory mapped the same way (in env values and in command words), and a process pod's
// init containers really run, one after the other, before its container: so the init container that
// copies the injected runner (`cp /app/dist/runner/kubescribe /kubescribe/kubescribe`) copies a real
// file into the pod's emptyDir, and the job's container then runs that copy. Files of the images
// themselves are host files named in `imageFiles`.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RUNNER_IMAGE_PATH } from '../../src/kubernetes/runner-injection.ts';
import type { KubeApiDouble, KubeObject, Resource } from './kube-api-double.ts';

const BIN = fileURLToPath(new URL('../../bin/kubescribe.js', import.meta.url));

let standInRunner: string | null = null;
/**
 * What the KubeScribe image holds at RUNNER_IMAGE_PATH unless a test names the real single-file runner
 * (test/support/runner-executable.ts): a script that runs the repository's CLI with this node, so every
 * process pod goes through the init container's copy without building the executable.
 */
export function standInRunnerFile(): string {
  if (standInRunner) return standInRunner;
  const dir = mkdtempSync(join(tmpdir(), 'ks-runner-stand-in-'));
  const file = join(dir, 'kubescribe');
  writeFileSync(file, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
  chmodSync(file, 0o755);
  standInRunner = file;
  return file;
}

/** What the simulated kubelet does with a Job's pod. */
export type PodScenario =
  | { kind: 'succeed' }
  | { kind: 'fail'; exitCode: number }
  /** The container is killed by the kernel's OOM killer: exit 137, reason OOMKilled. */
  | { kind: 'oom' }
  /** The image cannot be pulled: ErrImagePull, then ImagePullBackOff; the pod stays Pending. */
  | { kind: 'image-pull' }
  /** No node fits: PodScheduled False, reason Unschedulable; the pod stays Pending. */
  | { kind: 'unschedulable' }
  /** The node evicts the running pod: phase Failed, reason Evicted. */
  | { kind: 'evicted' }
  /** The Job's activeDeadlineSeconds passes while it runs: pods deleted, Job Failed DeadlineExceeded. */
  | { kind: 'deadline' }
  /** Running until the test calls finishPod() or deletes it. */
  | { kind: 'hold' }
  /**
   * A real process as the pod's container: the container's command and args, `kubescribe` being the
   * repository's bin/kubescribe.js; the container's env plus `env`. Pending until `release` resolves.
   */
  | { kind: 'process'; env?: Record<string, string>; cwd?: string; release?: Promise<void> };

export interface KubeletOptions {
  /** The scenario of each created Job's pod (default: succeed). */
  scenario?: (job: KubeObject) => PodScenario;
  /** Time between two pod phases (default 20 ms). */
  stepMs?: number;
  /** Upper bound on a process pod's termination grace period, to keep tests fast (default 5 s). */
  maxGraceMs?: number;
  /**
   * Lifetime of the ServiceAccount tokens projected into process pods, instead of the volume's
   * expirationSeconds (Kubernetes' minimum is 600 s): lets a test see tokens expire and rotate.
   */
  tokenLifetimeSeconds?: number;
  /** Secret values for env `valueFrom.secretKeyRef` of process pods: secret name → key → value. */
  secrets?: Record<string, Record<string, string>>;
  /**
   * Files of the images as host files, path in the image → host path, used in the command words of
   * process pods' containers. Default: the KubeScribe image's single-file runner is standInRunnerFile().
   */
  imageFiles?: Record<string, string>;
}

interface PodState {
  namespace: string;
  name: string;
  job: string;
  timers: NodeJS.Timeout[];
  process: ChildProcess | null;
  log: string;
  /** Where the pod's projected volumes are written, when it has any. */
  volumesDir: string | null;
  deleting: boolean;
  finished: boolean;
}

/** The digest the simulated registry gives an image, as a container status's imageID shows it. */
export function imageDigestOf(image: string): string {
  const repo = image.split('@')[0]!.replace(/:[^/:]+$/, '');
  return `${repo.includes('/') ? repo : `docker.io/library/${repo}`}@sha256:${createHash('sha256').update(image).digest('hex')}`;
}

export class Kubelet {
  private readonly pods = new Map<string, PodState>();
  private readonly jobTimers = new Map<string, NodeJS.Timeout>();
  private readonly step: number;
  private stopped = false;

  constructor(private readonly api: KubeApiDouble, private readonly options: KubeletOptions) {
    this.step = options.stepMs ?? 20;
  }

  stop(): void {
    this.stopped = true;
    for (const pod of this.pods.values()) {
      for (const timer of pod.timers) clearTimeout(timer);
      pod.process?.kill('SIGKILL');
      if (pod.volumesDir) rmSync(pod.volumesDir, { recursive: true, force: true });
    }
    for (const timer of this.jobTimers.values()) clearTimeout(timer);
  }

  /** The stored output of a pod's process (the pod log endpoint). */
  logOf(pod: string): string {
    return [...this.pods.values()].find((state) => state.name === pod)?.log ?? '';
  }

  /** Names of the pods the controller created for a Job. */
  podsOf(namespace: string, job: string): string[] {
    return this.api.list('pods', namespace).filter((pod) => pod.metadata.labels?.['job-name'] === job).map((pod) => pod.metadata.name);
  }

  /** Ends a `hold` pod's container with this exit code. */
  finishPod(namespace: string, name: string, exitCode: number): void {
    const state = this.pods.get(`${namespace}/${name}`);
    if (!state) throw new Error(`no pod ${namespace}/${name}`);
    this.terminate(state, exitCode, exitCode === 0 ? 'Completed' : 'Error');
  }

  /** Creates the Job a CronJob would create for the schedule slot `at`. */
  fireCronJob(namespace: string, cronJob: string, at: Date): KubeObject {
    const cron = this.api.get('cronjobs', namespace, cronJob);
    if (!cron) throw new Error(`no cronjob ${namespace}/${cronJob}`);
    const template = cron.spec.jobTemplate;
    return this.api.createObject('jobs', namespace, {
      metadata: {
        name: `${cronJob}-${Math.floor(at.getTime() / 60_000)}`,
        labels: { ...(template.metadata?.labels ?? {}) },
        annotations: { ...(template.metadata?.annotations ?? {}), 'batch.kubernetes.io/cronjob-scheduled-timestamp': at.toISOString().replace(/\.\d{3}Z$/, 'Z') },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cronJob, uid: cron.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: structuredClone(template.spec),
    });
  }

  // ---- Job controller ----------------------------------------------------------------------------

  jobCreated(job: KubeObject): void {
    if (this.stopped || job.spec?.suspend) return;
    const namespace: string = job.metadata.namespace;
    const scenario = this.options.scenario?.(job) ?? { kind: 'succeed' };
    const podName = `${job.metadata.name}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    const state: PodState = { namespace, name: podName, job: job.metadata.name, timers: [], process: null, log: '', volumesDir: null, deleting: false, finished: false };
    this.pods.set(`${namespace}/${podName}`, state);
    const template = job.spec.template;
    const uid = job.metadata.uid;
    this.later(state, () => {
      this.api.createObject('pods', namespace, {
        metadata: {
          name: podName,
          generateName: `${job.metadata.name}-`,
          labels: {
            ...(template.metadata?.labels ?? {}),
            'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': job.metadata.name,
            'controller-uid': uid, 'job-name': job.metadata.name,
          },
          annotations: { ...(template.metadata?.annotations ?? {}) },
          ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid, controller: true, blockOwnerDeletion: true }],
        },
        spec: structuredClone(template.spec),
        status: { phase: 'Pending', qosClass: 'BestEffort' },
      });
      this.api.modify('jobs', namespace, job.metadata.name, (j) => {
        j.status = { ...j.status, startTime: now(), active: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {} };
      });
      this.play(state, scenario);
    });
    const deadline = job.spec.activeDeadlineSeconds;
    if (typeof deadline === 'number' && scenario.kind !== 'deadline') {
      this.jobTimers.set(`${namespace}/${job.metadata.name}`, setTimeout(() => this.deadlineExceeded(namespace, job.metadata.name), deadline * 1000));
    }
  }

  /** A Job or CronJob was deleted with a propagation policy. */
  ownerDeleted(resource: Resource, namespace: string, owner: KubeObject, policy: string): void {
    const name: string = owner.metadata.name;
    clearTimeout(this.jobTimers.get(`${namespace}/${name}`));
    const dependents = resource === 'jobs'
      ? this.api.list('pods', namespace).filter((pod) => pod.metadata.ownerReferences?.some((ref: KubeObject) => ref.uid === owner.metadata.uid))
      : this.api.list('jobs', namespace).filter((job) => job.metadata.ownerReferences?.some((ref: KubeObject) => ref.uid === owner.metadata.uid));
    const dependentResource: Resource = resource === 'jobs' ? 'pods' : 'jobs';
    if (policy === 'Orphan') {
      this.api.removeObject(resource, namespace, name);
      for (const dep of dependents) {
        this.api.modify(dependentResource, namespace, dep.metadata.name, (obj) => {
          obj.metadata.ownerReferences = obj.metadata.ownerReferences.filter((ref: KubeObject) => ref.uid !== owner.metadata.uid);
        });
      }
      return;
    }
    const deleteDependents = () => {
      for (const dep of dependents) {
        if (dependentResource === 'pods') this.deletePod(namespace, dep.metadata.name, undefined, true);
        else {
          this.api.removeObject('jobs', namespace, dep.metadata.name);
          this.ownerDeleted('jobs', namespace, dep, 'Background');
        }
      }
    };
    if (policy === 'Foreground') {
      this.api.modify(resource, namespace, name, (obj) => {
        obj.metadata.deletionTimestamp = now();
        obj.metadata.finalizers = ['foregroundDeletion'];
      });
      deleteDependents();
      setTimeout(() => this.api.removeObject(resource, namespace, name), this.step);
      return;
    }
    this.api.removeObject(resource, namespace, name);
    // The garbage collector notices the orphaned dependents a moment later.
    setTimeout(deleteDependents, this.step);
  }

  /** A pod deletion: graceful (SIGTERM, then SIGKILL after the grace period) for a process pod. */
  deletePod(namespace: string, name: string, graceSeconds?: number, byOwner = false): void {
    const state = this.pods.get(`${namespace}/${name}`);
    const pod = this.api.get('pods', namespace, name);
    if (!pod) return;
    if (state) {
      state.deleting = true;
      for (const timer of state.timers) clearTimeout(timer);
    }
    this.api.modify('pods', namespace, name, (obj) => {
      obj.metadata.deletionTimestamp = now();
      obj.metadata.deletionGracePeriodSeconds = graceSeconds ?? obj.spec.terminationGracePeriodSeconds ?? 30;
    });
    if (!byOwner && state && !state.finished) this.jobPodGone(namespace, state.job);
    const proc = state?.process;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const graceMs = Math.min((graceSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000, this.options.maxGraceMs ?? 5000);
      proc.kill('SIGTERM');
      const kill = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      proc.once('exit', () => {
        clearTimeout(kill);
        setTimeout(() => this.removePod(namespace, name), this.step);
      });
      return;
    }
    setTimeout(() => this.removePod(namespace, name), this.step);
  }

  private removePod(namespace: string, name: string): void {
    this.api.removeObject('pods', namespace, name);
    const state = this.pods.get(`${namespace}/${name}`);
    if (state?.volumesDir) rmSync(state.volumesDir, { recursive: true, force: true });
    this.pods.delete(`${namespace}/${name}`);
  }

  /**
   * Writes (again: the kubelet refreshes them before they expire) the ServiceAccount tokens of a pod's
   * projected volumes; returns mount path → directory standing in for it.
   */
  projectTokens(namespace: string, name: string): Map<string, string> {
    const state = this.pods.get(`${namespace}/${name}`);
    const pod = this.api.get('pods', namespace, name);
    if (!state || !pod) throw new Error(`no pod ${namespace}/${name}`);
    const mounts = new Map<string, string>();
    for (const volume of (pod.spec.volumes ?? []) as KubeObject[]) {
      const sources = ((volume.projected?.sources ?? []) as KubeObject[]).filter((source) => source.serviceAccountToken);
      if (sources.length === 0) continue;
      state.volumesDir ??= mkdtempSync(join(tmpdir(), 'ks-pod-volumes-'));
      const dir = join(state.volumesDir, volume.name);
      for (const { serviceAccountToken: request } of sources) {
        const token = this.api.issueToken({
          namespace, pod: name, audiences: request.audience ? [request.audience] : undefined,
          expirationSeconds: this.options.tokenLifetimeSeconds ?? request.expirationSeconds ?? 3600,
        });
        const file = join(dir, request.path);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, token, { mode: 0o600 });
      }
      for (const container of pod.spec.containers as KubeObject[]) {
        for (const mount of (container.volumeMounts ?? []) as KubeObject[]) if (mount.name === volume.name) mounts.set(mount.mountPath, dir);
      }
    }
    return mounts;
  }

  // A pod deleted under a live Job counts as a failure; with backoffLimit 0 the Job fails.
  private jobPodGone(namespace: string, job: string): void {
    this.failJob(namespace, job, 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
  }

  private deadlineExceeded(namespace: string, job: string): void {
    const current = this.api.get('jobs', namespace, job);
    if (!current || isFinished(current)) return;
    for (const pod of this.podsOf(namespace, job)) this.deletePod(namespace, pod, undefined, true);
    this.failJob(namespace, job, 'DeadlineExceeded', 'Job was active longer than specified deadline');
  }

  private failJob(namespace: string, job: string, reason: string, message: string): void {
    this.api.modify('jobs', namespace, job, (obj) => {
      if (isFinished(obj)) return;
      const at = now();
      obj.status = {
        ...obj.status, active: 0, ready: 0, failed: (obj.status.failed ?? 0) + 1,
        conditions: [
          { type: 'FailureTarget', status: 'True', reason, message, lastProbeTime: at, lastTransitionTime: at },
          { type: 'Failed', status: 'True', reason, message, lastProbeTime: at, lastTransitionTime: at },
        ],
      };
    });
  }

  private succeedJob(namespace: string, job: string): void {
    this.api.modify('jobs', namespace, job, (obj) => {
      if (isFinished(obj)) return;
      const at = now();
      obj.status = {
        ...obj.status, active: 0, ready: 0, succeeded: 1, completionTime: at,
        conditions: [
          { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastProbeTime: at, lastTransitionTime: at },
          { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastProbeTime: at, lastTransitionTime: at },
        ],
      };
    });
  }

  // ---- kubelet -------------------------------------------------------------------------------------

  private play(state: PodState, scenario: PodScenario): void {
    const { namespace, name } = state;
    const pod = this.api.get('pods', namespace, name)!;
    const containers: KubeObject[] = pod.spec.containers ?? [];
    const statuses = (make: (c: KubeObject) => KubeObject) => containers.map((c) => ({
      name: c.name, image: c.image, imageID: '', containerID: '', ready: false, restartCount: 0, started: false, ...make(c),
    }));
    const set = (change: (status: KubeObject) => void) => this.api.modify('pods', namespace, name, (obj) => change(obj.status));
    const at = now();
    if (scenario.kind === 'unschedulable') {
      set((s) => {
        s.conditions = [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: at,
          message: '0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.' }];
      });
      return;
    }
    this.later(state, () => set((s) => {
      s.conditions = [{ type: 'PodScheduled', status: 'True', lastTransitionTime: at }];
      s.hostIP = '10.0.0.7';
      s.containerStatuses = statuses(() => ({ state: { waiting: { reason: 'ContainerCreating' } } }));
    }));
    if (scenario.kind === 'image-pull') {
      this.later(state, () => set((s) => {
        s.containerStatuses = statuses((c) => ({ state: { waiting: { reason: 'ErrImagePull', message: `failed to pull and unpack image "${c.image}": not found` } } }));
      }));
      this.later(state, () => set((s) => {
        s.containerStatuses = statuses((c) => ({ state: { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` } } }));
      }));
      return;
    }
    if (scenario.kind === 'process') {
      const release = scenario.release ?? Promise.resolve();
      void release.then(() => {
        if (!state.deleting && !this.stopped) this.later(state, () => this.startProcess(state, scenario));
      });
      return;
    }
    this.later(state, () => this.markRunning(state));
    switch (scenario.kind) {
      case 'succeed': this.later(state, () => this.terminate(state, 0, 'Completed')); break;
      case 'fail': this.later(state, () => this.terminate(state, scenario.exitCode, 'Error')); break;
      case 'oom': this.later(state, () => this.terminate(state, 137, 'OOMKilled')); break;
      case 'evicted': this.later(state, () => this.evict(state)); break;
      case 'deadline': this.later(state, () => this.deadlineExceeded(namespace, state.job)); break;
      case 'hold': break;
    }
  }

  private markRunning(state: PodState): void {
    const at = now();
    this.api.modify('pods', state.namespace, state.name, (obj) => {
      obj.status.phase = 'Running';
      obj.status.podIP = '10.244.0.12';
      obj.status.startTime = at;
      obj.status.conditions = [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: at },
        { type: 'Initialized', status: 'True', lastTransitionTime: at },
        { type: 'ContainersReady', status: 'True', lastTransitionTime: at },
        { type: 'Ready', status: 'True', lastTransitionTime: at },
      ];
      obj.status.containerStatuses = (obj.spec.containers as KubeObject[]).map((c) => ({
        name: c.name, image: c.image, imageID: imageDigestOf(c.image), containerID: `containerd://${randomBytes(32).toString('hex')}`,
        ready: true, restartCount: 0, started: true, state: { running: { startedAt: at } },
      }));
    });
    this.api.modify('jobs', state.namespace, state.job, (obj) => {
      obj.status.ready = 1;
    });
  }

  private terminate(state: PodState, exitCode: number, reason: string): void {
    if (state.finished) return;
    state.finished = true;
    const at = now();
    const updated = this.api.modify('pods', state.namespace, state.name, (obj) => {
      obj.status.phase = exitCode === 0 ? 'Succeeded' : 'Failed';
      obj.status.conditions = (obj.status.conditions ?? []).map((c: KubeObject) =>
        c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False', reason: 'PodCompleted', lastTransitionTime: at } : c);
      obj.status.containerStatuses = (obj.status.containerStatuses ?? []).map((c: KubeObject) => ({
        ...c, ready: false, started: false,
        state: { terminated: { exitCode, reason, startedAt: c.state?.running?.startedAt ?? at, finishedAt: at, containerID: c.containerID } },
      }));
    });
    if (!updated || state.deleting) return;
    if (exitCode === 0) this.succeedJob(state.namespace, state.job);
    else this.failJob(state.namespace, state.job, 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
  }

  private evict(state: PodState): void {
    state.finished = true;
    this.api.modify('pods', state.namespace, state.name, (obj) => {
      obj.status.phase = 'Failed';
      obj.status.reason = 'Evicted';
      obj.status.message = 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki.';
      obj.status.conditions = [...(obj.status.conditions ?? []), { type: 'DisruptionTarget', status: 'True', reason: 'TerminationByKubelet', lastTransitionTime: now() }];
      obj.status.containerStatuses = (obj.status.containerStatuses ?? []).map((c: KubeObject) => ({
        ...c, ready: false, started: false, state: { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown', finishedAt: now() } },
      }));
    });
    this.failJob(state.namespace, state.job, 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
  }

  private startProcess(state: PodState, scenario: Extract<PodScenario, { kind: 'process' }>): void {
    const pod = this.api.get('pods', state.namespace, state.name);
    if (!pod) return;
    const mounts = this.projectTokens(state.namespace, state.name);
    for (const [mountPath, dir] of this.mountEmptyDirs(state, pod)) mounts.set(mountPath, dir);
    void this.runInitContainers(state, pod, mounts).then((failed) => {
      if (state.deleting || this.stopped) return;
      if (failed) this.initFailed(state, failed.name, failed.image, failed.exitCode);
      else this.startContainer(state, pod, mounts, scenario);
    });
  }

  /** The pod's emptyDir volumes as fresh directories: mount path → directory. */
  private mountEmptyDirs(state: PodState, pod: KubeObject): Map<string, string> {
    const mounts = new Map<string, string>();
    for (const volume of (pod.spec.volumes ?? []) as KubeObject[]) {
      if (!volume.emptyDir) continue;
      state.volumesDir ??= mkdtempSync(join(tmpdir(), 'ks-pod-volumes-'));
      const dir = join(state.volumesDir, volume.name);
      mkdirSync(dir, { recursive: true });
      for (const container of [...(pod.spec.initContainers ?? []), ...pod.spec.containers] as KubeObject[]) {
        for (const mount of (container.volumeMounts ?? []) as KubeObject[]) if (mount.name === volume.name) mounts.set(mount.mountPath, dir);
      }
    }
    return mounts;
  }

  /** A command word or env value naming a path under a mount, or a file of the images, as the host path. */
  private hostPath(value: string, mounts: Map<string, string>): string {
    for (const [mountPath, dir] of mounts) {
      if (value === mountPath || value.startsWith(`${mountPath}/`)) return `${dir}${value.slice(mountPath.length)}`;
    }
    const files = this.options.imageFiles ?? { [RUNNER_IMAGE_PATH]: standInRunnerFile() };
    return files[value] ?? value;
  }

  /** Runs the init containers in order; the first that fails ends the pod (restartPolicy Never). */
  private async runInitContainers(state: PodState, pod: KubeObject, mounts: Map<string, string>): Promise<{ name: string; image: string; exitCode: number } | null> {
    for (const init of (pod.spec.initContainers ?? []) as KubeObject[]) {
      const argv = [...(init.command ?? []), ...(init.args ?? [])].map((word: string) => this.hostPath(word, mounts));
      if (argv.length === 0) throw new Error(`pod ${state.name}: init container ${init.name} needs an explicit command`);
      const proc = spawn(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout!.on('data', (data: Buffer) => (state.log += data.toString('utf8')));
      proc.stderr!.on('data', (data: Buffer) => (state.log += data.toString('utf8')));
      const exitCode = await new Promise<number>((resolve) => {
        proc.once('error', (error) => {
          state.log += `init container ${init.name}: ${error.message}\n`;
          resolve(127);
        });
        proc.once('exit', (code) => resolve(code ?? 1));
      });
      if (exitCode !== 0) return { name: init.name, image: init.image, exitCode };
    }
    return null;
  }

  /** An init container failed (restartPolicy Never): the pod fails without its containers ever running. */
  private initFailed(state: PodState, name: string, image: string, exitCode: number): void {
    state.finished = true;
    const at = now();
    this.api.modify('pods', state.namespace, state.name, (obj) => {
      obj.status.phase = 'Failed';
      obj.status.initContainerStatuses = [{
        name, image, imageID: imageDigestOf(image), ready: false, restartCount: 0, started: false,
        state: { terminated: { exitCode, reason: 'Error', startedAt: at, finishedAt: at } },
      }];
      obj.status.containerStatuses = (obj.spec.containers as KubeObject[]).map((c) => ({
        name: c.name, image: c.image, imageID: '', ready: false, restartCount: 0, started: false, state: { waiting: { reason: 'PodInitializing' } },
      }));
    });
    this.failJob(state.namespace, state.job, 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
  }

  private startContainer(state: PodState, pod: KubeObject, mounts: Map<string, string>, scenario: Extract<PodScenario, { kind: 'process' }>): void {
    const container: KubeObject = pod.spec.containers[0];
    const argv: string[] = [...(container.command ?? []), ...(container.args ?? [])];
    if (argv.length === 0) throw new Error(`pod ${state.name}: the double needs an explicit command (it has no image entrypoints)`);
    const [program, ...rest] = argv[0] === 'kubescribe' ? [process.execPath, BIN, ...argv.slice(1)] : [this.hostPath(argv[0]!, mounts), ...argv.slice(1)];
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOSTNAME: state.name };
    // The kubelet writes a fresh token when 80 % of the old one's life has passed.
    const lifetimes = ((pod.spec.volumes ?? []) as KubeObject[]).flatMap((v) => ((v.projected?.sources ?? []) as KubeObject[]))
      .filter((source) => source.serviceAccountToken).map((source) => this.options.tokenLifetimeSeconds ?? source.serviceAccountToken.expirationSeconds ?? 3600);
    if (lifetimes.length > 0) {
      const refresh = setInterval(() => {
        if (state.deleting || state.finished || this.stopped) clearInterval(refresh);
        else this.projectTokens(state.namespace, state.name);
      }, Math.min(...lifetimes) * 800);
      state.timers.push(refresh);
    }
    const local = (value: string) => {
      for (const [mountPath, dir] of mounts) {
        if (value === mountPath || value.startsWith(`${mountPath}/`)) return `${dir}${value.slice(mountPath.length)}`;
      }
      return value;
    };
    for (const item of (container.env ?? []) as KubeObject[]) {
      const value = item.value ?? this.valueFrom(pod, item.valueFrom);
      if (value !== undefined) env[item.name] = local(value);
    }
    Object.assign(env, scenario.env ?? {});
    this.markRunning(state);
    const proc = spawn(program!, rest, { cwd: scenario.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    state.process = proc;
    proc.stdout!.on('data', (data: Buffer) => (state.log += data.toString('utf8')));
    proc.stderr!.on('data', (data: Buffer) => (state.log += data.toString('utf8')));
    // No such program: what the kubelet reports as a container that could not start (StartError, 128).
    proc.once('error', (error) => {
      state.log += `${program}: ${error.message}\n`;
      this.terminate(state, 128, 'StartError');
    });
    proc.once('exit', (code, signal) => {
      const exitCode = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
      this.terminate(state, exitCode, exitCode === 0 ? 'Completed' : 'Error');
    });
  }

  private valueFrom(pod: KubeObject, source: KubeObject | undefined): string | undefined {
    const field: string | undefined = source?.fieldRef?.fieldPath;
    if (field) {
      if (field === 'metadata.name') return pod.metadata.name;
      if (field === 'metadata.namespace') return pod.metadata.namespace;
      if (field === 'metadata.uid') return pod.metadata.uid;
      if (field === 'spec.nodeName') return 'node-1';
      const match = field.match(/^metadata\.(labels|annotations)\['(.+)'\]$/);
      if (match) return pod.metadata[match[1]!]?.[match[2]!];
      return undefined;
    }
    const secret = source?.secretKeyRef;
    if (secret) return this.options.secrets?.[secret.name]?.[secret.key];
    return undefined;
  }

  // Steps of one pod run one after another, stepMs apart.
  private later(state: PodState, fn: () => void): void {
    const delay = this.step * (state.timers.length + 1);
    state.timers.push(setTimeout(() => {
      if (!this.stopped && !state.deleting) fn();
    }, delay));
  }
}

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

function isFinished(job: KubeObject): boolean {
  return (job.status?.conditions ?? []).some((c: KubeObject) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}
