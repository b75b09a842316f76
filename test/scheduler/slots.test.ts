import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cronFor, decideSlots, fireTimesBetween, nextFireTime, ON_TIME_MS, type SlotDecision } from '../../src/scheduler/slots.ts';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());
const at = (text: string) => new Date(text);

/** Fire times in (from, until], as ISO strings. */
function between(schedule: string, zone: string, from: string, until: string): string[] {
  return iso(fireTimesBetween(cronFor(schedule, zone), at(from), at(until)).slots);
}

/** The wall-clock time in `zone`, to check that each fire time is the local time the job asks for. */
function local(date: Date, zone: string): string {
  return new Intl.DateTimeFormat('sv-SE', { timeZone: zone, dateStyle: 'short', timeStyle: 'medium' }).format(date);
}

describe('fire times across DST: Europe/Berlin', () => {
  it('a daily 02:30 job fires once on 2026-03-29 (02:30 does not exist: at 03:00 CEST, right after the gap)', () => {
    const times = between('30 2 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', '2026-03-31T12:00:00Z');
    assert.deepEqual(times, [
      '2026-03-28T01:30:00.000Z', // 02:30 CET (UTC+1)
      '2026-03-29T01:00:00.000Z', // 03:00 CEST: the first valid time after the gap, same day
      '2026-03-30T00:30:00.000Z', // 02:30 CEST (UTC+2)
      '2026-03-31T00:30:00.000Z',
    ]);
    assert.equal(times.filter((t) => t.startsWith('2026-03-29')).length, 1);
  });

  it('a daily 02:30 job fires once on 2026-10-25 (02:30 happens twice: the first one, in CEST)', () => {
    const times = between('30 2 * * *', 'Europe/Berlin', '2026-10-23T12:00:00Z', '2026-10-27T12:00:00Z');
    assert.deepEqual(times, [
      '2026-10-24T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST); not again at 01:30Z (02:30 CET)
      '2026-10-26T01:30:00.000Z', // 02:30 CET
      '2026-10-27T01:30:00.000Z',
    ]);
    for (const t of times) assert.match(local(at(t), 'Europe/Berlin'), / 0[23]:[03]0:00$/);
  });

  it('an hourly job fires every real hour through both changes, the repeated hour included', () => {
    // Spring: 01:00 CET, then 03:00 CEST one real hour later; 02:00 does not exist.
    assert.deepEqual(between('0 * * * *', 'Europe/Berlin', '2026-03-28T23:30:00Z', '2026-03-29T02:30:00Z'), [
      '2026-03-29T00:00:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-29T02:00:00.000Z',
    ]);
    assert.deepEqual(
      fireTimesBetween(cronFor('0 * * * *', 'Europe/Berlin'), at('2026-03-28T23:30:00Z'), at('2026-03-29T02:30:00Z')).slots
        .map((d) => local(d, 'Europe/Berlin').slice(-8)),
      ['01:00:00', '03:00:00', '04:00:00'],
    );
    // Autumn: 02:00 CEST and 02:00 CET are both fire times, an hour apart.
    const autumn = fireTimesBetween(cronFor('0 * * * *', 'Europe/Berlin'), at('2026-10-24T23:30:00Z'), at('2026-10-25T02:30:00Z')).slots;
    assert.deepEqual(iso(autumn), ['2026-10-25T00:00:00.000Z', '2026-10-25T01:00:00.000Z', '2026-10-25T02:00:00.000Z']);
    assert.deepEqual(autumn.map((d) => local(d, 'Europe/Berlin').slice(-8)), ['02:00:00', '02:00:00', '03:00:00']);
  });

  it('a 5-field job with a fixed hour in the gap runs after the gap; nextFireTime agrees with the window', () => {
    const cron = cronFor('30 2 * * *', 'Europe/Berlin');
    assert.equal(nextFireTime(cron, at('2026-03-28T12:00:00Z'))?.toISOString(), '2026-03-29T01:00:00.000Z');
    assert.equal(nextFireTime(cron, at('2026-03-29T01:00:00Z'))?.toISOString(), '2026-03-30T00:30:00.000Z');
  });
});

describe('fire times across DST: America/New_York', () => {
  it('a daily 02:30 job fires once on 2026-03-08 (at 03:00 EDT) and once on 2026-11-01 (02:30 EST)', () => {
    assert.deepEqual(between('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', '2026-03-09T12:00:00Z'), [
      '2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z',
    ]);
    assert.deepEqual(between('30 2 * * *', 'America/New_York', '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z'), [
      '2026-11-01T07:30:00.000Z', '2026-11-02T07:30:00.000Z',
    ]);
  });

  it('a daily 01:30 job fires once on 2026-11-01, at the first 01:30 (EDT)', () => {
    assert.deepEqual(between('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z'), [
      '2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z',
    ]);
  });

  it('a half-hourly job runs through the repeated hour twice and skips the missing one', () => {
    assert.deepEqual(between('*/30 * * * *', 'America/New_York', '2026-11-01T04:50:00Z', '2026-11-01T07:00:00Z'), [
      '2026-11-01T05:00:00.000Z', '2026-11-01T05:30:00.000Z', // 01:00, 01:30 EDT
      '2026-11-01T06:00:00.000Z', '2026-11-01T06:30:00.000Z', // 01:00, 01:30 EST
      '2026-11-01T07:00:00.000Z', // 02:00 EST
    ]);
    assert.deepEqual(between('*/30 * * * *', 'America/New_York', '2026-03-08T06:10:00Z', '2026-03-08T07:40:00Z'), [
      '2026-03-08T06:30:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-08T07:30:00.000Z', // 01:30 EST, 03:00, 03:30 EDT
    ]);
  });
});

describe('fireTimesBetween', () => {
  it('is exclusive of the start and inclusive of the end, with seconds', () => {
    assert.deepEqual(between('* * * * * *', 'UTC', '2026-01-01T10:00:00Z', '2026-01-01T10:00:03Z'), [
      '2026-01-01T10:00:01.000Z', '2026-01-01T10:00:02.000Z', '2026-01-01T10:00:03.000Z',
    ]);
    assert.deepEqual(between('* * * * * *', 'UTC', '2026-01-01T10:00:00.400Z', '2026-01-01T10:00:01.999Z'), ['2026-01-01T10:00:01.000Z']);
    assert.deepEqual(between('0 6 * * *', 'UTC', '2026-01-01T06:00:00Z', '2026-01-02T05:59:59Z'), []);
  });

  it('keeps the latest slots of a window longer than the bound and says so', () => {
    const cron = cronFor('* * * * *', 'UTC');
    const day = fireTimesBetween(cron, at('2026-01-01T00:00:00Z'), at('2026-01-02T00:00:00Z'), 100);
    assert.equal(day.truncated, true);
    assert.equal(day.slots.length, 100);
    assert.equal(day.slots.at(-1)?.toISOString(), '2026-01-02T00:00:00.000Z');
    assert.equal(day.slots[0]?.toISOString(), '2026-01-01T22:21:00.000Z');
    const exact = fireTimesBetween(cron, at('2026-01-01T00:00:00Z'), at('2026-01-01T01:40:00Z'), 100);
    assert.deepEqual([exact.truncated, exact.slots.length], [false, 100]);
    // A year of a per-second schedule costs a backwards walk of 1000 steps, not 31 million forward
    // ones: counted in calls to croner, not timed, so a loaded machine cannot fail it.
    const perSecond = cronFor('* * * * * *', 'UTC');
    let forwardSteps = 0;
    const nextRun = perSecond.nextRun.bind(perSecond);
    perSecond.nextRun = (after) => {
      forwardSteps += 1;
      return nextRun(after);
    };
    const year = fireTimesBetween(perSecond, at('2025-01-01T00:00:00Z'), at('2026-01-01T00:00:00Z'));
    assert.equal(year.slots.length, 1000);
    assert.equal(year.slots.at(-1)?.toISOString(), '2026-01-01T00:00:00.000Z');
    assert.ok(forwardSteps <= 1001, `walked ${forwardSteps} steps forward`);
  });
});

describe('decideSlots: catch-up', () => {
  const now = at('2026-01-01T10:10:30Z');
  // Ten per-minute slots, 10:01 .. 10:10: all overdue (the latest is 30 s old, beyond ON_TIME_MS).
  const due = Array.from({ length: 10 }, (_, i) => at(`2026-01-01T10:${String(i + 1).padStart(2, '0')}:00Z`));
  const states = (decisions: SlotDecision[]) => decisions.map((d) => d.state).join(',');

  it('none: every overdue slot is missed', () => {
    const decisions = decideSlots({ due, now, policy: 'none', suspended: false });
    assert.equal(states(decisions), Array(10).fill('missed').join(','));
    assert.match(decisions[0]!.reason!, /catch_up: none/);
    assert.ok(decisions.every((d) => d.overdue));
  });

  it('latest: only the most recent fires', () => {
    const decisions = decideSlots({ due, now, policy: 'latest', suspended: false });
    assert.equal(states(decisions), [...Array(9).fill('missed'), 'fire'].join(','));
    assert.equal(decisions[9]!.reason, 'caught up (catch_up: latest)');
    assert.match(decisions[0]!.reason!, /superseded by a later slot/);
  });

  it('all: every one fires, in order', () => {
    const decisions = decideSlots({ due, now, policy: 'all', suspended: false });
    assert.equal(states(decisions), Array(10).fill('fire').join(','));
    assert.deepEqual(decisions.map((d) => d.at), due);
  });

  it('the starting deadline wins over every policy', () => {
    // 5 min: 10:06 (4m30s late) .. 10:10 may start; 10:01 .. 10:05 (5m30s and more) may not.
    const all = decideSlots({ due, now, policy: 'all', suspended: false, startingDeadlineMs: 300_000 });
    assert.equal(states(all), [...Array(5).fill('missed'), ...Array(5).fill('fire')].join(','));
    assert.equal(all[4]!.reason, 'past the starting deadline of 300 s (330 s late)');
    const latest = decideSlots({ due, now, policy: 'latest', suspended: false, startingDeadlineMs: 20_000 });
    assert.equal(states(latest), Array(10).fill('missed').join(','));
    assert.equal(latest[9]!.reason, 'past the starting deadline of 20 s (30 s late)');
  });

  it('the latest slot seen on time fires under every policy; the ones before it follow the policy', () => {
    const soon = at('2026-01-01T10:10:00.400Z');
    for (const policy of ['none', 'latest'] as const) {
      const decisions = decideSlots({ due, now: soon, policy, suspended: false });
      assert.equal(states(decisions), [...Array(9).fill('missed'), 'fire'].join(','));
      assert.deepEqual([decisions[9]!.reason, decisions[9]!.overdue], [null, false]);
    }
    assert.equal(states(decideSlots({ due, now: soon, policy: 'all', suspended: false })), Array(10).fill('fire').join(','));
    const edge = decideSlots({ due: [due[9]!], now: new Date(due[9]!.getTime() + ON_TIME_MS), policy: 'none', suspended: false });
    assert.equal(states(edge), 'fire');
    const late = decideSlots({ due: [due[9]!], now: new Date(due[9]!.getTime() + ON_TIME_MS + 1), policy: 'none', suspended: false });
    assert.equal(states(late), 'missed');
  });

  it('a suspended job skips every slot, on time or not', () => {
    const decisions = decideSlots({ due, now, policy: 'all', suspended: true });
    assert.equal(states(decisions), Array(10).fill('skipped').join(','));
    assert.ok(decisions.every((d) => d.reason === 'job suspended'));
    assert.deepEqual(decideSlots({ due: [], now, policy: 'latest', suspended: false }), []);
  });
});
