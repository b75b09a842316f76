// The in-process cron scheduler. Each pass, under a per-schema advisory lock, it records every fire
// time that has come due as a slot in the RunLog (the ledger), then fires the slots it claimed. The
// insert-if-absent on (job, scheduled_for) is what makes a slot fire once: the lock only keeps
// replicas from doing the same work twice, and is released before any run is created.
import type { CatchUpPolicy, JobDefinition, KubescribeConfig } from '../config/job-definition.ts';
import type { Db } from '../runlog/db.ts';
import { withAdvisoryXactLock } from '../runlog/sql/advisory-lock.ts';
import {
  expireClaimedSlots,
  insertSlots,
  loadScheduleCursors,
  markSlotSkipped,
  markSlotStarted,
  type NewSlot,
} from '../runlog/sql/schedule-slots.ts';
import type { Queryable } from '../runlog/db.ts';
import { cronFor, decideSlots, fireTimesBetween, MAX_SLOTS_PER_CATCH_UP, nextFireTime, type SlotDecision } from './slots.ts';
import type { Cron } from 'croner';
import { asError, guardListener, PeriodicLoop } from '../util/periodic-loop.ts';

/** Longest sleep between passes: suspensions, config reloads and clock jumps are noticed within it. */
export const DEFAULT_TICK_MS = 1000;
// While another replica holds the lock it is only claiming (a few ms); try again soon so that this
// replica's own jobs (a config it alone has, during a rollout) still fire well within 1 s.
const LOCK_RETRY_MS = 50;
// Firing takes milliseconds; a slot still `expected` after 2 minutes was claimed by a scheduler that
// stopped or lost the database in between.
const CLAIM_TIMEOUT_MS = 120_000;
const CLAIM_TIMEOUT_REASON = 'claimed but no run was recorded within 120 s: the scheduler stopped or lost the database';
const LOCK_NAME = 'scheduler';

/** What the scheduler reports; `onEvent` receives each one. */
export type SchedulerEvent =
  | { type: 'slot_fired'; job: string; scheduledFor: Date; runId: string; firedAt: Date; lagMs: number; reason: string | null }
  | { type: 'slot_missed'; job: string; scheduledFor: Date; reason: string }
  | { type: 'slot_skipped'; job: string; scheduledFor: Date; reason: string }
  | {
      type: 'catch_up';
      job: string;
      policy: CatchUpPolicy;
      /** Overdue slots recorded by this pass (at most 1000), and what became of them. */
      overdue: number;
      fired: number;
      missed: number;
      skipped: number;
      /** Set when more than 1000 slots were due: older ones since this time were not recorded. */
      notRecordedAfter: Date | null;
      message: string;
    }
  | { type: 'job_unsynced'; job: string; message: string }
  | { type: 'tick_failed'; error: Error };

/** What the scheduler needs; see the Scheduler class. */
export interface SchedulerOptions {
  db: Db;
  config: KubescribeConfig;
  /** Creates the run for a slot (the trigger service with trigger 'schedule'); returns its run_id. */
  fire(job: JobDefinition, scheduledFor: Date): Promise<string>;
  now?: () => Date;
  tickMs?: number;
  onEvent?: (event: SchedulerEvent) => void;
}

/** The `catch_up` event of a job whose pass found overdue slots. */
function catchUpEvent(def: JobDefinition, after: Date, decisions: SlotDecision[], truncated: boolean): SchedulerEvent {
  const overdue = decisions.filter((d) => d.overdue);
  const count = (state: SlotDecision['state']) => overdue.filter((d) => d.state === state).length;
  const tail = truncated
    ? `; more than ${MAX_SLOTS_PER_CATCH_UP} slots were due, so those between ${after.toISOString()} and `
      + `${decisions[0]!.at.toISOString()} were not recorded`
    : '';
  return {
    type: 'catch_up', job: def.name, policy: def.catch_up, overdue: overdue.length,
    fired: count('fire'), missed: count('missed'), skipped: count('skipped'), notRecordedAfter: truncated ? after : null,
    message: `job ${def.name}: ${overdue.length} overdue slot(s) since ${after.toISOString()} (catch_up: ${def.catch_up}): `
      + `${count('fire')} to fire, ${count('missed')} missed, ${count('skipped')} skipped${tail}`,
  };
}

interface ScheduledJob {
  def: JobDefinition;
  cron: Cron;
}

interface Claimed extends SlotDecision {
  job: ScheduledJob;
}

/** Fires the config's schedules, recording each fire time in `schedule_slots`; safe to run on several replicas. */
export class Scheduler {
  private config: KubescribeConfig;
  private readonly now: () => Date;
  private readonly tickMs: number;
  private readonly loop: PeriodicLoop<{ busy: boolean; now: Date }>;
  private readonly emit: (event: SchedulerEvent) => void;
  // One queue per job: a job's slots fire in order, and a long catch-up of one job (catch_up: all)
  // neither delays another job's on-time slot nor holds up the next pass.
  private readonly firing = new Map<string, Promise<void>>();
  // First time this process saw a job whose schedule has no recorded revision: where its slots start.
  private readonly firstSeen = new Map<string, Date>();
  private readonly reportedUnsynced = new Set<string>();
  // Runs created whose slot could not be marked started (database blip): retried every pass.
  private unconfirmed: { job: string; at: Date; runId: string }[] = [];

  constructor(private readonly options: SchedulerOptions) {
    this.config = options.config;
    this.now = options.now ?? (() => new Date());
    this.tickMs = options.tickMs ?? DEFAULT_TICK_MS;
    // A listener's bug must not stop the schedules.
    this.emit = guardListener(options.onEvent);
    this.loop = new PeriodicLoop({
      pass: () => this.pass(),
      intervalMs: (pass) => (pass?.busy ? LOCK_RETRY_MS : this.sleepMs(pass?.now ?? this.now())),
      onError: (error) => this.emit({ type: 'tick_failed', error }),
    });
  }

  /** Catches up (one pass), then keeps firing until stop(). Never rejects: a failed pass is a `tick_failed` event. */
  start(): Promise<void> {
    return this.loop.start();
  }

  /** Stops the timer and waits for a pass in progress (and the runs it is creating) to finish. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.fired();
  }

  /** Uses a reloaded config from the next pass on. */
  setConfig(config: KubescribeConfig): void {
    this.config = config;
  }

  /** One pass, for tests: claims what is due at `now()` and waits until it has fired. Passes never overlap. */
  async tick(): Promise<void> {
    await this.loop.runPass();
    await this.fired();
  }

  private async fired(): Promise<void> {
    while (true) {
      const pending = [...this.firing.values()];
      await Promise.all(pending);
      // A pass that ran meanwhile may have queued more.
      if ([...this.firing.values()].every((queue, i) => queue === pending[i])) return;
    }
  }

  /**
   * Until the next fire time of any job after `passNow` (the instant the pass looked up to, not the
   * time it finished: a slot falling due while the pass ran would otherwise be stepped over), capped at tickMs.
   */
  private sleepMs(passNow: Date): number {
    const now = this.now().getTime();
    let wait = this.tickMs;
    for (const { cron } of this.scheduledJobs()) {
      const next = nextFireTime(cron, passNow);
      // +1 ms: timers run on a monotonic clock and fire up to 1 ms before Date.now() reaches the target,
      // which would cost a pass that finds nothing due yet.
      if (next) wait = Math.min(wait, next.getTime() - now + 1);
    }
    return Math.max(0, wait);
  }

  private scheduledJobs(): ScheduledJob[] {
    const jobs: ScheduledJob[] = [];
    for (const def of this.config.jobs.values()) {
      if (!def.schedule) continue;
      try {
        jobs.push({ def, cron: cronFor(def.schedule, def.time_zone) });
      } catch (error) {
        // The config loader validates schedules, so only a hand-built config gets here.
        this.emit({ type: 'tick_failed', error: new Error(`job ${def.name}: ${asError(error).message}`) });
      }
    }
    return jobs;
  }

  private async pass(): Promise<{ busy: boolean; now: Date }> {
    let now = this.now();
    try {
      await this.confirmUnconfirmed();
      const jobs = this.scheduledJobs();
      now = this.now();
      const locked = await withAdvisoryXactLock(this.options.db, LOCK_NAME, (tx) => this.claim(tx, jobs, now));
      if (!locked.acquired) return { busy: true, now };
      // Reported only now that the claims are committed: a rolled-back pass changed nothing.
      for (const event of locked.value.events) this.emit(event);
      for (const slot of locked.value.claimed) {
        const name = slot.job.def.name;
        if (slot.state === 'fire') {
          const queued = (this.firing.get(name) ?? Promise.resolve()).then(() => this.fire(slot));
          this.firing.set(name, queued.catch((error: unknown) => this.emit({ type: 'tick_failed', error: asError(error) })));
        } else {
          this.emit({ type: slot.state === 'missed' ? 'slot_missed' : 'slot_skipped', job: name, scheduledFor: slot.at, reason: slot.reason ?? '' });
        }
      }
    } catch (error) {
      this.emit({ type: 'tick_failed', error: asError(error) });
    }
    return { busy: false, now };
  }

  /** Records this pass's due slots; returns those this replica wrote, i.e. claimed, and what to report. */
  private async claim(tx: Queryable, jobs: ScheduledJob[], now: Date): Promise<{ claimed: Claimed[]; events: SchedulerEvent[] }> {
    const claimed: Claimed[] = [];
    const events: SchedulerEvent[] = (await expireClaimedSlots(tx, CLAIM_TIMEOUT_MS, CLAIM_TIMEOUT_REASON)).map((slot) => ({
      type: 'slot_missed', job: slot.job, scheduledFor: slot.scheduled_for, reason: CLAIM_TIMEOUT_REASON,
    }));
    if (jobs.length === 0) return { claimed, events };
    const cursors = new Map((await loadScheduleCursors(tx, jobs.map(({ def }) => ({
      name: def.name, schedule: def.schedule!, time_zone: def.time_zone,
    })))).map((cursor) => [cursor.job, cursor]));
    const planned: { job: ScheduledJob; after: Date; decisions: SlotDecision[]; truncated: boolean }[] = [];
    for (const job of jobs) {
      const name = job.def.name;
      const cursor = cursors.get(name);
      if (!cursor) {
        // schedule_slots references jobs(name); without the row there is nowhere to record a slot.
        if (!this.reportedUnsynced.has(name)) {
          this.reportedUnsynced.add(name);
          events.push({ type: 'job_unsynced', job: name, message: `job ${name} is not in the RunLog yet (sync the config first); its schedule waits` });
        }
        continue;
      }
      this.reportedUnsynced.delete(name);
      const after = this.windowStart(name, cursor.last_slot, cursor.schedule_since, now);
      const due = fireTimesBetween(job.cron, after, now, MAX_SLOTS_PER_CATCH_UP);
      const decisions = decideSlots({
        due: due.slots, now, policy: job.def.catch_up, startingDeadlineMs: job.def.starting_deadline_ms, suspended: cursor.suspended,
      });
      planned.push({ job, after, decisions, truncated: due.truncated });
    }
    const rows: NewSlot[] = planned.flatMap(({ job, decisions }) => decisions.map((d) => ({
      job: job.def.name, scheduled_for: d.at, state: d.state === 'fire' ? 'expected' : d.state, reason: d.reason,
    })));
    const written = new Set((await insertSlots(tx, rows)).map((row) => `${row.job}\u0000${row.scheduled_for.getTime()}`));
    for (const { job, after, decisions, truncated } of planned) {
      // Another replica may have recorded some of them first: they are its slots to fire and report.
      const ours = decisions.filter((d) => written.has(`${job.def.name}\u0000${d.at.getTime()}`));
      claimed.push(...ours.map((d) => ({ ...d, job })));
      if (ours.some((d) => d.overdue) || (truncated && ours.length > 0)) events.push(catchUpEvent(job.def, after, ours, truncated));
    }
    return { claimed, events };
  }

  /** The exclusive start of the window of due slots: the last recorded slot, or when the current schedule began. */
  private windowStart(job: string, lastSlot: Date | null, scheduleSince: Date | null, now: Date): Date {
    if (scheduleSince) {
      this.firstSeen.delete(job);
      // A slot recorded under an earlier schedule does not make that schedule's gap this one's.
      return lastSlot && lastSlot > scheduleSince ? lastSlot : scheduleSince;
    }
    if (lastSlot) return lastSlot;
    let seen = this.firstSeen.get(job);
    if (!seen) {
      seen = now;
      this.firstSeen.set(job, seen);
    }
    return seen;
  }

  private async fire(slot: Claimed): Promise<void> {
    const job = slot.job.def.name;
    const firedAt = this.now();
    let runId: string;
    try {
      runId = await this.options.fire(slot.job.def, slot.at);
    } catch (error) {
      const reason = `trigger refused: ${asError(error).message}`;
      try {
        await markSlotSkipped(this.options.db, job, slot.at, reason);
        this.emit({ type: 'slot_skipped', job, scheduledFor: slot.at, reason });
      } catch (recordError) {
        // Left `expected`: the claim timeout records it as missed.
        this.emit({ type: 'tick_failed', error: asError(recordError) });
      }
      return;
    }
    try {
      await markSlotStarted(this.options.db, job, slot.at, runId);
    } catch (error) {
      this.unconfirmed.push({ job, at: slot.at, runId });
      this.emit({ type: 'tick_failed', error: asError(error) });
    }
    this.emit({ type: 'slot_fired', job, scheduledFor: slot.at, runId, firedAt, lagMs: firedAt.getTime() - slot.at.getTime(), reason: slot.reason });
  }

  private async confirmUnconfirmed(): Promise<void> {
    const pending = this.unconfirmed;
    this.unconfirmed = [];
    for (const [i, slot] of pending.entries()) {
      try {
        await markSlotStarted(this.options.db, slot.job, slot.at, slot.runId);
      } catch (error) {
        this.unconfirmed.push(...pending.slice(i));
        throw error;
      }
    }
  }
}
