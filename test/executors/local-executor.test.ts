// The local executor on its own: real in-process runners supervising real child processes, queueing,
// automatic retries, stopping, and what a restarted server does with the runs a previous one left.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type KubescribeConfig } from '../../src/config/job-config.ts';
import { executorActor } from '../../src/executors/actor.ts';
import type { Executor } from '../../src/executors/executor.ts';
import { LocalExecutor } from '../../src/executors/local-executor.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { readLogChunks, readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { getRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import { listRuns } from '../../src/runlog/sql/run-queries.ts';
import type { RunRecord, RunStatus } from '../../src/runlog/types.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { triggerRun } from '../../src/runs/trigger-run.ts';
import { Retrier } from '../../src/runs/retrier.ts';
import { getRunRetry } from '../../src/runlog/sql/run-retries.ts';
import { REPO_ROOT, waitFor as pollUntil } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';
import { spoolFileOf } from '../../src/runner/recorder.ts';
import { alternatingStretches, logStretches } from '../support/log-stretches.ts';

const TERMINAL = new Set<RunStatus>(['succeeded', 'failed', 'cancelled', 'timed_out', 'lost']);

/** A local executor of a server that died before it dispatched anything: its runs stay queued. */
const deadServer: Executor = {
  name: 'local',
  dispatch: async () => {},
  cancel: async () => false,
  start: async () => {},
  stop: async () => {},
};

const waitFor = <T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000) =>
  pollUntil(probe, timeoutMs, what) as Promise<T>;

// The same script as the standalone runner's order test (test/runner/runner-cases.ts): bursts of 100 KB
// on stderr and lines on stdout, each written once the runner has read the one before (emit.py's
// drained, at most 1 s). Two pipes carry no common clock: 100 ms sleeps held at load 9 on two cores,
// not at load 20-25, where a process waits that long for a CPU now and then.
const ORDER_ROUNDS = 4;
const ALTERNATING = Array.from({ length: ORDER_ROUNDS }, (_, i) => ['err-bytes:100000', 'drained:1', `out:line ${i}`, 'drained:1']).flat();

function configFor(scratch: string): KubescribeConfig {
  const emit = (...actions: string[]) => JSON.stringify(['python3', 'test/fixtures/emit.py', ...actions]);
  return parseConfig(`
jobs:
  quick:
    command: ${emit('out:hello', 'sleep:0.3')}
  flaky:
    command: ${emit('err:boom', 'exit:3')}
    retries: {limit: 1, backoff: 400ms}
  drainable:
    command: ${emit('out:ready', 'sleep:1', 'out:done')}
  slow:
    command: ${emit(`trap:${join(scratch, 'slow.trap')}`, 'out:ready', 'sleep:30')}
  alternating:
    command: ${emit(...ALTERNATING)}
`, join(scratch, 'kubescribe.yaml'));
}

for (const engine of ENGINES) {
  describe(`local executor (${engine})`, () => {
    let runlog: TestRunLog;
    let db: Db;
    let scratch: string;
    let config: KubescribeConfig;
    const executors: LocalExecutor[] = [];
    const newExecutor = (options: { maxConcurrentRuns?: number; sweepMs?: number } = {}) => {
      const executor = new LocalExecutor({ db, config, home: runlog.home, cwd: REPO_ROOT, pollMs: 100, ...options });
      executors.push(executor);
      return executor;
    };
    const trigger = async (executor: Executor, job: string) => {
      const { run } = await triggerRun({ db, config, executor }, { job, trigger: 'api', triggered_by: 'test' });
      return run!.run_id;
    };
    const run = async (runId: string): Promise<RunRecord> => (await getRun(db, runId))!;
    const ended = (runId: string) => waitFor(`run ${runId} to end`, async () => {
      const current = await run(runId);
      return TERMINAL.has(current.status) && current;
    });
    const logged = (runId: string, text: string) =>
      waitFor(`"${text}" in the log of ${runId}`, async () => (await readLogChunks(db, runId)).some((chunk) => chunk.text.includes(text)));

    before(async () => {
      runlog = await createTestRunLog(engine);
      db = await openRunLogDb(runlog.location);
      scratch = mkdtempSync(join(tmpdir(), 'ks-local-executor-'));
      config = configFor(scratch);
    });
    after(async () => {
      for (const executor of executors) await executor.stop();
      await db.close();
      await runlog.cleanup();
      rmSync(scratch, { recursive: true, force: true });
    });

    test('a run it starts stores stdout and stderr in the order they were written', async () => {
      const executor = newExecutor();
      await executor.start();
      const runId = await trigger(executor, 'alternating');
      assert.equal((await ended(runId)).status, 'succeeded');
      // Stopped now, not in after(): a started executor's sweep would take the next tests' queued runs.
      await executor.stop({ drain: true });
      // Consecutive chunks of one stream are one stretch of output: the stretches must alternate as written.
      assert.deepEqual(logStretches(await readLogChunks(db, runId)), alternatingStretches(ORDER_ROUNDS));
    });

    test('runs beyond max_concurrent_runs wait as queued and start one after another, in order', async () => {
      const executor = newExecutor({ maxConcurrentRuns: 1 });
      await executor.start();
      const ids = [await trigger(executor, 'quick'), await trigger(executor, 'quick'), await trigger(executor, 'quick')];
      assert.deepEqual([(await run(ids[1]!)).status, (await run(ids[2]!)).status], ['queued', 'queued']);
      const runs = [];
      for (const id of ids) runs.push(await ended(id));
      for (const [index, done] of runs.entries()) {
        assert.equal(done.status, 'succeeded', done.error_message ?? '');
        const next = runs[index + 1];
        if (next) assert.ok(done.finished_at! <= next.started_at!, `run ${index + 1} finished before run ${index + 2} started`);
      }
      await executor.stop({ drain: true });
    });

    test("who did what: the run is created by whoever triggered it, adopted, started and finished by the executor", async () => {
      const executor = newExecutor();
      await executor.start();
      const { run: queued } = await triggerRun({ db, config, executor }, { job: 'quick', trigger: 'api', triggered_by: 'token:local-admin' });
      const done = await ended(queued!.run_id);
      assert.equal(done.status, 'succeeded', done.error_message ?? '');
      assert.equal(done.triggered_by, 'token:local-admin');
      const actors = (await readRunEvents(db, done.run_id)).map((event) => [event.type, event.actor]);
      const local = `executor:local@${hostname()}`;
      assert.deepEqual(actors, [['created', 'token:local-admin'], ['adopted', local], ['started', local], ['succeeded', local]]);
      await executor.stop({ drain: true });
    });

    test('a failed run is retried by the job policy (the server\'s retrier): attempt 2 is a new run with trigger retry, after the backoff', async () => {
      const executor = newExecutor();
      await executor.start();
      const retrier = new Retrier({ db, config, executor, pollMs: 50 });
      await retrier.start();
      try {
        const first = await ended(await trigger(executor, 'flaky'));
        assert.equal(first.status, 'failed');
        const retry = await waitFor('the retry', async () => (await listRuns(db, { job: 'flaky' })).find((r) => r.retry_of === first.run_id));
        const second = await ended(retry.run_id);
        assert.equal(second.trigger, 'retry');
        assert.equal(second.attempt, 2);
        assert.equal(second.triggered_by, 'retry-policy');
        assert.equal(second.status, 'failed');
        // Decided at once (retry_scheduled with its due time), created when due, after the 400 ms backoff.
        const scheduled = (await readRunEvents(db, first.run_id)).find((e) => e.type === 'retry_scheduled')!;
        assert.equal(new Date(String(scheduled.detail.due_at)).getTime(), first.finished_at!.getTime() + 400);
        assert.ok(second.created_at.getTime() - first.finished_at!.getTime() >= 390, 'the retry waited for the backoff');
        const created = (await readRunEvents(db, second.run_id)).find((e) => e.type === 'created')!;
        assert.match(String(created.detail.reason), /automatic retry 1 of 1/);
        // The limit is 1: attempt 2 failing ends the series.
        await waitFor('the last attempt decided', async () => (await getRunRetry(db, second.run_id))?.state === 'skipped');
        assert.match((await getRunRetry(db, second.run_id))!.reason!, /retries exhausted/);
        await executor.stop({ drain: true });
        assert.equal((await listRuns(db, { job: 'flaky' })).length, 2);
      } finally {
        await retrier.stop();
      }
    });

    test('stop with drain waits for a running run; stop without drain cancels it, and queued runs wait for the next start', async () => {
      const draining = newExecutor();
      await draining.start();
      const drained = await trigger(draining, 'drainable');
      await logged(drained, 'ready');
      await draining.stop({ drain: true });
      assert.equal((await run(drained)).status, 'succeeded');

      const stopping = newExecutor({ maxConcurrentRuns: 1 });
      await stopping.start();
      const slow = await trigger(stopping, 'slow');
      const waiting = await trigger(stopping, 'quick');
      await logged(slow, 'ready');
      await stopping.stop();
      const cancelled = await run(slow);
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(readFileSync(join(scratch, 'slow.trap'), 'utf8'), 'SIGTERM', 'the child got SIGTERM');
      const requested = (await readRunEvents(db, slow)).find((e) => e.type === 'cancel_requested');
      assert.equal(requested?.actor, 'server-shutdown');
      assert.equal((await run(waiting)).status, 'queued');
      // Nothing is dispatched while stopped: the run stays queued for the next start.
      const later = await trigger(stopping, 'quick');
      assert.equal((await run(later)).status, 'queued');

      const restarted = newExecutor();
      await restarted.start();
      assert.equal((await ended(waiting)).status, 'succeeded');
      assert.equal((await ended(later)).status, 'succeeded');
      await restarted.stop({ drain: true });
    });

    test('a run whose runner ended while the RunLog was away is neither reconciled nor reaped as lost: the sweep writes its spooled result', async () => {
      // What an outage leaves: the run is `running` with a silent heartbeat, its runner has exited, and
      // its final status waits in the spool. Marking it lost first would lose its result for good.
      const runId = await trigger(deadServer, 'quick');
      const long = new Date(Date.now() - 3_600_000);
      await transitionRun(db, runId, ['queued'], 'running', { started_at: long, heartbeat_at: long }, { event_id: uuidv7(), at: long, type: 'started', actor: 'test' });
      const finishedAt = new Date(Date.now() - 60_000).toISOString();
      const spool = spoolFileOf(runlog.home, runId);
      mkdirSync(dirname(spool), { recursive: true });
      writeFileSync(spool, JSON.stringify({
        op: 'transition', run_id: runId, from: ['running'], to: 'succeeded', patch: { finished_at: finishedAt, exit_code: 0 },
        event: { event_id: uuidv7(), at: finishedAt, type: 'succeeded', actor: 'runner' },
      }) + '\n');
      // Swept every 1 s here, not the default 5 s: what is tested is that the sweep writes it and nothing
      // before it marks the run lost, not how often it looks; 1 s leaves the two checks after start()
      // time to see the run still `running` on a loaded machine.
      const executor = newExecutor({ sweepMs: 1000 });
      const startedAt = Date.now();
      await executor.start();
      assert.equal((await run(runId)).status, 'running', 'reconcile left the spooled run alone');
      assert.equal(executor.supervises(runId), true, 'the reaper is told the run is accounted for');
      const done = await ended(runId);
      // Written by a 1 s sweep, not the 5 s default one: the executor's sweepMs is the one it uses.
      assert.ok(Date.now() - startedAt < 4_500, `the spooled result written ${Date.now() - startedAt} ms after the start`);
      assert.equal(done.status, 'succeeded');
      assert.equal(done.exit_code, 0);
      assert.equal(existsSync(spool), false, 'the spool file was flushed and removed');
      assert.equal(executor.supervises(runId), false);
      await executor.stop();
    });

    test('restart: queued runs left behind run; live runs whose process is gone become lost', async () => {
      const queued = await trigger(deadServer, 'quick');
      const adopt = async (runId: string, ref: Record<string, unknown>, status: 'starting' | 'running', heartbeat: Date) => {
        const ev = (type: string) => ({ event_id: uuidv7(), at: new Date(), type, actor: 'test', detail: {} });
        await transitionRun(db, runId, ['queued'], 'starting', { executor_ref: { host: ref.host } }, ev('adopted'));
        if (status === 'running') {
          await transitionRun(db, runId, ['starting'], 'running', { started_at: heartbeat, heartbeat_at: heartbeat, executor_ref: ref }, ev('started'));
        }
      };
      const deadPid = spawnSync('true').pid!;
      const deadProcess = await trigger(deadServer, 'quick');
      await adopt(deadProcess, { host: hostname(), pid: deadPid }, 'running', new Date());
      const neverStarted = await trigger(deadServer, 'quick');
      await adopt(neverStarted, { host: hostname() }, 'starting', new Date());
      const elsewhere = await trigger(deadServer, 'quick');
      await adopt(elsewhere, { host: 'another-host', pid: 4242 }, 'running', new Date(Date.now() - 10 * 60_000));

      const executor = newExecutor();
      await executor.start();
      const lost = await run(deadProcess);
      assert.equal(lost.status, 'lost');
      assert.equal(lost.error_type, 'Lost');
      assert.equal(lost.error_message, 'the process ended while no runner supervised it; exit code unknown');
      assert.ok(lost.finished_at);
      assert.equal((await run(neverStarted)).status, 'lost');
      assert.match((await run(elsewhere)).error_message ?? '', /another-host/);
      const lostEvent = (await readRunEvents(db, deadProcess)).at(-1)!;
      assert.deepEqual([lostEvent.type, lostEvent.from_status, lostEvent.to_status, lostEvent.actor], ['lost', 'running', 'lost', executorActor('local')]);
      assert.equal((await ended(queued)).status, 'succeeded');
      await executor.stop({ drain: true });
    });

    test('restart: a process that still lives is re-adopted and heartbeated, then lost when it ends; or cancelled', async () => {
      const startOrphan = (...actions: string[]) => {
        // What a dead server leaves: a child leading its own process group, no runner reading it.
        const child = spawn('python3', ['test/fixtures/emit.py', ...actions], { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
        const ready = new Promise<void>((resolve) => child.stdout.on('data', (data: Buffer) => data.includes('ready') && resolve()));
        return { child, ready };
      };
      const orphanRun = async (pid: number) => {
        const runId = await trigger(deadServer, 'quick');
        const ev = (type: string) => ({ event_id: uuidv7(), at: new Date(), type, actor: 'test', detail: {} });
        await transitionRun(db, runId, ['queued'], 'starting', { executor_ref: { host: hostname() } }, ev('adopted'));
        const old = new Date(Date.now() - 60_000);
        await transitionRun(db, runId, ['starting'], 'running', { started_at: old, heartbeat_at: old, executor_ref: { host: hostname(), pid } }, ev('started'));
        return runId;
      };
      // It ends when the test says so, after the re-adoption was checked: with a sleep, a loaded
      // machine could see it end before the executor started, and there was nothing to re-adopt.
      const endNow = join(scratch, 'orphan.end');
      const ending = startOrphan('out:ready', `wait-file:${endNow}`);
      const trap = join(scratch, 'orphan.trap');
      const cancelled = startOrphan(`trap:${trap}`, 'out:ready', 'sleep:30');
      await Promise.all([ending.ready, cancelled.ready]);
      const endingRun = await orphanRun(ending.child.pid!);
      const cancelledRun = await orphanRun(cancelled.child.pid!);

      const executor = newExecutor();
      const before = Date.now();
      await executor.start();
      for (const runId of [endingRun, cancelledRun]) {
        const current = await run(runId);
        assert.equal(current.status, 'running');
        assert.ok(current.heartbeat_at!.getTime() >= before - 5, 'heartbeat refreshed on re-adoption');
        const reattached = (await readRunEvents(db, runId)).find((e) => e.type === 'reattached');
        assert.equal(reattached?.detail.pid, runId === endingRun ? ending.child.pid : cancelled.child.pid);
      }
      assert.deepEqual(executor.liveRunIds.sort(), [endingRun, cancelledRun].sort());

      assert.equal(await executor.cancel(cancelledRun, 'alice'), true);
      const stopped = await ended(cancelledRun);
      assert.equal(stopped.status, 'cancelled');
      assert.equal(readFileSync(trap, 'utf8'), 'SIGTERM');
      assert.ok((await readRunEvents(db, cancelledRun)).some((e) => e.type === 'cancelled' && e.actor === 'alice'));

      writeFileSync(endNow, '');
      const lost = await ended(endingRun);
      assert.equal(lost.status, 'lost');
      assert.equal(lost.error_message, 'the process ended while no runner supervised it; exit code unknown');
      await executor.stop({ drain: true });
    });
  });
}
