// The heartbeat reaper on each engine: a real `kubescribe run` SIGKILLed with its job is marked lost by
// a real server's reaper, with its event; a runner that heartbeats is never reaped; silence counts
// from the last sign of life (an adoption, not the creation); two reapers at once mark a run lost
// once; a reaper that cannot take the lock does nothing. And runlog.lost_after in kubescribe.yaml.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { ConfigError, parseConfig } from '../../src/config/job-config.ts';
import { readEnvironment } from '../../src/config/environment.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { withAdvisoryXactLock } from '../../src/runlog/sql/advisory-lock.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { getRun, insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import type { RunStatus } from '../../src/runlog/types.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { runCommand } from '../../src/runner/runner.ts';
import { lostAfterMs, Reaper, REAPER_ACTOR, type ReaperEvent } from '../../src/runs/reaper.ts';
import { startServer } from '../../src/server/server.ts';
import { BIN, waitFor } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

const MINUTE = 60_000;
const LOST_MESSAGE = /^no heartbeat since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(runner killed, node lost or OOM-killed\?\)$/;

/** Writes a run as its runner would have left it: `status`, last heartbeat `heartbeatAgoMs` ago. */
async function seedRun(db: Db, status: RunStatus, heartbeatAgoMs: number | null, createdAgoMs = 10 * MINUTE): Promise<string> {
  const runId = uuidv7();
  const created = new Date(Date.now() - createdAgoMs);
  await insertRun(
    db,
    { run_id: runId, job: 'seeded', job_content_hash: null, trigger: 'manual', triggered_by: 'test', params: {}, status: 'starting', executor: 'local', executor_ref: { host: 'elsewhere', pid: 1 }, created_at: created },
    { event_id: uuidv7(), at: created, type: 'created', actor: 'test' },
  );
  if (status !== 'starting') {
    await transitionRun(db, runId, ['starting'], status, {
      started_at: created,
      heartbeat_at: heartbeatAgoMs === null ? undefined : new Date(Date.now() - heartbeatAgoMs),
      ...(status === 'running' ? {} : { finished_at: created }),
    }, { event_id: uuidv7(), at: created, type: status, actor: 'test' });
  }
  return runId;
}

const lostEvents = async (db: Db, runId: string) => (await readRunEvents(db, runId)).filter((event) => event.type === 'lost');

function processGroupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('runlog.lost_after', () => {
  test('defaults to 6 heartbeats, at least 60 s; lost_after in kubescribe.yaml wins', () => {
    assert.equal(lostAfterMs(parseConfig('jobs: {}\n', 'k.yaml').runlog), 60_000);
    assert.equal(lostAfterMs(parseConfig('runlog: {heartbeat: 30s}\n', 'k.yaml').runlog), 180_000);
    const explicit = parseConfig('runlog:\n  heartbeat: 5s\n  lost_after: 2m\n', 'k.yaml').runlog;
    assert.equal(explicit.lost_after_ms, 120_000);
    assert.equal(lostAfterMs(explicit), 120_000);
  });

  test('a lost_after shorter than two heartbeats, or not a duration, is an error at its line', () => {
    const issues = (text: string) => {
      try {
        parseConfig(text, 'k.yaml');
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.issues;
      }
      assert.fail('expected a ConfigError');
    };
    assert.deepEqual(issues('version: 1\nrunlog:\n  heartbeat: 10s\n  lost_after: 15s\n'), [{
      line: 4,
      path: 'runlog.lost_after',
      message: 'must be at least twice runlog.heartbeat (10s), or a live run could be marked lost between two heartbeats; got 15s',
    }]);
    // The default heartbeat (10 s) applies when none is written; the order of the keys does not matter.
    assert.equal(issues('runlog:\n  lost_after: 5s\n')[0]!.line, 2);
    assert.doesNotThrow(() => parseConfig('runlog:\n  lost_after: 1s\n  heartbeat: 500ms\n', 'k.yaml'));
    assert.deepEqual(issues('runlog:\n  lost_after: soon\n'), [{ line: 2, path: 'runlog.lost_after', message: 'expected a duration such as "15m", got "soon"' }]);
  });
});

for (const engine of ENGINES) {
  describe(`reaper (${engine})`, () => {
    let t: TestRunLog;

    before(async () => {
      t = await createTestRunLog(engine);
    });
    after(() => t.cleanup());

    test('a kubescribe run SIGKILLed with its job is marked lost by the server\'s reaper, with the event', async () => {
      const runId = uuidv7();
      // The job waits before saying it is ready: time for its runner to record the start and a few
      // 200 ms heartbeats (asserted below), so that what stops is a heartbeat that ran. On PostgreSQL
      // the test waits for a recorded heartbeat; PGlite cannot be read while the runner holds it, so
      // there the pause is long enough for a loaded machine (1 s was not: the start went unrecorded).
      const pause = engine === 'postgres' ? 1 : 4;
      const runner = spawn(process.execPath, [
        BIN, 'run', '-q', '--run-id', runId, '--job', 'victim', '--heartbeat', '200ms', '--',
        'sh', '-c', `sleep ${pause}; echo "ready $$"; exec sleep 120`,
      ], { env: { ...process.env, ...t.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      runner.stdout!.on('data', (data: Buffer) => (out += data.toString()));
      runner.stderr!.on('data', (data: Buffer) => (err += data.toString()));
      const closed = once(runner, 'close');
      const pgid = Number(await waitFor(() => /ready (\d+)/.exec(out)?.[1], 120_000, `the job to start; the runner said: ${err}`));
      if (engine === 'postgres') {
        await waitFor(async () => (await t.withDb((db) => getRun(db, runId)))?.heartbeat_at, 60_000, 'a recorded heartbeat');
      }
      runner.kill('SIGKILL');
      process.kill(-pgid, 'SIGKILL');
      await closed;
      await waitFor(() => processGroupGone(pgid), 60_000, 'the job to be gone');

      // A server with the local executor: its own reconciliation leaves a terminal's run alone, the reaper does not.
      const config = parseConfig('runlog:\n  heartbeat: 200ms\n  lost_after: 1s\n', '/nowhere/kubescribe.yaml');
      const server = await startServer({
        env: readEnvironment({ ...t.env }), config, host: '127.0.0.1', port: 0,
        executor: 'local', scheduler: false, cwd: t.home, logger: false,
      });
      try {
        const lost = await waitFor(async () => {
          const run = await getRun(server.db, runId);
          return run?.status === 'lost' ? run : null;
        }, 60_000, 'the run to be marked lost');
        assert.ok(lost.heartbeat_at, 'the runner had written heartbeats before it was killed');
        assert.equal(lost.error_type, 'Lost');
        assert.match(lost.error_message!, LOST_MESSAGE);
        assert.ok(lost.finished_at && lost.finished_at.getTime() - lost.heartbeat_at.getTime() >= 1000, 'not before lost_after has passed');
        const events = await lostEvents(server.db, runId);
        assert.equal(events.length, 1);
        assert.equal(events[0]!.actor, REAPER_ACTOR);
        assert.equal(events[0]!.to_status, 'lost');
        assert.ok(events[0]!.from_status === 'running' || events[0]!.from_status === 'starting');
        if (engine === 'postgres') assert.equal(events[0]!.from_status, 'running');
        assert.equal(events[0]!.detail.reason, 'heartbeat stopped');
        assert.equal(events[0]!.detail.lost_after_ms, 1000);
        assert.equal(events[0]!.detail.last_heartbeat_at, lost.heartbeat_at.toISOString());
      } finally {
        await server.close();
      }
    });

    describe('on an open RunLog', () => {
      let db: Db;
      before(async () => {
        db = await openRunLogDb(t.location);
        for (const job of ['seeded', 'queued-long']) await ensureUndeclaredJob(db, job);
      });
      after(() => db.close());

      test('a runner that heartbeats is never reaped, while a silent run beside it is', async () => {
        const events: ReaperEvent[] = [];
        const reaper = new Reaper({ db, lostAfterMs: 4000, intervalMs: 100, onEvent: (event) => events.push(event) });
        const silent = await seedRun(db, 'running', 5 * MINUTE);
        const runId = uuidv7();
        const shared: Db = { ...db, engine: db.engine, location: db.location, query: (sql, params) => db.query(sql, params), transaction: (fn) => db.transaction(fn), close: async () => {} };
        const discard = () => new Writable({ write: (_chunk, _encoding, callback) => callback() });
        await reaper.start();
        try {
          // The same runner as `kubescribe run`, in this process (PGlite admits one): 6 s, well past
          // lost_after. lost_after is 4 s, not less: on a loaded machine this process (PGlite included)
          // stalled 1.5 s between two 150 ms heartbeats and the live run was reaped.
          const code = await runCommand({
            command: ['sh', '-c', 'sleep 6'], job: 'alive', runId, params: [], trigger: 'manual', triggeredBy: 'test',
            config: parseConfig('runlog: {heartbeat: 150ms}\n', 'k.yaml'), home: t.home, openDb: async () => shared,
            heartbeatMs: 150, quiet: true, processSignals: false, stdout: discard(), stderr: discard(),
          });
          assert.equal(code, 0);
        } finally {
          await reaper.stop();
        }
        const alive = (await getRun(db, runId))!;
        assert.equal(alive.status, 'succeeded');
        assert.deepEqual(await lostEvents(db, runId), []);
        assert.equal((await getRun(db, silent))!.status, 'lost', 'the reaper was at work all along');
        assert.deepEqual(events.map((event) => event.type === 'run_lost' && event.runId), [silent]);
      });

      test('silence counts from the last sign of life: a run adopted after hours in the queue is not lost at once', async () => {
        const created = new Date(Date.now() - 3 * 60 * MINUTE);
        const runId = uuidv7();
        await insertRun(db, { run_id: runId, job: 'queued-long', job_content_hash: null, trigger: 'api', triggered_by: 'test', params: {}, status: 'queued', executor: 'local', created_at: created },
          { event_id: uuidv7(), at: created, type: 'created', actor: 'test' });
        await transitionRun(db, runId, ['queued'], 'starting', {}, { event_id: uuidv7(), at: new Date(), type: 'adopted', actor: 'test' });
        const recent = await seedRun(db, 'running', 1000, 60 * MINUTE);
        const finished = await seedRun(db, 'failed', 60 * MINUTE);
        assert.deepEqual((await new Reaper({ db, lostAfterMs: 30_000 }).tick()).lost, []);
        assert.equal((await getRun(db, runId))!.status, 'starting');
        // Once its adoption is older than lost_after, it is lost; a finished run never is.
        const later = new Reaper({ db, lostAfterMs: 30_000, now: () => new Date(Date.now() + MINUTE) });
        assert.deepEqual((await later.tick()).lost.sort(), [runId, recent].sort());
        assert.equal((await getRun(db, finished))!.status, 'failed');
        assert.deepEqual((await lostEvents(db, runId)).map((event) => event.from_status), ['starting']);
      });

      test('runs this process supervises itself are left to it', async () => {
        const mine = await seedRun(db, 'running', 5 * MINUTE);
        const theirs = await seedRun(db, 'running', 5 * MINUTE);
        const pass = await new Reaper({ db, lostAfterMs: 1000, isSupervised: (runId) => runId === mine }).tick();
        assert.deepEqual(pass.lost, [theirs]);
        assert.equal((await getRun(db, mine))!.status, 'running');
        // Once this process no longer supervises it, it is a silent run like any other.
        assert.deepEqual((await new Reaper({ db, lostAfterMs: 1000 }).tick()).lost, [mine]);
      });

      test('two reapers at once mark each silent run lost once, with one event', async () => {
        // Two connections on PostgreSQL, like two replicas; PGlite is one process's, so they share it.
        const other = engine === 'postgres' ? await openRunLogDb(t.location) : db;
        try {
          const runs = await Promise.all(Array.from({ length: 10 }, () => seedRun(db, 'running', 5 * MINUTE)));
          const reapers = [new Reaper({ db, lostAfterMs: 1000 }), new Reaper({ db: other, lostAfterMs: 1000 })];
          const lost: string[] = [];
          for (let round = 0; round < 3; round++) {
            const passes = await Promise.all(reapers.map((reaper) => reaper.tick()));
            lost.push(...passes.flatMap((pass) => pass.lost));
          }
          assert.deepEqual([...lost].sort(), [...runs].sort(), 'every run lost exactly once across both reapers');
          for (const runId of runs) {
            assert.equal((await getRun(db, runId))!.status, 'lost');
            assert.equal((await lostEvents(db, runId)).length, 1, `one lost event for ${runId}`);
          }
        } finally {
          if (other !== db) await other.close();
        }
      });

      if (engine === 'postgres') {
        test('while another replica holds the reaper lock, a pass does nothing and says so', async () => {
          const other = await openRunLogDb(t.location);
          try {
            const runId = await seedRun(db, 'running', 5 * MINUTE);
            let release!: () => void;
            let held!: () => void;
            const holding = new Promise<void>((resolve) => (held = resolve));
            const holder = withAdvisoryXactLock(other, 'reaper', async () => {
              held();
              await new Promise<void>((resolve) => (release = resolve));
            });
            await holding;
            const blocked = await new Reaper({ db, lostAfterMs: 1000 }).tick();
            assert.deepEqual(blocked, { busy: true, lost: [] });
            assert.equal((await getRun(db, runId))!.status, 'running');
            release();
            assert.equal((await holder).acquired, true);
            assert.deepEqual((await new Reaper({ db, lostAfterMs: 1000 }).tick()).lost, [runId]);
          } finally {
            await other.close();
          }
        });
      }
    });
  });
}
