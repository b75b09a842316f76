// The retrier on each engine, with an injected clock and an executor that only records dispatches:
// which ends are retried (failed, timed_out, lost) and which never (succeeded, cancelled,
// InvalidParams), the backoff from the job's policy (backoff × 2^(attempt−1), counted from the run's
// end), the limit, a decision that outlives the retrier that made it (a server stopped mid-backoff),
// and two retriers on one PostgreSQL creating one retry.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, type KubescribeConfig } from '../../src/config/job-config.ts';
import type { Executor } from '../../src/executors/executor.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { listRuns } from '../../src/runlog/sql/run-queries.ts';
import { getRunRetry } from '../../src/runlog/sql/run-retries.ts';
import { getRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import type { RunStatus } from '../../src/runlog/types.ts';
import { runEvent } from '../../src/runlog/run-event.ts';
import { Retrier, RETRY_ACTOR, type RetrierEvent } from '../../src/runs/retrier.ts';
import { triggerRun } from '../../src/runs/trigger-run.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

const config: KubescribeConfig = parseConfig(`
jobs:
  twice:
    command: [python3, -c, "raise SystemExit(1)"]
    retries: {limit: 2, backoff: 30s}
  never:
    command: [python3, -c, "raise SystemExit(1)"]
  typed:
    command: [python3, -c, "raise SystemExit(1)"]
    params:
      type: object
      properties: {n: {type: integer}}
    retries: {limit: 3, backoff: 1s}
`, '/tmp/kubescribe.yaml');

/** Records dispatches; runs stay queued, as with a server that has not started them yet. */
class RecordingLocal implements Executor {
  readonly name = 'local' as const;
  readonly dispatched: string[] = [];
  async dispatch(runId: string): Promise<void> {
    this.dispatched.push(runId);
  }
  async cancel(): Promise<boolean> {
    return false;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

for (const engine of ENGINES) {
  describe(`retrier (${engine})`, () => {
    let runlog: TestRunLog;
    let db: Db;
    let clock = new Date('2030-01-01T12:00:00Z');
    const now = () => clock;
    const retriers: Retrier[] = [];
    const newRetrier = (executor: Executor, onDb: Db = db, events: RetrierEvent[] = []) => {
      const retrier = new Retrier({ db: onDb, config, executor, now, onEvent: (event) => events.push(event) });
      retriers.push(retrier);
      return retrier;
    };

    /** A run of `job` ended `status` at the clock's time (error_type as given). */
    async function ended(executor: Executor, job: string, status: RunStatus, errorType: string | null = 'ExitCode', params: Record<string, unknown> = {}): Promise<string> {
      const { run } = await triggerRun({ db, config, executor }, { job, params, trigger: 'api', triggered_by: 'test' });
      const runId = run!.run_id;
      if (status === 'cancelled') {
        await transitionRun(db, runId, ['queued'], 'cancelled', { finished_at: clock, error_type: 'Cancelled' }, runEvent('cancelled', 'test'));
        return runId;
      }
      await transitionRun(db, runId, ['queued'], 'running', { started_at: clock }, runEvent('started', 'test'));
      await transitionRun(db, runId, ['running'], status, {
        finished_at: clock, ...(status === 'succeeded' ? {} : { error_type: errorType, exit_code: 1 }),
      }, runEvent(status, 'test'));
      return runId;
    }
    const retriesOf = async (runId: string) => (await listRuns(db, {})).filter((run) => run.retry_of === runId);
    /** Ends a queued retry run as failed at the clock's time (what its runner would record). */
    async function fail(runId: string): Promise<void> {
      await transitionRun(db, runId, ['queued'], 'failed', { finished_at: clock, error_type: 'ExitCode' }, runEvent('failed', 'test'));
    }

    before(async () => {
      runlog = await createTestRunLog(engine);
      db = await openRunLogDb(runlog.location);
    });
    after(async () => {
      for (const retrier of retriers) await retrier.stop();
      await db.close();
      await runlog.cleanup();
    });

    test('failed, timed_out and lost runs are retried after the backoff; each attempt is its own run, up to the limit', async () => {
      clock = new Date('2030-01-01T12:00:00Z');
      const executor = new RecordingLocal();
      const retrier = newRetrier(executor);
      const first = await ended(executor, 'twice', 'failed');
      const pass = await retrier.tick();
      assert.deepEqual(pass.scheduled, [first]);
      const decision = (await getRunRetry(db, first))!;
      assert.equal(decision.state, 'scheduled');
      assert.equal(decision.attempt, 2);
      assert.equal(decision.retry_limit, 2);
      assert.equal(decision.due_at!.toISOString(), '2030-01-01T12:00:30.000Z');
      const scheduled = (await readRunEvents(db, first)).find((event) => event.type === 'retry_scheduled')!;
      assert.equal(scheduled.actor, RETRY_ACTOR);
      assert.deepEqual(scheduled.detail, { attempt: 2, limit: 2, due_at: '2030-01-01T12:00:30.000Z', backoff_ms: 30_000 });

      // Not before its time.
      clock = new Date('2030-01-01T12:00:29Z');
      assert.deepEqual((await retrier.tick()).created, []);
      assert.deepEqual(await retriesOf(first), []);

      clock = new Date('2030-01-01T12:00:30Z');
      assert.deepEqual((await retrier.tick()).created, [first]);
      const [second] = await retriesOf(first);
      assert.ok(second);
      assert.equal(second.trigger, 'retry');
      assert.equal(second.attempt, 2);
      assert.equal(second.triggered_by, RETRY_ACTOR);
      assert.equal(second.idempotency_key, `retry:${first}`);
      assert.deepEqual(executor.dispatched.slice(-1), [second.run_id], 'dispatched through the executor');
      assert.equal((await getRunRetry(db, first))!.retry_run_id, second.run_id);
      const linked = (await readRunEvents(db, first)).filter((event) => event.type === 'retry_created');
      assert.deepEqual(linked.map((event) => event.detail.run_id), [second.run_id]);

      // Attempt 2 times out: attempt 3 after 30 s × 2.
      await transitionRun(db, second.run_id, ['queued'], 'timed_out', { finished_at: clock, error_type: 'Timeout' }, runEvent('timed_out', 'test'));
      await retrier.tick();
      assert.equal((await getRunRetry(db, second.run_id))!.due_at!.toISOString(), '2030-01-01T12:01:30.000Z');
      clock = new Date('2030-01-01T12:01:30Z');
      await retrier.tick();
      const [third] = await retriesOf(second.run_id);
      assert.equal(third!.attempt, 3);

      // Attempt 3 is lost: the limit (2 retries) is reached.
      await transitionRun(db, third!.run_id, ['queued'], 'lost', { finished_at: clock, error_type: 'Lost' }, runEvent('lost', 'test'));
      clock = new Date('2030-01-02T00:00:00Z');
      await retrier.tick();
      const last = (await getRunRetry(db, third!.run_id))!;
      assert.equal(last.state, 'skipped');
      assert.match(last.reason!, /retries exhausted: attempt 3 was the last \(retries.limit 2\)/);
      assert.deepEqual(await retriesOf(third!.run_id), []);
      assert.ok((await readRunEvents(db, third!.run_id)).some((event) => event.type === 'retry_skipped'));
    });

    test('succeeded and cancelled runs are never retried, nor InvalidParams failures, nor jobs without retries', async () => {
      clock = new Date('2030-02-01T12:00:00Z');
      const executor = new RecordingLocal();
      const retrier = newRetrier(executor);
      const succeeded = await ended(executor, 'twice', 'succeeded');
      const cancelled = await ended(executor, 'twice', 'cancelled');
      const invalid = await ended(executor, 'typed', 'failed', 'InvalidParams');
      const plain = await ended(executor, 'never', 'failed');
      await retrier.tick();
      clock = new Date('2030-02-02T12:00:00Z');
      await retrier.tick();
      assert.equal(await getRunRetry(db, succeeded), null, 'no decision row: never a candidate');
      assert.equal(await getRunRetry(db, cancelled), null);
      const invalidDecision = (await getRunRetry(db, invalid))!;
      assert.equal(invalidDecision.state, 'skipped');
      assert.match(invalidDecision.reason!, /InvalidParams would fail again/);
      assert.equal((await getRunRetry(db, plain))!.state, 'skipped');
      for (const runId of [succeeded, cancelled, invalid, plain]) assert.deepEqual(await retriesOf(runId), [], runId);
      // A job without retries leaves no event: its failures are the common case.
      assert.ok(!(await readRunEvents(db, plain)).some((event) => event.type.startsWith('retry_')));
    });

    test('a decision outlives the retrier that made it: stopped during the backoff, another creates the retry when due', async () => {
      clock = new Date('2030-03-01T12:00:00Z');
      const executor = new RecordingLocal();
      const failed = await ended(executor, 'typed', 'failed', 'ExitCode', { n: 7 });
      const before = newRetrier(executor);
      await before.start();
      await before.stop();
      assert.equal((await getRunRetry(db, failed))!.state, 'scheduled');
      // A new server (here: a new retrier, on a new connection where the engine allows two) after the due time.
      clock = new Date('2030-03-01T12:00:05Z');
      const reopened = engine === 'postgres' ? await openRunLogDb(runlog.location) : db;
      try {
        const later = newRetrier(executor, reopened);
        assert.deepEqual((await later.tick()).created, [failed]);
      } finally {
        if (reopened !== db) await reopened.close();
      }
      const [retry] = await retriesOf(failed);
      assert.deepEqual(retry!.params, { n: 7 }, 'the failed run\'s params');
    });

    test('a failure whose decision row the trigger could not write is found by the sweep and retried', async () => {
      clock = new Date('2030-06-01T12:00:00Z');
      const executor = new RecordingLocal();
      const failed = await ended(executor, 'typed', 'failed');
      // As if the runner's role had no INSERT on run_retries: the end committed, the row did not.
      await db.query('DELETE FROM run_retries WHERE run_id = $1', [failed]);
      const retrier = newRetrier(executor);
      assert.deepEqual((await retrier.tick()).scheduled, [failed], 'the first pass sweeps');
      clock = new Date('2030-06-01T12:00:01Z');
      assert.deepEqual((await retrier.tick()).created, [failed]);
    });

    if (engine === 'postgres') {
      test('two retriers on one PostgreSQL (two replicas) create one retry', async () => {
        clock = new Date('2030-04-01T12:00:00Z');
        const one = new RecordingLocal();
        const two = new RecordingLocal();
        const other = await openRunLogDb(runlog.location);
        try {
          const a = newRetrier(one);
          const b = newRetrier(two, other);
          const failures: string[] = [];
          for (let i = 0; i < 5; i++) failures.push(await ended(one, 'twice', 'failed'));
          // Both decide and create at once, many times over.
          clock = new Date('2030-04-01T13:00:00Z');
          for (let round = 0; round < 4; round++) await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
          for (const runId of failures) {
            const retries = await retriesOf(runId);
            assert.equal(retries.length, 1, `one retry of ${runId}`);
            assert.equal((await readRunEvents(db, runId)).filter((event) => event.type === 'retry_scheduled').length, 1);
            assert.equal((await readRunEvents(db, runId)).filter((event) => event.type === 'retry_created').length, 1);
          }
          const dispatched = [...one.dispatched, ...two.dispatched];
          for (const runId of failures) {
            const [retry] = await retriesOf(runId);
            assert.equal(dispatched.filter((id) => id === retry!.run_id).length, 1, 'dispatched once');
          }
        } finally {
          await other.close();
        }
      });
    }

    test('only the server executor\'s runs: a kubernetes server leaves local runs alone', async () => {
      clock = new Date('2030-05-01T12:00:00Z');
      const local = new RecordingLocal();
      const failed = await ended(local, 'twice', 'failed');
      const kube: Executor = { ...local, name: 'kubernetes', dispatch: async () => {}, cancel: async () => false, start: async () => {}, stop: async () => {} };
      await newRetrier(kube).tick();
      assert.equal((await getRunRetry(db, failed))!.state, 'pending');
      await newRetrier(local).tick();
      assert.equal((await getRunRetry(db, failed))!.state, 'scheduled');
      assert.equal((await getRun(db, failed))!.status, 'failed');
    });
  });
}
