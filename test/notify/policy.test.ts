// The rules over a sequence of runs: state changes are sent, repeats within the throttle window are
// suppressed and summarised by the next message, recovery is announced, quiet hours hold messages and
// maintenance windows suppress them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { activeMaintenance, quietUntil, summaryText } from '../../src/notify/policy.ts';
import type { Db } from '../../src/runlog/db.ts';
import { listRunNotifications } from '../../src/runlog/sql/notification-deliveries.ts';
import { openSharedRunLog, type SharedRunLog } from '../runlog/shared-runlog.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { finishedRun, makeNotifier } from './fixtures.ts';
import { startHttpReceiver, type HttpReceiver } from './receivers.ts';

const hookYaml = (url: string, job: string, jobNotify = '', defaults = '') =>
  `notify:\n  channels:\n    hook: {type: webhook, url: "${url}/${job}"}\n  defaults:\n    channels: [hook]\n${defaults}jobs:\n  ${job}:\n    command: [x]\n${jobNotify}`;

describe('policy helpers', () => {
  it('quiet hours across midnight hold until their end, in the given zone', () => {
    const quiet = { from: 22 * 60, to: 7 * 60, time_zone: 'Europe/Berlin' };
    // 23:30 in Berlin (UTC+1 in November) → held until 07:00 Berlin = 06:00Z.
    assert.equal(quietUntil(new Date('2026-11-26T22:30:00Z'), quiet, 'UTC')?.toISOString(), '2026-11-27T06:00:00.000Z');
    assert.equal(quietUntil(new Date('2026-11-26T05:59:00Z'), quiet, 'UTC')?.toISOString(), '2026-11-26T06:00:00.000Z');
    assert.equal(quietUntil(new Date('2026-11-26T12:00:00Z'), quiet, 'UTC'), null);
    assert.equal(quietUntil(new Date('2026-11-26T12:00:00Z'), null, 'UTC'), null);
  });

  it('maintenance windows: one-off and recurring', () => {
    const oneOff = [{ from: '2026-11-28T22:00:00.000Z', to: '2026-11-29T02:00:00.000Z' }];
    assert.match(activeMaintenance(new Date('2026-11-29T01:00:00Z'), oneOff) ?? '', /^maintenance window 2026-11-28T22:00:00.000Z/);
    assert.equal(activeMaintenance(new Date('2026-11-29T02:00:00Z'), oneOff), null);
    const sundays = [{ schedule: '0 2 * * 0', duration_ms: 2 * 3_600_000, time_zone: 'UTC' }];
    assert.ok(activeMaintenance(new Date('2026-11-29T03:59:00Z'), sundays), 'Sunday 03:59 is inside 02:00-04:00');
    assert.equal(activeMaintenance(new Date('2026-11-29T04:00:00Z'), sundays), null);
    assert.equal(activeMaintenance(new Date('2026-11-28T03:00:00Z'), sundays), null, 'Saturday');
  });

  it('summaries read like a person wrote them', () => {
    const now = new Date('2026-11-26T12:00:00Z');
    assert.equal(summaryText('failed', 5, new Date('2026-11-26T09:00:00Z'), now, 'UTC'), 'failed 5 times in a row since 09:00 UTC');
    assert.equal(summaryText('missed', 3, new Date('2026-11-25T09:00:00Z'), now, 'Europe/Berlin'), 'missed 3 scheduled runs since Nov 25 10:00');
    assert.equal(summaryText('failed', 1, new Date(), now, 'UTC'), null);
  });
});

for (const engine of ENGINES) {
  describe(`notification rules over a sequence of runs (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    let http: HttpReceiver;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
      http = await startHttpReceiver();
    });
    after(async () => {
      await http?.close();
      await shared?.close();
    });
    const received = (job: string) => http.posts.filter((p) => p.path === `/${job}`).map((p) => p.json as { event: string; summary: string | null; run: { run_id: string } });

    it('fail, fail, fail, succeed, succeed, fail: first failure, recovery and the next failure are sent; repeats suppressed', async () => {
      const notifier = makeNotifier(db, hookYaml(http.url, 'flaky'), {});
      const sequence = ['failed', 'failed', 'timed_out', 'succeeded', 'succeeded', 'failed'] as const;
      const runs: string[] = [];
      for (const status of sequence) {
        runs.push(await finishedRun(db, 'flaky', status));
        await notifier.runOnce();
      }
      assert.deepEqual(received('flaky').map((m) => [m.event, m.run.run_id, m.summary]), [
        ['failed', runs[0], null],
        ['recovered', runs[3], 'recovered after 3 failed runs'],
        ['failed', runs[5], null],
      ]);
      const suppressed = await listRunNotifications(db, runs[1]!);
      assert.equal(suppressed[0]!.state, 'suppressed');
      assert.match(suppressed[0]!.reason!, /repeat within the throttle window \(60 min\)/);
      assert.deepEqual(await listRunNotifications(db, runs[4]!), [], 'a plain success is not in notify.on');
      // Dedupe: dispatching and delivering again sends nothing new.
      await notifier.runOnce();
      assert.equal(received('flaky').length, 3);
    });

    it('after the throttle window, the next repeat is sent with a summary of the streak', async () => {
      const notifier = makeNotifier(db, hookYaml(http.url, 'streak', '    notify: {on: [failed], channels: [hook], throttle: 10m}\n'), {});
      const first = await finishedRun(db, 'streak', 'failed');
      await notifier.runOnce();
      await finishedRun(db, 'streak', 'failed');
      await finishedRun(db, 'streak', 'failed');
      await notifier.runOnce();
      assert.equal(received('streak').length, 1);
      // The window passes: the message sent is moved back past it, rather than this test waiting 10 minutes.
      await db.query(`UPDATE notification_deliveries SET created_at = created_at - interval '11 minutes' WHERE job = 'streak'`);
      const fourth = await finishedRun(db, 'streak', 'failed');
      const fifth = await finishedRun(db, 'streak', 'failed');
      await notifier.runOnce();
      const messages = received('streak');
      assert.deepEqual(messages.map((m) => m.run.run_id), [first, fourth]);
      assert.match(messages[1]!.summary!, /^failed 4 times in a row since \d\d:\d\d UTC$/);
      assert.equal((await listRunNotifications(db, fifth))[0]!.state, 'suppressed');
    });

    it('throttling is per channel: a second channel is not held back by the first', async () => {
      const yaml = `notify:\n  channels:\n    one: {type: webhook, url: "${http.url}/ch-one"}\n    two: {type: webhook, url: "${http.url}/ch-two"}\njobs:\n  perchan:\n    command: [x]\n    notify: {on: [failed], channels: [one]}\n`;
      const notifier = makeNotifier(db, yaml, {});
      await finishedRun(db, 'perchan', 'failed');
      await notifier.runOnce();
      const later = makeNotifier(db, yaml.replace('channels: [one]', 'channels: [one, two]'), {});
      const second = await finishedRun(db, 'perchan', 'failed');
      await later.runOnce();
      const states = Object.fromEntries((await listRunNotifications(db, second)).map((d) => [d.channel, d.state]));
      assert.deepEqual(states, { one: 'suppressed', two: 'sent' });
    });

    it('quiet hours hold a message until they end; a maintenance window suppresses it', async () => {
      const now = new Date();
      const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
      const quietFrom = hhmm(new Date(now.getTime() - 3_600_000));
      const quietTo = hhmm(new Date(now.getTime() + 3_600_000));
      const notifier = makeNotifier(db, hookYaml(http.url, 'sleepy', `    notify: {on: [failed], channels: [hook], quiet_hours: {from: "${quietFrom}", to: "${quietTo}", time_zone: UTC}}\n`), {});
      const held = await finishedRun(db, 'sleepy', 'failed');
      await notifier.runOnce();
      assert.equal(received('sleepy').length, 0);
      const [delivery] = await listRunNotifications(db, held);
      assert.equal(delivery!.state, 'pending');
      assert.match(delivery!.reason!, /^held for quiet hours until /);
      const until = delivery!.next_attempt_at!.getTime();
      assert.ok(until > now.getTime() + 3_500_000 && until <= now.getTime() + 3_600_000, new Date(until).toISOString());

      const from = new Date(Date.now() - 3_600_000).toISOString();
      const to = new Date(Date.now() + 3_600_000).toISOString();
      const maint = makeNotifier(db, hookYaml(http.url, 'maint', `    notify: {on: [failed], channels: [hook], maintenance: [{from: "${from}", to: "${to}"}]}\n`), {});
      const quietRun = await finishedRun(db, 'maint', 'failed');
      await maint.runOnce();
      const [suppressed] = await listRunNotifications(db, quietRun);
      assert.equal(suppressed!.state, 'suppressed');
      assert.match(suppressed!.reason!, /^during maintenance window /);
      assert.equal(received('maint').length, 0);
    });

    it('a channel a job names that does not exist is recorded as failed with the reason', async () => {
      // Bypasses the config check (which rejects unknown names) the way a removed env default would.
      const notifier = makeNotifier(db, 'jobs:\n  orphan:\n    command: [x]\n    notify: {on: [failed], channels: [slack]}\n', {});
      const runId = await finishedRun(db, 'orphan', 'failed');
      await notifier.runOnce();
      const [delivery] = await listRunNotifications(db, runId);
      assert.equal(delivery!.state, 'failed');
      assert.match(delivery!.reason!, /channel "slack" is not configured/);
    });
  });
}
