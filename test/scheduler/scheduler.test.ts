// The scheduler against real RunLogs. Clock-driven tests pass a fake `now` and call tick(); the
// per-second tests run the real timer (start/stop) on a clock the test moves one slot at a time, so
// a loaded machine can delay a pass but never make it late or make it miss a slot (at load 12 the
// wall clock did: a stalled event loop missed one), and check the ledger against the runs it created.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { emptyConfig, jobDefinitionHash, type JobDefinition, type KubescribeConfig } from '../../src/config/job-definition.ts';
import type { Db } from '../../src/runlog/db.ts';
import { splitStatements } from '../../src/runlog/migrate.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { openPgEngine } from '../../src/runlog/pg-engine.ts';
import { openPgliteEngine } from '../../src/runlog/pglite-engine.ts';
import { withAdvisoryXactLock } from '../../src/runlog/sql/advisory-lock.ts';
import { insertSlots, listSlots, type ScheduleSlot } from '../../src/runlog/sql/schedule-slots.ts';
import { insertRun } from '../../src/runlog/sql/runs.ts';
import { syncJobs } from '../../src/runlog/sync-jobs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { Scheduler, type SchedulerEvent } from '../../src/scheduler/scheduler.ts';
import { waitFor } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

const MINUTE = 60_000;
const DOC = readFileSync(new URL('../../docs/scheduler.md', import.meta.url), 'utf8');

function job(name: string, schedule: string, extra: Partial<JobDefinition> = {}): JobDefinition {
  return {
    name, command: ['true'], env: {}, params: { type: 'object', properties: {} }, schedule, time_zone: 'UTC',
    grace_period_ms: 10_000, retries: { limit: 0, backoff_ms: 10_000 }, concurrency_policy: 'Allow', catch_up: 'latest', labels: {},
    ...extra,
  };
}

function configOf(...jobs: JobDefinition[]): KubescribeConfig {
  return { ...emptyConfig(), file: 'kubescribe.yaml', jobs: new Map(jobs.map((j) => [j.name, j])) };
}

/** A `fire` that creates a real queued run, as the trigger service does (at `clock`'s time), and counts calls per slot. */
function firing(db: Db, clock: () => Date = () => new Date()) {
  const calls = new Map<string, number>();
  async function fire(def: JobDefinition, scheduledFor: Date): Promise<string> {
    const key = `${def.name} ${scheduledFor.toISOString()}`;
    calls.set(key, (calls.get(key) ?? 0) + 1);
    const now = clock();
    const runId = uuidv7();
    await insertRun(db, {
      run_id: runId, job: def.name, job_content_hash: jobDefinitionHash(def), trigger: 'schedule', triggered_by: 'cron',
      params: {}, status: 'queued', executor: 'local', created_at: now,
    }, { event_id: uuidv7(), at: now, type: 'created', actor: 'scheduler', detail: { scheduled_for: scheduledFor.toISOString() } });
    return runId;
  }
  return { fire, calls };
}

/** The job's ledger, oldest first. */
async function ledger(db: Db, name: string): Promise<ScheduleSlot[]> {
  return (await listSlots(db, { job: name, limit: 5000 })).reverse();
}

/**
 * Waits until the scheduler reported `count` fired slots (that `more` accepts), however loaded the
 * machine. It watches the events, not the RunLog: polling in-process PGlite would compete with the
 * scheduler's own passes on this event loop, and the lag is what these tests measure.
 */
async function firedSlots(events: SchedulerEvent[], count: number, more: (scheduledFor: Date) => boolean = () => true): Promise<void> {
  await waitFor(() => events.filter((e) => e.type === 'slot_fired' && more(e.scheduledFor)).length >= count, 60_000, `${count} fired slots`);
}

/** The per-second tests' clock: it moves only when the test moves it. */
class TestClock {
  at = 0;
  /** The first slot: the whole second begin() set the clock 10 ms after. */
  firstSlot = 0;
  readonly now = () => new Date(this.at);

  /**
   * Sets the clock 10 ms after the first whole second after `since` (default: now). Called once the
   * job is synced, with its revision's time: the revision opens the schedule's window, so the first
   * slot must be the first whole second after it — a second boundary between the sync and this call
   * would otherwise put an earlier slot in the window (seen on a loaded machine).
   */
  begin(since: Date = new Date()): void {
    this.firstSlot = (Math.floor(since.getTime() / 1000) + 1) * 1000;
    this.at = this.firstSlot + 10;
  }
}

/** When the job's (only) revision was recorded: where its schedule's window opens. */
async function revisionTime(db: Db, name: string): Promise<Date> {
  const [row] = await db.query<{ at: Date }>('SELECT max(created_at) AS at FROM job_revisions WHERE job = $1', [name]);
  return row!.at;
}

const summary = (slots: ScheduleSlot[]) => slots.map((s) => s.state).join(',');
/** The ledger and the events, for a failure message that shows what happened when. */
const story = (slots: ScheduleSlot[], events: SchedulerEvent[]) => JSON.stringify({
  slots: slots.map((s) => [s.scheduled_for, s.state, s.created_at]),
  events: events.map((e) => (e.type === 'slot_fired' ? [e.type, e.scheduledFor, e.firedAt, e.lagMs]
    : 'scheduledFor' in e ? [e.type, e.scheduledFor] : e.type === 'tick_failed' ? [e.type, e.error.message] : [e.type])),
});
const repeat = (state: string, n: number) => Array(n).fill(state);

/** How late each started slot's run was created, by slot time. */
async function lags(db: Db, name: string): Promise<{ at: number; lag: number }[]> {
  const rows = await db.query<{ at: Date; lag_ms: number }>(
    `SELECT s.scheduled_for AS at, (extract(epoch FROM r.created_at - s.scheduled_for) * 1000)::float8 AS lag_ms
     FROM schedule_slots s JOIN runs r ON r.run_id = s.run_id WHERE s.job = $1 ORDER BY s.scheduled_for`,
    [name],
  );
  return rows.map((row) => ({ at: row.at.getTime(), lag: Number(row.lag_ms) }));
}

/** Asserts that every run was created less than 1 s after its slot. */
function assertLagUnder1s(measured: { at: number; lag: number }[], context: string): void {
  for (const { at, lag } of measured) assert.ok(lag >= 0 && lag < 1000, `slot ${new Date(at).toISOString()}: fire lag ${lag} ms: ${context}`);
}

/** Checks that slots are consecutive seconds: none was left out of the ledger. */
function assertConsecutiveSeconds(slots: ScheduleSlot[]): void {
  for (let i = 1; i < slots.length; i++) {
    assert.equal(slots[i]!.scheduled_for.getTime() - slots[i - 1]!.scheduled_for.getTime(), 1000, `gap after slot ${i - 1}`);
  }
}

for (const engine of ENGINES) {
  describe(`scheduler (${engine})`, () => {
    let runlog: TestRunLog;
    let db: Db;
    before(async () => {
      runlog = await createTestRunLog(engine);
      db = await openRunLogDb(runlog.location);
    });
    after(async () => {
      await db?.close();
      await runlog?.cleanup();
    });

    /**
     * A scheduler on this file's RunLog, the config synced first (the scheduler needs the jobs' rows
     * and revisions). `onEvent` sees each event as it is reported, e.g. to move the clock.
     */
    async function scheduler(config: KubescribeConfig, now?: () => Date, onEvent?: (event: SchedulerEvent) => void) {
      await syncJobs(db, config);
      const events: SchedulerEvent[] = [];
      const { fire, calls } = firing(db, now);
      const instance = new Scheduler({ db, config, fire, now, onEvent: (e) => { events.push(e); onEvent?.(e); } });
      return { instance, events, calls };
    }

    it('a per-second schedule really fires on its timer, every slot within 1 s, with no slot left out', async () => {
      // Each fired slot moves the clock to 10 ms past the next one: the timer's next pass finds it due.
      const clock = new TestClock();
      const { instance, events } = await scheduler(configOf(job('every-second', '* * * * * *', { catch_up: 'none' })), clock.now, (e) => {
        if (e.type === 'slot_fired') clock.at = e.scheduledFor.getTime() + 1010;
      });
      clock.begin(await revisionTime(db, 'every-second'));
      await instance.start();
      await firedSlots(events, 3);
      await instance.stop();
      const slots = await ledger(db, 'every-second');
      assert.ok(slots.length >= 3, `only ${slots.length} slots`);
      assert.equal(slots[0]!.scheduled_for.getTime(), clock.firstSlot, 'the first slot is the one due at the start');
      assert.equal(summary(slots), repeat('started', slots.length).join(','), story(slots, events));
      assertConsecutiveSeconds(slots);
      const measured = await lags(db, 'every-second');
      assert.equal(measured.length, slots.length, 'every started slot has its run');
      assertLagUnder1s(measured, story(slots, events));
      const fired = events.filter((e) => e.type === 'slot_fired');
      assert.equal(fired.length, slots.length);
      assert.ok(fired.every((e) => e.type === 'slot_fired' && e.lagMs < 1000 && e.reason === null));
      assert.deepEqual(events.filter((e) => e.type === 'tick_failed'), []);
    });

    it('after a real stop, the slots it spanned are missed (catch_up none) and firing resumes', async () => {
      const clock = new TestClock();
      const { instance, events } = await scheduler(configOf(job('stop-start', '* * * * * *', { catch_up: 'none' })), clock.now);
      clock.begin(await revisionTime(db, 'stop-start'));
      const first = clock.firstSlot;
      await instance.start();
      await firedSlots(events, 1);
      await instance.stop();
      const stoppedAt = clock.at;
      // Two slots come due while stopped: the restart fires the latest (catch_up none) and misses the other.
      clock.at = first + 2010;
      const restartedAt = clock.at;
      await instance.start();
      await firedSlots(events, 1, (at) => at.getTime() === first + 2000);
      // Running again: the next slot comes due and the timer fires it.
      clock.at = first + 3010;
      await firedSlots(events, 1, (at) => at.getTime() > restartedAt);
      await instance.stop();
      const slots = await ledger(db, 'stop-start');
      assertConsecutiveSeconds(slots);
      assert.deepEqual(slots.map((s) => [s.scheduled_for.getTime() - first, s.state]), [[0, 'started'], [1000, 'missed'], [2000, 'started'], [3000, 'started']],
        story(slots, events));
      const missed = slots.filter((s) => s.state === 'missed');
      for (const slot of missed) {
        assert.equal(slot.run_id, null);
        assert.match(slot.reason ?? '', /catch_up: none/);
        const t = slot.scheduled_for.getTime();
        assert.ok(t > stoppedAt - 1000 && t <= restartedAt, `${slot.scheduled_for.toISOString()} is outside the stop: ${story(slots, events)}`);
      }
      assert.ok(slots.filter((s) => s.state === 'started' && s.scheduled_for.getTime() > restartedAt).length >= 1, summary(slots));
      assert.ok(events.some((e) => e.type === 'catch_up' && e.job === 'stop-start' && e.missed === missed.length));
      // The slot fired at the restart came due while stopped (up to 1 s before): only the others had a running scheduler.
      assertLagUnder1s((await lags(db, 'stop-start')).filter(({ at }) => at <= stoppedAt || at > restartedAt), story(slots, events));
    });

    it('catches up by policy after a jump of the clock: none, latest, all, a starting deadline; suspended slots are skipped', async () => {
      // M: the next minute, so that the first pass finds exactly one slot (M) due on time.
      const M = Math.ceil((Date.now() + 1) / MINUTE) * MINUTE;
      let now = new Date(M + 100);
      const config = configOf(
        job('cu-none', '* * * * *', { catch_up: 'none' }),
        job('cu-latest', '* * * * *'),
        job('cu-all', '* * * * *', { catch_up: 'all' }),
        job('cu-deadline', '* * * * *', { catch_up: 'all', starting_deadline_ms: 5 * MINUTE }),
        job('cu-suspended', '* * * * *', { catch_up: 'all' }),
      );
      const { instance, events, calls } = await scheduler(config, () => now);
      await db.query(`UPDATE jobs SET suspended = true WHERE name = 'cu-suspended'`);
      await instance.tick();
      for (const name of ['cu-none', 'cu-latest', 'cu-all', 'cu-deadline']) assert.equal(summary(await ledger(db, name)), 'started', name);
      assert.deepEqual((await ledger(db, 'cu-suspended')).map((s) => [s.state, s.reason]), [['skipped', 'job suspended']]);

      // Ten minutes and a half later: M+1 .. M+10 are all overdue (M+10 by 30 s).
      now = new Date(M + 10 * MINUTE + 30_000);
      events.length = 0;
      await instance.tick();
      await instance.tick(); // a second pass at the same time changes nothing
      const after = async (name: string) => (await ledger(db, name)).slice(1);
      assert.deepEqual(await after('cu-none').then(summary), repeat('missed', 10).join(','));
      assert.deepEqual(await after('cu-latest').then(summary), [...repeat('missed', 9), 'started'].join(','));
      assert.deepEqual(await after('cu-all').then(summary), repeat('started', 10).join(','));
      assert.deepEqual(await after('cu-deadline').then(summary), [...repeat('missed', 5), ...repeat('started', 5)].join(','));
      assert.deepEqual(await after('cu-suspended').then(summary), repeat('skipped', 10).join(','));
      const latest = await after('cu-latest');
      assert.equal(latest[9]!.scheduled_for.getTime(), M + 10 * MINUTE);
      assert.equal(latest[9]!.reason, 'caught up (catch_up: latest)');
      assert.match(latest[0]!.reason!, /superseded/);
      assert.match((await after('cu-deadline'))[0]!.reason!, /^past the starting deadline of 300 s/);
      for (const slot of await after('cu-all')) assert.equal(calls.get(`cu-all ${slot.scheduled_for.toISOString()}`), 1);
      const catchUps = events.filter((e) => e.type === 'catch_up');
      assert.deepEqual(catchUps.map((e) => e.type === 'catch_up' && [e.job, e.overdue, e.fired, e.missed, e.skipped]), [
        ['cu-none', 10, 0, 10, 0], ['cu-latest', 10, 1, 9, 0], ['cu-all', 10, 10, 0, 0], ['cu-deadline', 10, 5, 5, 0], ['cu-suspended', 10, 0, 0, 10],
      ]);
      assert.equal(events.filter((e) => e.type === 'slot_missed').length, 10 + 9 + 5);
      assert.equal(events.filter((e) => e.type === 'slot_skipped').length, 10);

      // Resumed, and back on time: the next slot fires for every job.
      await db.query(`UPDATE jobs SET suspended = false WHERE name = 'cu-suspended'`);
      now = new Date(M + 11 * MINUTE + 200);
      await instance.tick();
      for (const name of ['cu-none', 'cu-latest', 'cu-all', 'cu-deadline', 'cu-suspended']) {
        const last = (await ledger(db, name)).at(-1)!;
        assert.deepEqual([last.scheduled_for.getTime(), last.state, last.reason], [M + 11 * MINUTE, 'started', null], name);
      }
    });

    it('bounds a long catch-up to the latest 1000 slots and says so', async () => {
      let now = new Date(Date.now() + 2 * 3600_000);
      const { instance, events } = await scheduler(configOf(job('bounded', '* * * * * *', { catch_up: 'none' })), () => now);
      await instance.tick();
      const slots = await ledger(db, 'bounded');
      assert.equal(slots.length, 1000);
      // The latest is less than a second old, so it is on time and fires even under catch_up: none.
      assert.deepEqual([slots.filter((s) => s.state === 'missed').length, slots.at(-1)!.state], [999, 'started']);
      assert.equal(slots.at(-1)!.scheduled_for.getTime(), Math.floor(now.getTime() / 1000) * 1000);
      const catchUp = events.find((e) => e.type === 'catch_up');
      assert.ok(catchUp?.type === 'catch_up' && catchUp.notRecordedAfter !== null && catchUp.missed === 999, JSON.stringify(catchUp));
      assert.match(catchUp.message, /more than 1000 slots were due/);
      now = new Date(now.getTime() + 1000);
      await instance.tick();
      assert.equal((await ledger(db, 'bounded')).length, 1001);
    });

    it('a schedule change starts a new window at the revision that brought it', async () => {
      const M = Math.ceil((Date.now() + 1) / MINUTE) * MINUTE;
      let now = new Date(M + 100);
      const { instance } = await scheduler(configOf(job('resched', '* * * * *', { catch_up: 'none' })), () => now);
      await instance.tick();
      // While the scheduler was away, the schedule became "at second 30" at M+3m.
      const changed = configOf(job('resched', '30 * * * * *', { catch_up: 'none' }));
      await syncJobs(db, changed);
      await db.query(`UPDATE job_revisions SET created_at = $1 WHERE job = 'resched' AND revision = 2`, [new Date(M + 3 * MINUTE)]);
      instance.setConfig(changed);
      now = new Date(M + 5 * MINUTE + 45_000);
      await instance.tick();
      const slots = await ledger(db, 'resched');
      assert.deepEqual(slots.map((s) => [(s.scheduled_for.getTime() - M) / 1000, s.state]), [
        [0, 'started'], [210, 'missed'], [270, 'missed'], [330, 'missed'],
      ]);
    });

    it('records a refused trigger as skipped, expires a stale claim, and waits for a job that is not synced', async () => {
      const M = Math.ceil((Date.now() + 1) / MINUTE) * MINUTE;
      const now = new Date(M + 100);
      const config = configOf(job('refused', '* * * * *'));
      await syncJobs(db, config);
      const events: SchedulerEvent[] = [];
      const instance = new Scheduler({
        db, config: configOf(job('refused', '* * * * *'), job('not-synced', '* * * * *')), now: () => now, onEvent: (e) => events.push(e),
        fire: async () => { throw new Error('job refused is Forbid and run 0191 is still running'); },
      });
      // A claim left by a scheduler that died between claiming and firing.
      const stale = new Date(M - 60 * MINUTE);
      await insertSlots(db, [{ job: 'refused', scheduled_for: stale, state: 'expected', reason: null }]);
      await db.query(`UPDATE schedule_slots SET updated_at = now() - interval '1 hour' WHERE job = 'refused'`);
      await instance.tick();
      await instance.tick();
      const slots = await ledger(db, 'refused');
      assert.deepEqual(slots.map((s) => [s.scheduled_for.getTime(), s.state]), [[stale.getTime(), 'missed'], [M, 'skipped']]);
      assert.match(slots[0]!.reason!, /no run was recorded within 120 s/);
      assert.equal(slots[1]!.reason, 'trigger refused: job refused is Forbid and run 0191 is still running');
      assert.deepEqual(events.filter((e) => e.type === 'job_unsynced').map((e) => e.type === 'job_unsynced' && e.job), ['not-synced']);
      assert.ok(events.some((e) => e.type === 'slot_missed' && e.scheduledFor.getTime() === stale.getTime()));
      assert.ok(events.some((e) => e.type === 'slot_skipped' && e.scheduledFor.getTime() === M));
      assert.deepEqual(events.filter((e) => e.type === 'tick_failed'), []);
    });

    it('a failing pass is an event, never an exception', async () => {
      // A real database that cannot answer: nothing listens on port 1; a PGlite that was closed.
      const broken = engine === 'postgres'
        ? await openPgEngine({ url: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 500 })
        : await openPgliteEngine({});
      if (engine === 'pglite') await broken.close();
      const events: SchedulerEvent[] = [];
      const instance = new Scheduler({
        db: broken, config: configOf(job('every-second', '* * * * * *')), fire: async () => 'never', onEvent: (e) => events.push(e),
      });
      await instance.start();
      await instance.tick();
      await instance.stop();
      if (engine === 'postgres') await broken.close();
      assert.ok(events.length >= 2, JSON.stringify(events));
      assert.ok(events.every((e) => e.type === 'tick_failed' && e.error instanceof Error), JSON.stringify(events));
    });

    it('every SQL example in docs/scheduler.md runs', async () => {
      const blocks = [...DOC.matchAll(/^```sql\n([\s\S]*?)^```/gm)].map((m) => m[1]!.trim());
      assert.ok(blocks.length >= 3);
      for (const block of blocks) for (const statement of splitStatements(block)) await db.query(statement);
      const [missed] = await db.query<{ n: number }>(`SELECT count(*) AS n FROM schedule_slots WHERE state = 'missed'`);
      assert.ok(missed!.n > 0);
    });
  });
}

// Replicas need a server: PGlite is one process's database. Without DATABASE_URL these do not exist, as for ENGINES.
if (ENGINES.includes('postgres')) describe('replicas on one PostgreSQL schema', () => {
  let runlog: TestRunLog;
  let a: Db;
  let b: Db;
  before(async () => {
    runlog = await createTestRunLog('postgres');
    // Two pools, as two `kubescribe serve` processes would have.
    a = await openRunLogDb(runlog.location);
    b = await openRunLogDb(runlog.location);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await runlog?.cleanup();
  });

  /** One `fire` shared by both replicas, so that a slot fired by both would count 2. */
  function replicas(config: KubescribeConfig, now?: () => Date, onEvent?: (event: SchedulerEvent) => void) {
    const shared = firing(a, now);
    const events: SchedulerEvent[] = [];
    const make = (db: Db) => new Scheduler({ db, config, fire: shared.fire, now, onEvent: (e) => { events.push(e); onEvent?.(e); } });
    return { one: make(a), two: make(b), calls: shared.calls, events };
  }

  it('the advisory lock lets one session in at a time, per schema', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => { entered = resolve; });
    const first = withAdvisoryXactLock(a, 'scheduler', async () => { entered(); await held; return 'first'; });
    await inside;
    assert.deepEqual(await withAdvisoryXactLock(b, 'scheduler', async () => 'second'), { acquired: false });
    assert.deepEqual(await withAdvisoryXactLock(b, 'reaper', async () => 'other loop'), { acquired: true, value: 'other loop' });
    const elsewhere = await createTestRunLog('postgres');
    try {
      await elsewhere.withDb(async (other) => {
        assert.deepEqual(await withAdvisoryXactLock(other, 'scheduler', async () => 'other schema'), { acquired: true, value: 'other schema' });
      });
    } finally {
      await elsewhere.cleanup();
    }
    release();
    assert.deepEqual(await first, { acquired: true, value: 'first' });
    assert.deepEqual(await withAdvisoryXactLock(b, 'scheduler', async () => 'second'), { acquired: true, value: 'second' });
  });

  it('two schedulers ticking at once fire each slot exactly once, catch-up included', async () => {
    const config = configOf(job('shared-all', '* * * * *', { catch_up: 'all' }), job('shared-latest', '* * * * *'));
    await syncJobs(a, config);
    let now = new Date(Date.now() + 30 * MINUTE);
    const { one, two, calls } = replicas(config, () => now);
    for (let round = 0; round < 20; round++) {
      await Promise.all([one.tick(), two.tick(), one.tick(), two.tick()]);
      now = new Date(now.getTime() + (round % 3 === 0 ? 5 * MINUTE : MINUTE));
    }
    const slots = await ledger(a, 'shared-all');
    assert.ok(slots.length > 40, `${slots.length} slots`);
    assert.equal(summary(slots), repeat('started', slots.length).join(','));
    for (const slot of slots) assert.equal(calls.get(`shared-all ${slot.scheduled_for.toISOString()}`), 1, slot.scheduled_for.toISOString());
    assert.ok([...calls.values()].every((n) => n === 1));
    const [runs] = await a.query<{ n: number }>(`SELECT count(*) AS n FROM runs WHERE job IN ('shared-all', 'shared-latest')`);
    const [started] = await a.query<{ n: number }>(`SELECT count(*) AS n FROM schedule_slots WHERE job IN ('shared-all', 'shared-latest') AND state = 'started'`);
    assert.equal(runs!.n, started!.n);
    assert.equal(runs!.n, calls.size);
  });

  it('two running schedulers fire a per-second schedule once per slot, within 1 s', async () => {
    const config = configOf(job('shared-second', '* * * * * *', { catch_up: 'none' }));
    await syncJobs(a, config);
    // One clock for both, moved to 10 ms past the next slot when either fires one (see TestClock).
    const clock = new TestClock();
    const { one, two, calls, events } = replicas(config, clock.now, (e) => {
      if (e.type === 'slot_fired') clock.at = e.scheduledFor.getTime() + 1010;
    });
    clock.begin(await revisionTime(a, 'shared-second'));
    await Promise.all([one.start(), two.start()]);
    await firedSlots(events, 3);
    await Promise.all([one.stop(), two.stop()]);
    const slots = await ledger(a, 'shared-second');
    assert.ok(slots.length >= 3, `only ${slots.length} slots`);
    assert.equal(summary(slots), repeat('started', slots.length).join(','), story(slots, events));
    assertConsecutiveSeconds(slots);
    assert.equal(calls.size, slots.length);
    assert.ok([...calls.values()].every((n) => n === 1), JSON.stringify([...calls]));
    assertLagUnder1s(await lags(a, 'shared-second'), story(slots, events));
  });
});
