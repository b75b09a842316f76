// `kubescribe serve` killed with SIGKILL: under concurrent triggers, nothing it accepted is lost
// after a restart; with two replicas on one database and one killed, schedules still fire once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { waitFor } from '../support/cli.ts';
import {
  FULL, Tally, adminToken, jobOfKey, runIdOf, sleep, startServe, trigger, triggerLoad,
  type Accepted, type ServeProcess,
} from './harness.ts';

if (!process.env.DATABASE_URL) {
  test('kill tests against PostgreSQL', { skip: 'DATABASE_URL is not set: the database fault tests need a real PostgreSQL' }, () => {});
} else {
  describe('kubescribe serve killed', () => {
    let t: TestRunLog;
    let dir: string;
    let file: string;
    let token: string;
    const servers: ServeProcess[] = [];

    before(async () => {
      t = await createTestRunLog('postgres');
      await t.withDb(async () => {});
      dir = mkdtempSync(join(tmpdir(), 'ks-kill-'));
      file = join(dir, 'kubescribe.yaml');
      writeFileSync(file, [
        'api:',
        '  rate_limit: off',
        'jobs:',
        '  steady:',
        `    command: [sh, -c, 'echo start; sleep 0.2; echo end']`,
        '  tick:',
        `    command: [sh, -c, 'echo tick']`,
        '    schedule: "* * * * * *"',
        '    catch_up: none',
        '',
      ].join('\n'));
      token = await adminToken(t.env);
    });
    after(async () => {
      for (const server of servers) await server.kill('SIGKILL');
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    const serve = async (args: string[] = []) => {
      const server = await startServe(t.env, ['-f', file, ...args]);
      servers.push(server);
      return server;
    };

    test('SIGKILL under concurrent triggers, then a restart: every accepted trigger has exactly one run', { timeout: 120_000 }, async (ctx) => {
      const rounds = FULL ? 4 : 2;
      const tally = new Tally();
      const accepted: Accepted = new Map();
      // Eight runs at a time, as in the outage test: the ~110 accepted 0.2 s runs then drain in ~3 s
      // instead of ~5.5 s at the default four; what is tested is that none is lost or doubled.
      const serveArgs = ['--no-scheduler', '--max-concurrent-runs', '8'];
      let current = await serve(serveArgs);
      for (let round = 0; round < rounds; round++) {
        const load = triggerLoad({ url: () => current.url, token, workers: 6, pauseMs: 20, tally, accepted, pickJob: () => 'steady', prefix: `r${round}` });
        await sleep(FULL ? 5_000 : 1_500);
        await current.kill('SIGKILL');
        await load.stop();
        current = await serve(serveArgs);
      }
      // Each key once more on the new server: an accepted one answers its run; one whose answer was
      // lost with the server is either its run or a new one, never two.
      // Eight at a time, as the outage test replays: one after another, the replay was a fifth of the test.
      const replay = new Tally();
      const keys = [...accepted];
      await Promise.all(Array.from({ length: 8 }, async () => {
        for (let next = keys.shift(); next; next = keys.shift()) {
          const [key, runId] = next;
          const answer = await trigger(current.url, token, jobOfKey(key), key, replay);
          assert.equal(answer?.status, 202, `replay of ${key}: ${JSON.stringify(answer)}`);
          if (runId !== null) assert.equal(runIdOf(answer!.body), runId, `replay of ${key}`);
        }
      }));
      const rows = await t.withDb((db) => db.query<{ key: string; n: number }>(
        `SELECT idempotency_key AS key, count(*) AS n FROM runs WHERE idempotency_key LIKE 'fault-%' GROUP BY 1`));
      const counts = new Map(rows.map((row) => [row.key, row.n]));
      const acceptedKeys = [...accepted].filter(([, runId]) => runId !== null).map(([key]) => key);
      const lost = acceptedKeys.filter((key) => !counts.has(key)).length;
      const duplicated = rows.filter((row) => row.n !== 1).length;
      await waitFor(async () => {
        const [live] = await t.withDb((db) => db.query<{ n: number }>(
          `SELECT count(*) AS n FROM runs WHERE idempotency_key LIKE 'fault-%' AND status IN ('queued', 'starting', 'running')`));
        return live!.n === 0;
      }, 60_000, 'every run to end');
      const statuses = await t.withDb((db) => db.query<{ status: string; n: number }>(
        `SELECT status, count(*) AS n FROM runs WHERE idempotency_key LIKE 'fault-%' GROUP BY 1 ORDER BY 1`));
      ctx.diagnostic(`${rounds} kills: triggers ${tally.line()}; accepted ${acceptedKeys.length}, lost ${lost}, duplicated ${duplicated}; runs ${JSON.stringify(statuses)}`);
      assert.equal(tally.status500 + tally.hangs, 0);
      assert.equal(lost, 0);
      assert.equal(duplicated, 0);
      // Runs in flight when their server died end `lost` (their process gone) or are re-adopted; never stuck.
      assert.ok(statuses.every((row) => ['succeeded', 'lost'].includes(row.status)), JSON.stringify(statuses));
      await current.kill('SIGTERM');
    });

    test('two replicas on one database, one SIGKILLed: every per-second slot fires once', { timeout: 90_000 }, async (ctx) => {
      const [a, b] = await Promise.all([serve(), serve()]);
      const startedAt = new Date();
      // Waits for slots fired, not for seconds: a loaded machine may fire fewer in a fixed time.
      const firedAfter = async (at: number) => (await t.withDb((db) => db.query<{ n: number }>(
        `SELECT count(*) AS n FROM schedule_slots WHERE job = 'tick' AND run_id IS NOT NULL AND scheduled_for > $1`, [new Date(at)])))[0]!.n;
      await waitFor(async () => (await firedAfter(startedAt.getTime())) >= 3, 60_000, 'both replicas to fire slots');
      if (FULL) await sleep(20_000);
      await a.kill('SIGKILL');
      const killedAt = Date.now();
      await waitFor(async () => (await firedAfter(killedAt + 1_000)) >= 2, 60_000, 'the survivor to fire slots');
      if (FULL) await sleep(20_000);
      await b.kill('SIGTERM');
      const slots = await t.withDb((db) => db.query<{ scheduled_for: Date; n: number }>(
        `SELECT scheduled_for, count(*) AS n FROM runs r JOIN schedule_slots s ON s.run_id = r.run_id
         WHERE r.job = 'tick' AND s.scheduled_for >= $1 GROUP BY 1 ORDER BY 1`, [startedAt]));
      const perKey = await t.withDb((db) => db.query<{ n: number }>(
        `SELECT count(*) AS n FROM runs WHERE job = 'tick' AND trigger = 'schedule' GROUP BY idempotency_key HAVING count(*) > 1`));
      const afterKill = slots.filter((slot) => slot.scheduled_for.getTime() > killedAt + 1_000).length;
      ctx.diagnostic(`slots fired: ${slots.length}, after the kill: ${afterKill}, slots with two runs: ${perKey.length}`);
      assert.equal(perKey.length, 0, 'no slot fired twice');
      assert.ok(slots.every((slot) => slot.n === 1));
      assert.ok(afterKill >= 2, `the survivor kept firing (${afterKill} slots after the kill)`);
    });
  });
}
