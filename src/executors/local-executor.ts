// Runs on this machine, through the same runner code as `kubescribe run`, inside the server process
// (which holds the RunLog: embedded PGlite can be opened by one process only).
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import { formatDuration } from '../config/durations.ts';
import type { KubescribeConfig } from '../config/job-definition.ts';
import { lostAfterMs } from '../config/lost-after.ts';
import { borrowedDb, type Db } from '../runlog/db.ts';
import { isUnreachable } from '../runlog/connectivity.ts';
import { listAdoptedLiveRuns, listQueuedRuns } from '../runlog/sql/executor-runs.ts';
import { getRun, insertEvent, touchHeartbeat, transitionRun } from '../runlog/sql/runs.ts';
import { LIVE_STATUSES, STARTED_STATUSES, type RunRecord } from '../runlog/types.ts';
import { runEvent } from '../runlog/run-event.ts';
import { spoolDirectory, spoolFileOf } from '../runner/recorder.ts';
import { flushSpools } from '../runner/runlog-sink.ts';
import { runCommand } from '../runner/runner.ts';
import { processGroupAlive, signalProcessGroup } from '../util/process-group.ts';
import { executorActor } from './actor.ts';
import type { Executor } from './executor.ts';

// How long a run whose start failed on an unreachable RunLog waits before it is dispatched again.
const REDISPATCH_AFTER_MS = 2000;
// How often queued runs nobody dispatched, and records spooled by runners, are looked for.
const SWEEP_MS = 5000;

export interface LocalExecutorOptions {
  db: Db;
  config: KubescribeConfig;
  /** KubeScribe's local directory (the runner's offline buffers). */
  home: string;
  /** Working directory of every run's command (the directory of kubescribe.yaml). */
  cwd: string;
  /** Runs beyond this many wait as `queued` and start in the order they were accepted (default 4). */
  maxConcurrentRuns?: number;
  /** Receives the runner's own messages (warnings, errors); the jobs' output is in the RunLog. */
  logSink?: (runId: string, line: string) => void;
  /** How often a re-adopted process is checked for life (default 1 s). */
  pollMs?: number;
  /** How often queued runs nobody dispatched and the runners' spooled records are swept (default 5 s). */
  sweepMs?: number;
  /**
   * Variables of the server's environment to pass to every job beyond the base set (KUBESCRIBE_PASS_ENV);
   * a job's process gets no other variable of the server's (docs/runner.md, "The job's environment").
   */
  passEnv?: readonly string[];
}

// The executor's own steps (re-adopting, marking lost); the runner it starts credits its steps the same way.
const ACTOR = executorActor('local');
const SHUTDOWN_ACTOR = 'server-shutdown';
const ORPHAN_ENDED = 'the process ended while no runner supervised it; exit code unknown';

interface Supervised { controller: AbortController; done: Promise<void>; pid: number | null }

/** A live process left by a previous server: watched until it ends, as no runner supervises it. */
interface Orphan {
  run: RunRecord;
  pid: number;
  poll: NodeJS.Timeout;
  heartbeat: NodeJS.Timeout;
  cancelledBy: string | null;
  killTimer: NodeJS.Timeout | null;
  checking: boolean;
}

/** The local executor: runs as child processes of this server, supervised by in-process runners. */
export class LocalExecutor implements Executor {
  readonly name = 'local' as const;
  private state: 'idle' | 'started' | 'stopping' = 'idle';
  private sweeper: NodeJS.Timeout | null = null;
  // Run ids waiting for a slot, in UUIDv7 order, which is the order they were accepted.
  private pending: string[] = [];
  private readonly supervised = new Map<string, Supervised>();
  private readonly orphans = new Map<string, Orphan>();
  // Runs whose start failed on an unreachable RunLog, dispatched again after REDISPATCH_AFTER_MS.
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private readonly sharedDb: Db;
  private readonly max: number;

  constructor(private readonly options: LocalExecutorOptions) {
    this.max = Math.max(1, options.maxConcurrentRuns ?? 4);
    // The server owns the RunLog; a runner closing "its" connection must not close the server's.
    this.sharedDb = borrowedDb(options.db);
  }

  /** Uses a reloaded config for the runs that start from now on (runs in progress keep theirs). */
  setConfig(config: KubescribeConfig): void {
    this.options.config = config;
  }

  /** Runs started by this executor that have not ended yet, including re-adopted ones. */
  get liveRunIds(): string[] {
    return [...this.supervised.keys(), ...this.orphans.keys()];
  }

  /**
   * True while this executor answers for the run: its runner lives here, or the runner ended while the
   * RunLog was away and its last records (the final status among them) wait in this home's spool.
   * The reaper leaves such runs alone: their silence is the outage's, and the sweep writes them.
   */
  supervises(runId: string): boolean {
    return this.supervised.has(runId) || this.orphans.has(runId) || existsSync(spoolFileOf(this.options.home, runId));
  }

  /** Queues the run; it starts when a slot is free. Before start() or after stop() it stays queued for the next start(). */
  async dispatch(runId: string): Promise<void> {
    if (this.state !== 'started') return;
    if (this.supervised.has(runId) || this.orphans.has(runId) || this.delayed.has(runId) || this.pending.includes(runId)) return;
    const at = this.pending.findIndex((other) => other > runId);
    this.pending.splice(at === -1 ? this.pending.length : at, 0, runId);
    this.pump();
  }

  /** Stops a run this executor holds: aborts its runner, signals a re-adopted process, or drops it from the queue. */
  async cancel(runId: string, actor: string): Promise<boolean> {
    const live = this.supervised.get(runId);
    if (live) {
      // The runner records `cancel_requested` with this actor, sends SIGTERM, then SIGKILL after the grace period.
      live.controller.abort(actor);
      return true;
    }
    const orphan = this.orphans.get(runId);
    if (orphan) {
      await this.terminateOrphan(orphan, actor);
      return true;
    }
    const waiting = this.pending.indexOf(runId);
    if (waiting === -1 && !this.delayed.has(runId)) return false;
    if (waiting !== -1) this.pending.splice(waiting, 1);
    clearTimeout(this.delayed.get(runId));
    this.delayed.delete(runId);
    await transitionRun(this.options.db, runId, ['queued'], 'cancelled', {
      finished_at: new Date(),
      error_type: 'Cancelled',
      error_message: `cancelled by ${actor} before it started`,
    }, runEvent('cancelled', actor));
    return true;
  }

  /**
   * Reconciles runs a previous server process left `starting`/`running` (re-adopts a process that
   * still lives on this host, marks the others `lost`), then starts every queued run in order.
   */
  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'started';
    await this.reconcile();
    for (const runId of (await listQueuedRuns(this.options.db, this.name)).map((run) => run.run_id)) await this.dispatch(runId);
    // A run written while the RunLog failed (the trigger's answer lost, its dispatch never made) stays
    // queued; a periodic look picks it up. Runs already held here are skipped by dispatch().
    // Records of runners that ended while the RunLog was away are written by the same sweep, not
    // left until the next runner starts here.
    this.sweeper = setInterval(() => {
      flushSpools(this.sharedDb, spoolDirectory(this.options.home), () => {})
        .then(() => listQueuedRuns(this.options.db, this.name))
        .then((runs) => runs.forEach((run) => void this.dispatch(run.run_id)))
        .catch(() => {}); // the RunLog is away: the next sweep tries again
    }, this.options.sweepMs ?? SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Stops taking runs. With `drain`, waits for the runs in progress to end; without, cancels them.
   * Queued runs (and retries waiting for their backoff) stay queued for the next start(); re-adopted
   * processes are left running and re-adopted again then.
   */
  async stop(options: { drain?: boolean } = {}): Promise<void> {
    this.state = 'stopping';
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const timer of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.pending = [];
    for (const orphan of [...this.orphans.values()]) this.release(orphan);
    if (!options.drain) for (const live of this.supervised.values()) live.controller.abort(SHUTDOWN_ACTOR);
    await Promise.allSettled([...this.supervised.values()].map((live) => live.done));
    this.state = 'idle';
  }

  /**
   * "Stop now": cancels every run this executor supervises and kills its process group at once
   * instead of after the job's grace period; resolves when the runners have recorded them cancelled.
   */
  async stopNow(): Promise<void> {
    const stopped = this.stop({ drain: false });
    // stop() has aborted every runner (each recorded cancel_requested and sent SIGTERM): the runner
    // then records `cancelled` whatever signal ends the process.
    for (const live of this.supervised.values()) if (live.pid !== null) signalProcessGroup(live.pid, 'SIGKILL');
    await stopped;
  }

  private pump(): void {
    while (this.state === 'started' && this.pending.length > 0 && this.supervised.size + this.orphans.size < this.max) {
      const runId = this.pending.shift()!;
      const controller = new AbortController();
      const live: Supervised = { controller, done: Promise.resolve(), pid: null };
      this.supervised.set(runId, live);
      // A RunLog outage before the runner took the run (its first read failed) would leave it queued
      // until the next start: try again shortly instead; a run that did start is not queued and is skipped.
      let retry = false;
      live.done = this.supervise(runId, controller.signal)
        .catch((error: unknown) => {
          retry = isUnreachable(error);
          this.say(runId, `kubescribe: run ${runId}: ${describe(error)}${retry ? '; trying again shortly' : ''}`);
        })
        .finally(() => {
          this.supervised.delete(runId);
          if (retry) this.dispatchAfter(runId, REDISPATCH_AFTER_MS);
          this.pump();
        });
    }
  }

  private async supervise(runId: string, signal: AbortSignal): Promise<void> {
    const { db, config } = this.options;
    const run = await getRun(db, runId);
    // Cancelled while it waited, or not ours to start: an aborted run that is still queued was
    // stopped by stop(), and stays queued for the next start().
    if (!run || run.status !== 'queued' || signal.aborted) return;
    const definition = config.jobs.get(run.job);
    const command = definition ? [] : (run.command ?? []);
    if (command.length === 0 && !definition) {
      await transitionRun(db, runId, ['queued'], 'failed', {
        finished_at: new Date(),
        error_type: 'JobNotDeclared',
        error_message: `job ${run.job} is no longer declared in ${config.file ?? 'kubescribe.yaml'} and the run records no command`,
      }, runEvent('failed', ACTOR));
      return;
    }
    try {
      await runCommand({
        command,
        job: run.job,
        runId,
        params: [],
        trigger: run.trigger,
        triggeredBy: run.triggered_by ?? ACTOR,
        config,
        home: this.options.home,
        openDb: async () => this.sharedDb,
        quiet: true,
        executor: this.name,
        signal,
        processSignals: false,
        // The server's environment holds its secrets (DATABASE_URL, SMTP_URL, ...): a job gets the base set only.
        envMode: 'base',
        passEnv: this.options.passEnv ?? [],
        // A server restart re-adopts live children (reconcile()), so they must outlive the server.
        orphanWatchdog: false,
        onStarted: (pid) => {
          const live = this.supervised.get(runId);
          if (live) live.pid = pid;
        },
        cwd: this.options.cwd,
        stdout: discard(),
        stderr: this.runnerMessages(runId),
      });
    } catch (error) {
      // The runner itself broke, not the job: nothing supervises the run any more.
      await transitionRun(db, runId, LIVE_STATUSES, 'lost', {
        finished_at: new Date(),
        error_type: 'Lost',
        error_message: `the runner failed: ${describe(error)}`,
      }, runEvent('lost', ACTOR, { reason: 'runner error' }));
    }
  }

  private dispatchAfter(runId: string, delayMs: number): void {
    if (this.state !== 'started') return;
    if (delayMs <= 0) {
      void this.dispatch(runId);
      return;
    }
    const timer = setTimeout(() => {
      this.delayed.delete(runId);
      void this.dispatch(runId);
    }, delayMs);
    this.delayed.set(runId, timer);
  }

  private async reconcile(): Promise<void> {
    const { db, config } = this.options;
    const host = hostname();
    // A silent heartbeat for runlog.lost_after means its runner is gone: the reaper's threshold, one definition.
    const staleMs = lostAfterMs(config.runlog);
    for (const run of await listAdoptedLiveRuns(db, this.name)) {
      // A run whose runner ended during an outage has its final records in the spool: the sweep writes them.
      if (this.supervises(run.run_id)) continue;
      const pid = typeof run.executor_ref.pid === 'number' ? run.executor_ref.pid : null;
      if (run.executor_ref.host === host) {
        if (pid !== null && processGroupAlive(pid)) {
          await this.reattach(run, pid);
        } else {
          await this.markLost(run, pid === null ? 'the server stopped before the process started; it never ran' : ORPHAN_ENDED);
        }
        continue;
      }
      // Another host's process cannot be looked at. Only with PGlite is it certain that no other
      // server supervises it (one process holds the RunLog); on PostgreSQL, a silent heartbeat says so.
      const silentMs = Date.now() - (run.heartbeat_at ?? run.created_at).getTime();
      if (db.engine === 'pglite' || silentMs > staleMs) {
        await this.markLost(run, `its runner on host ${String(run.executor_ref.host ?? 'unknown')} is gone ` +
          `(no heartbeat for ${formatDuration(Math.max(silentMs, 1))}); exit code unknown`);
      }
    }
  }

  private async reattach(run: RunRecord, pid: number): Promise<void> {
    const { db, config } = this.options;
    await insertEvent(db, run.run_id, runEvent('reattached', ACTOR, { pid, host: hostname() }));
    await touchHeartbeat(db, run.run_id, new Date());
    const orphan: Orphan = {
      run,
      pid,
      cancelledBy: null,
      killTimer: null,
      checking: false,
      poll: setInterval(() => void this.checkOrphan(orphan), this.options.pollMs ?? 1000),
      heartbeat: setInterval(() => {
        touchHeartbeat(db, run.run_id, new Date()).catch((error: unknown) => this.say(run.run_id, `kubescribe: heartbeat: ${describe(error)}`));
      }, config.runlog.heartbeat_ms),
    };
    this.orphans.set(run.run_id, orphan);
  }

  private async checkOrphan(orphan: Orphan): Promise<void> {
    if (orphan.checking || processGroupAlive(orphan.pid)) return;
    orphan.checking = true;
    try {
      this.release(orphan);
      const { run } = orphan;
      if (orphan.cancelledBy) {
        const moved = await transitionRun(this.options.db, run.run_id, STARTED_STATUSES, 'cancelled', {
          finished_at: new Date(),
          error_type: 'Cancelled',
          error_message: `cancelled by ${orphan.cancelledBy}: SIGTERM sent to the re-adopted process; exit code unknown`,
        }, runEvent('cancelled', orphan.cancelledBy, { pid: orphan.pid }));
        if (!moved.changed) return;
      } else {
        await this.markLost(run, ORPHAN_ENDED);
      }
    } catch (error) {
      this.say(orphan.run.run_id, `kubescribe: run ${orphan.run.run_id}: ${describe(error)}`);
    } finally {
      orphan.checking = false;
      this.pump();
    }
  }

  private async terminateOrphan(orphan: Orphan, actor: string): Promise<void> {
    if (orphan.cancelledBy) return;
    orphan.cancelledBy = actor;
    await insertEvent(this.options.db, orphan.run.run_id, runEvent('cancel_requested', actor, { signal: 'SIGTERM', pid: orphan.pid }));
    signalProcessGroup(orphan.pid, 'SIGTERM');
    const graceMs = this.options.config.jobs.get(orphan.run.job)?.grace_period_ms ?? 10_000;
    orphan.killTimer = setTimeout(() => {
      try {
        signalProcessGroup(orphan.pid, 'SIGKILL');
      } catch (error) {
        this.say(orphan.run.run_id, `kubescribe: run ${orphan.run.run_id}: SIGKILL to process group ${orphan.pid}: ${describe(error)}`);
      }
    }, graceMs);
  }

  private release(orphan: Orphan): void {
    clearInterval(orphan.poll);
    clearInterval(orphan.heartbeat);
    if (orphan.killTimer) clearTimeout(orphan.killTimer);
    this.orphans.delete(orphan.run.run_id);
  }

  private async markLost(run: RunRecord, message: string): Promise<void> {
    // A failing end: the server's retrier decides whether it is retried (src/runs/retrier.ts).
    await transitionRun(this.options.db, run.run_id, STARTED_STATUSES, 'lost', {
      finished_at: new Date(),
      error_type: 'Lost',
      error_message: message,
    }, runEvent('lost', ACTOR, { executor_ref: run.executor_ref }));
  }

  /** The runner writes its own messages as strings and passes the job's output through as Buffers. */
  private runnerMessages(runId: string): Writable {
    const sink = this.options.logSink;
    return new Writable({
      decodeStrings: false,
      write(chunk: unknown, _encoding, callback) {
        if (sink && typeof chunk === 'string') {
          for (const line of chunk.split('\n')) if (line) sink(runId, line);
        }
        callback();
      },
    });
  }

  private say(runId: string, line: string): void {
    this.options.logSink?.(runId, line);
  }
}

const discard = () => new Writable({ write: (_chunk, _encoding, callback) => callback() });


const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));
