import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../src/runlog/db.ts';
import { syncJobDefinition } from '../../src/runlog/sql/jobs.ts';
import { readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { findRunsByPrefix, listRecentRunsOfJobs, listRuns } from '../../src/runlog/sql/run-queries.ts';
import {
  getRun,
  insertEvent,
  insertRun,
  setLogTotals,
  touchHeartbeat,
  transitionRun,
} from '../../src/runlog/sql/runs.ts';
import { TERMINAL_STATUSES, type RunStatus } from '../../src/runlog/types.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { count, ev, openSharedRunLog, seedRun, type SharedRunLog, VARIANTS } from './shared-runlog.ts';

/** Runs `promise`, expecting a database error; returns it. */
async function dbError(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    () => assert.fail('expected the database to reject the statement'),
    (error: Error & { code?: string }) => error,
  );
}

for (const engine of VARIANTS) {
  describe(`runs (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
    });
    after(() => shared?.close());

    const eventsOf = (runId: string) => readRunEvents(db, runId);

    it('round-trips every field of a run through insertRun, transitionRun and getRun', async () => {
      const revision = await syncJobDefinition(db, {
        name: 'roundtrip', description: 'd', tenant: 'team-a', labels: { team: 'a' },
        definition: { command: ['python3', 'x.py'] }, content_hash: 'hash-roundtrip', source: 'kubescribe.yaml',
      });
      const original = await seedRun(db, { job: 'roundtrip', status: 'failed' });
      const runId = uuidv7();
      const createdAt = new Date('2024-05-01T10:00:00.123Z');
      const params = { input: 'data.csv', sizes: [1, [2, 3], { deep: [true, null, 'x'] }], nested: { list: [] } };
      const inserted = await insertRun(
        db,
        {
          run_id: runId,
          job: 'roundtrip',
          job_content_hash: 'hash-roundtrip',
          trigger: 'retry',
          triggered_by: 'alice',
          params,
          status: 'starting',
          attempt: 2,
          retry_of: original.run_id,
          executor: 'kubernetes',
          executor_ref: { namespace: 'batch', job: 'roundtrip-x', pods: ['a', 'b'] },
          image: 'python:3.12-slim',
          command: ['python3', 'script.py', '--flag', 'with space', 'ünïcode'],
          tenant: 'team-a',
          labels: { team: 'a', tier: 'gold' },
          created_at: createdAt,
          idempotency_key: `key-${runId}`,
        },
        { event_id: uuidv7(), at: createdAt, type: 'created', actor: 'alice', detail: { trigger: 'retry' } },
      );
      assert.equal(inserted, true);

      const startedAt = new Date('2024-05-01T10:00:01.500Z');
      const running = await transitionRun(db, runId, ['starting'], 'running',
        { started_at: startedAt, heartbeat_at: startedAt, executor_ref: { namespace: 'batch', pod: 'p-1', pids: [1, 2] } },
        ev('started'));
      assert.deepEqual(running, { changed: true, status: 'running' });

      const finishedAt = new Date('2024-05-01T10:05:00.999Z');
      const outputs = { report: { path: 's3://b/r.csv', parts: [[1, 2], ['a']] }, list: [1, 'two', [3]], flag: false };
      const done = await transitionRun(db, runId, ['starting', 'running'], 'failed', {
        finished_at: finishedAt,
        exit_code: 1,
        signal: null,
        error_type: 'json.decoder.JSONDecodeError',
        error_message: "Expecting value: line 1 column 1 (char 0) — 'quoted' \"double\"",
        error_tail: 'Traceback (most recent call last):\n  File "x.py"\nValueError: x',
        outputs,
        metrics: { rows_read: 1200, ratio: 0.25 },
        log_bytes: 5_000_000_123,
        log_dropped_bytes: 4_989_000_000,
      }, ev('failed', 'alice', { exit_code: 1 }));
      assert.deepEqual(done, { changed: true, status: 'failed' });

      const run = await getRun(db, runId);
      assert.ok(run);
      assert.deepEqual(run, {
        run_id: runId,
        job: 'roundtrip',
        run_number: (await getRun(db, original.run_id))!.run_number + 1,
        job_revision: revision,
        trigger: 'retry',
        triggered_by: 'alice',
        params,
        status: 'failed',
        attempt: 2,
        retry_of: original.run_id,
        executor: 'kubernetes',
        executor_ref: { namespace: 'batch', pod: 'p-1', pids: [1, 2] },
        image: 'python:3.12-slim',
        command: ['python3', 'script.py', '--flag', 'with space', 'ünïcode'],
        tenant: 'team-a',
        labels: { team: 'a', tier: 'gold' },
        created_at: createdAt,
        started_at: startedAt,
        finished_at: finishedAt,
        heartbeat_at: startedAt,
        exit_code: 1,
        signal: null,
        error_type: 'json.decoder.JSONDecodeError',
        error_message: "Expecting value: line 1 column 1 (char 0) — 'quoted' \"double\"",
        error_tail: 'Traceback (most recent call last):\n  File "x.py"\nValueError: x',
        outputs,
        metrics: { rows_read: 1200, ratio: 0.25 },
        idempotency_key: `key-${runId}`,
        log_bytes: 5_000_000_123,
        log_dropped_bytes: 4_989_000_000,
      });
      for (const key of ['created_at', 'started_at', 'finished_at', 'heartbeat_at'] as const) {
        assert.ok(run[key] instanceof Date, `${key} is a Date`);
      }
      assert.equal(typeof run.log_bytes, 'number');
      assert.equal(typeof run.log_dropped_bytes, 'number');
      assert.ok(Array.isArray(run.command));
      // A raw jsonb array column really holds an array (pg would have sent a Postgres array literal).
      const [kind] = await db.query<{ command: string; params: string }>(
        'SELECT jsonb_typeof(command) AS command, jsonb_typeof(params->\'sizes\') AS params FROM runs WHERE run_id = $1',
        [runId],
      );
      assert.deepEqual(kind, { command: 'array', params: 'array' });

      assert.equal(await getRun(db, uuidv7()), null);
    });

    it('returns counts and bigint columns as numbers', async () => {
      const run = await seedRun(db, { job: 'numbers' });
      await setLogTotals(db, run.run_id, 2 ** 40, 7);
      const [row] = await db.query<{ n: unknown; b: unknown; d: unknown }>(
        `SELECT count(*) AS n, max(log_bytes) AS b, max(log_dropped_bytes) AS d FROM runs WHERE job = 'numbers'`,
      );
      assert.deepEqual(row, { n: 1, b: 2 ** 40, d: 7 });
      const fetched = await getRun(db, run.run_id);
      assert.equal(fetched!.log_bytes, 2 ** 40);
      assert.equal(fetched!.attempt, 1);
    });

    // db.ts promises that nothing above it knows which engine it talks to; pg-engine.ts parses numeric.
    it('returns numeric aggregates (avg, sum of bigint) as numbers on every engine', async () => {
      const [row] = await db.query<{ avg: unknown; total: unknown }>(
        `SELECT avg(x) AS avg, sum(x::bigint) AS total FROM (VALUES (1), (2)) AS v (x)`,
      );
      assert.deepEqual(row, { avg: 1.5, total: 3 });
    });

    it('inserts a run once: a second insertRun with the same run_id returns false and changes nothing', async () => {
      const run = await seedRun(db, { job: 'twice', params: { a: 1 } });
      const again = await insertRun(db, { ...run, params: { a: 2 }, status: 'queued' },
        { event_id: uuidv7(), at: new Date(), type: 'created', actor: 'tester' });
      assert.equal(again, false);
      const events = await eventsOf(run.run_id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.type, 'created');
      assert.equal(events[0]!.from_status, null);
      assert.equal(events[0]!.to_status, 'running');
      const stored = await getRun(db, run.run_id);
      assert.deepEqual(stored!.params, { a: 1 });
      assert.equal(stored!.status, 'running');
    });

    it('rejects a second run with the same idempotency_key and records nothing for it', async () => {
      const first = await seedRun(db, { job: 'idem', idempotency_key: 'nightly-2024-05-01' });
      const secondId = uuidv7();
      const error = await dbError(insertRun(db, { ...first, run_id: secondId },
        { event_id: uuidv7(), at: new Date(), type: 'created', actor: 'tester' }));
      assert.equal(error.code, '23505');
      assert.match(error.message, /idempotency_key/);
      assert.equal(await getRun(db, secondId), null);
      assert.equal(await count(db, 'run_events WHERE run_id = $1', [secondId]), 0);
      // NULL keys never collide.
      await seedRun(db, { job: 'idem' });
      await seedRun(db, { job: 'idem' });
    });

    it('transitionRun is a compare-and-set that writes exactly one matching event', async () => {
      const run = await seedRun(db, { job: 'cas', status: 'starting' });
      const event = { event_id: uuidv7(), at: new Date('2024-06-01T00:00:00.250Z'), type: 'started', actor: 'runner@host', detail: { pid: 42, argv: ['a', 'b'] } };
      const result = await transitionRun(db, run.run_id, ['queued', 'starting'], 'running', { started_at: new Date() }, event);
      assert.deepEqual(result, { changed: true, status: 'running' });
      const events = await eventsOf(run.run_id);
      assert.equal(events.length, 2);
      assert.deepEqual(events.find((e) => e.event_id === event.event_id), {
        event_id: event.event_id,
        run_id: run.run_id,
        at: event.at,
        type: 'started',
        from_status: 'starting',
        to_status: 'running',
        actor: 'runner@host',
        detail: { pid: 42, argv: ['a', 'b'] },
      });
      assert.equal((await getRun(db, run.run_id))!.status, 'running');
    });

    it('a transition from the wrong state changes nothing and writes no event', async () => {
      const run = await seedRun(db, { job: 'cas', status: 'queued' });
      const result = await transitionRun(db, run.run_id, ['running'], 'succeeded', { exit_code: 0 }, ev('succeeded'));
      assert.deepEqual(result, { changed: false, status: 'queued' });
      const stored = await getRun(db, run.run_id);
      assert.equal(stored!.status, 'queued');
      assert.equal(stored!.exit_code, null);
      assert.equal((await eventsOf(run.run_id)).length, 1);

      const missing = await transitionRun(db, uuidv7(), ['running'], 'failed', {}, ev('failed'));
      assert.deepEqual(missing, { changed: false, status: null });
    });

    it('rejects a column that a transition may not set', async () => {
      const run = await seedRun(db, { job: 'cas' });
      await assert.rejects(
        transitionRun(db, run.run_id, ['running'], 'failed', { status: 'queued' } as never, ev('failed')),
        /status is not a patchable column/,
      );
      assert.equal((await getRun(db, run.run_id))!.status, 'running');
    });

    it('never changes a terminal run, whatever issues the UPDATE', async () => {
      const run = await seedRun(db, { job: 'terminal' });
      const finishedAt = new Date();
      assert.equal((await transitionRun(db, run.run_id, ['running'], 'succeeded', { exit_code: 0, finished_at: finishedAt }, ev('succeeded'))).changed, true);

      for (const to of ['failed', 'running', 'lost'] as RunStatus[]) {
        const result = await transitionRun(db, run.run_id, ['starting', 'running'], to, {}, ev(to));
        assert.deepEqual(result, { changed: false, status: 'succeeded' });
      }
      // Even a caller that names the terminal state as "from" is stopped, by the trigger.
      const viaCas = await dbError(transitionRun(db, run.run_id, ['succeeded'], 'failed', { exit_code: 1 }, ev('failed')));
      assert.match(viaCas.message, /is succeeded \(terminal\) and cannot change/);
      for (const sql of [
        "UPDATE runs SET status = 'running' WHERE run_id = $1",
        'UPDATE runs SET exit_code = 3 WHERE run_id = $1',
        'UPDATE runs SET finished_at = now() WHERE run_id = $1',
      ]) {
        const error = await dbError(db.query(sql, [run.run_id]));
        assert.equal(error.code, '23514', sql);
        assert.match(error.message, new RegExp(`run ${run.run_id} is succeeded \\(terminal\\) and cannot change`));
      }
      const stored = await getRun(db, run.run_id);
      assert.equal(stored!.status, 'succeeded');
      assert.equal(stored!.exit_code, 0);
      assert.deepEqual(stored!.finished_at, finishedAt);
      assert.equal((await eventsOf(run.run_id)).length, 2);
      // Totals of a finished run may still be written (its log can finish flushing after the status).
      await setLogTotals(db, run.run_id, 10, 2);
      assert.equal((await getRun(db, run.run_id))!.log_bytes, 10);
    });

    it('replaying a transition with the same event_id records it once', async () => {
      const run = await seedRun(db, { job: 'replay' });
      const event = ev('failed', 'runner', { exit_code: 2 });
      const patch = { exit_code: 2, finished_at: new Date() };
      assert.deepEqual(await transitionRun(db, run.run_id, ['starting', 'running'], 'failed', patch, event), { changed: true, status: 'failed' });
      assert.deepEqual(await transitionRun(db, run.run_id, ['starting', 'running'], 'failed', patch, event), { changed: false, status: 'failed' });
      const events = await eventsOf(run.run_id);
      assert.deepEqual(events.map((e) => e.type), ['created', 'failed']);
      // insertEvent is idempotent by event_id too.
      const note = ev('warning', 'runner', { line: 3 });
      await insertEvent(db, run.run_id, note);
      await insertEvent(db, run.run_id, { ...note, type: 'other' });
      assert.deepEqual((await eventsOf(run.run_id)).map((e) => e.type), ['created', 'failed', 'warning']);
    });

    it('keeps run_events append-only', async () => {
      const run = await seedRun(db, { job: 'audit' });
      for (const sql of [
        "UPDATE run_events SET actor = 'mallory' WHERE run_id = $1",
        'DELETE FROM run_events WHERE run_id = $1',
      ]) {
        const error = await dbError(db.query(sql, [run.run_id]));
        assert.equal(error.code, '42501', sql);
        assert.match(error.message, /run_events is append-only/);
      }
      const events = await eventsOf(run.run_id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor, 'tester');
    });

    it('lets exactly one of 20 concurrent terminal transitions win', async () => {
      const run = await seedRun(db, { job: 'race' });
      const attempts = Array.from({ length: 20 }, (_, i) => TERMINAL_STATUSES[i % TERMINAL_STATUSES.length]!);
      const results = await Promise.all(
        attempts.map((to) => transitionRun(db, run.run_id, ['starting', 'running'], to, { finished_at: new Date() }, ev(to))),
      );
      const winners = results.map((r, i) => ({ ...r, to: attempts[i] })).filter((r) => r.changed);
      assert.equal(winners.length, 1, JSON.stringify(results));
      const final = (await getRun(db, run.run_id))!.status;
      assert.equal(final, winners[0]!.to);
      for (const result of results) assert.equal(result.status, final);
      const events = await eventsOf(run.run_id);
      const terminal = events.filter((e) => e.to_status !== null && TERMINAL_STATUSES.includes(e.to_status));
      assert.equal(terminal.length, 1);
      assert.equal(terminal[0]!.from_status, 'running');
      assert.equal(terminal[0]!.to_status, final);
      assert.equal(events.length, 2);
    });

    it('lists runs newest first, filtered by job, status and trigger, with a limit', async () => {
      const base = Date.parse('2030-01-01T00:00:00Z');
      const specs: { job: string; status: RunStatus; trigger: 'schedule' | 'manual' | 'api' }[] = [
        { job: 'list-a', status: 'succeeded', trigger: 'schedule' },
        { job: 'list-a', status: 'failed', trigger: 'schedule' },
        { job: 'list-b', status: 'failed', trigger: 'manual' },
        { job: 'list-a', status: 'running', trigger: 'api' },
        { job: 'list-a', status: 'failed', trigger: 'manual' },
      ];
      const ids: string[] = [];
      for (const [i, spec] of specs.entries()) {
        ids.push((await seedRun(db, { ...spec, created_at: new Date(base + i * 60_000) })).run_id);
      }
      const listed = (filter: Parameters<typeof listRuns>[1]) => listRuns(db, filter).then((runs) => runs.map((r) => r.run_id));
      assert.deepEqual(await listed({ job: 'list-a' }), [ids[4], ids[3], ids[1], ids[0]]);
      assert.deepEqual(await listed({ job: 'list-a', status: 'failed' }), [ids[4], ids[1]]);
      assert.deepEqual(await listed({ job: 'list-a', trigger: 'schedule' }), [ids[1], ids[0]]);
      assert.deepEqual(await listed({ job: 'list-a', status: 'failed', trigger: 'manual' }), [ids[4]]);
      assert.deepEqual(await listed({ job: 'list-a', limit: 2 }), [ids[4], ids[3]]);
      assert.deepEqual(await listed({ status: 'failed', limit: 3 }), [ids[4], ids[2], ids[1]]);
      assert.deepEqual(await listed({ job: 'no-such-job' }), []);
      const all = await listRuns(db, { limit: 1000 });
      for (let i = 1; i < all.length; i++) {
        assert.ok(all[i - 1]!.created_at.getTime() >= all[i]!.created_at.getTime(), 'newest first');
      }
      assert.equal((await listRuns(db)).length, Math.min(50, all.length));
    });

    it('lists the newest runs of each job (the jobs page), newest first within each job, with only what the page shows', async () => {
      const base = Date.parse('2031-01-01T00:00:00Z');
      const seeded: Record<string, string[]> = { 'recent-b': [], 'recent-a': [] };
      for (const job of ['recent-b', 'recent-a'] as const) {
        for (let i = 0; i < 4; i++) {
          const run = await seedRun(db, { job, status: 'running', created_at: new Date(base + i * 60_000) });
          seeded[job]!.push(run.run_id);
        }
      }
      // Two runs created at the same instant: the greater run id is the newer, as in every run list.
      const tieLow = await seedRun(db, { run_id: '0badc0de-0000-7000-8000-000000000001', job: 'recent-a', status: 'failed', created_at: new Date(base + 10 * 60_000) });
      const tieHigh = await seedRun(db, { run_id: 'f00dfeed-0000-7000-8000-000000000001', job: 'recent-a', status: 'running', created_at: new Date(base + 10 * 60_000) });
      await db.query("UPDATE runs SET status = 'succeeded', started_at = $2, finished_at = $3 WHERE run_id = $1",
        [seeded['recent-b']![3], new Date(base + 3 * 60_000 + 1000), new Date(base + 3 * 60_000 + 2500)]);
      const recent = await listRecentRunsOfJobs(db, ['recent-b', 'recent-a', 'recent-a', 'no-such-job'], 3);
      assert.deepEqual(recent.map((run) => [run.job, run.run_id]), [
        ['recent-a', tieHigh.run_id], ['recent-a', tieLow.run_id], ['recent-a', seeded['recent-a']![3]],
        ['recent-b', seeded['recent-b']![3]], ['recent-b', seeded['recent-b']![2]], ['recent-b', seeded['recent-b']![1]],
      ]);
      const newestB = recent[3]!;
      assert.deepEqual(Object.keys(newestB).sort(), ['created_at', 'finished_at', 'job', 'run_id', 'run_number', 'started_at', 'status']);
      assert.equal(newestB.run_number, 4);
      assert.equal(newestB.status, 'succeeded');
      assert.deepEqual(newestB.created_at, new Date(base + 3 * 60_000));
      assert.deepEqual(newestB.started_at, new Date(base + 3 * 60_000 + 1000));
      assert.deepEqual(newestB.finished_at, new Date(base + 3 * 60_000 + 2500));
      assert.deepEqual(await listRecentRunsOfJobs(db, [], 3), []);
    });

    it('finds runs by id prefix, newest first', async () => {
      const older = await seedRun(db, { run_id: 'abcdef01-2345-7000-8000-000000000001', job: 'prefix', created_at: new Date(Date.now() - 1000) });
      const newer = await seedRun(db, { run_id: 'abcdef01-2345-7000-8000-000000000002', job: 'prefix' });
      assert.deepEqual(await findRunsByPrefix(db, 'abcdef01'), [newer.run_id, older.run_id]);
      assert.deepEqual(await findRunsByPrefix(db, 'ABCDEF01-2345'), [newer.run_id, older.run_id]);
      assert.deepEqual(await findRunsByPrefix(db, 'abcdef01', 1), [newer.run_id]);
      assert.deepEqual(await findRunsByPrefix(db, 'abcdef01-2345-7000-8000-000000000001'), [older.run_id]);
      assert.deepEqual(await findRunsByPrefix(db, 'ffffffff-ffff'), []);
    });

    it('touchHeartbeat moves the heartbeat of live runs forward only', async () => {
      const t0 = new Date('2030-02-01T00:00:00Z');
      const t1 = new Date('2030-02-01T00:00:10Z');
      const running = await seedRun(db, { job: 'hb', status: 'running' });
      const starting = await seedRun(db, { job: 'hb', status: 'starting' });
      const queued = await seedRun(db, { job: 'hb', status: 'queued' });
      const done = await seedRun(db, { job: 'hb', status: 'running' });
      await transitionRun(db, done.run_id, ['running'], 'succeeded', { heartbeat_at: t0 }, ev('succeeded'));

      for (const run of [running, starting, queued, done]) await touchHeartbeat(db, run.run_id, t1);
      const beat = async (id: string) => (await getRun(db, id))!.heartbeat_at;
      assert.deepEqual(await beat(running.run_id), t1);
      assert.deepEqual(await beat(starting.run_id), t1);
      assert.equal(await beat(queued.run_id), null);
      assert.deepEqual(await beat(done.run_id), t0);
      // A late, older heartbeat (replayed from the offline buffer) never moves it back.
      await touchHeartbeat(db, running.run_id, t0);
      assert.deepEqual(await beat(running.run_id), t1);
      assert.equal((await getRun(db, done.run_id))!.status, 'succeeded');
    });
  });
}
