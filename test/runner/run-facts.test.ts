// What the runner records beside the outcome, on every engine, with the runner in this process:
// one duration for the final event and `runs show`, who did each step, and the job of ad-hoc commands.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { runDuration } from '../../src/cli/format.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { formatDuration } from '../../src/config/durations.ts';
import { borrowedDb, type Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { runDurationMs } from '../../src/runlog/run-duration.ts';
import { readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { getRun, insertRun } from '../../src/runlog/sql/runs.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { runEvent } from '../../src/runlog/run-event.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { ADHOC_JOB } from '../../src/runner/invocation.ts';
import { runCommand, type RunnerInput } from '../../src/runner/runner.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

const discard = () => new Writable({ write: (_chunk, _encoding, callback) => callback() });

for (const engine of ENGINES) {
  describe(`runner records (${engine})`, () => {
    let t: TestRunLog;
    let db: Db;
    before(async () => {
      t = await createTestRunLog(engine);
      db = await openRunLogDb(t.location);
    });
    after(async () => {
      await db.close();
      await t.cleanup();
    });

    /** Runs `command` as `kubescribe run` would, in this process; returns the run id and exit code. */
    async function runIt(command: string[], over: Partial<RunnerInput> = {}) {
      const runId = over.runId ?? uuidv7();
      const code = await runCommand({
        command, job: 'facts', runId, params: [], trigger: 'manual', triggeredBy: 'alice@laptop',
        config: parseConfig('jobs: {}\n', 'k.yaml'), home: t.home, openDb: async () => borrowedDb(db),
        quiet: true, processSignals: false, orphanWatchdog: false, stdout: discard(), stderr: discard(), ...over,
      });
      return { runId, code, run: (await getRun(db, runId))!, events: await readRunEvents(db, runId) };
    }

    test("the final event's duration is the run record's finished_at − started_at, as runs show says", async () => {
      const began = Date.now();
      const { code, run, events } = await runIt(['sh', '-c', 'sleep 0.2']);
      const elapsed = Date.now() - began;
      assert.equal(code, 0);
      const final = events.at(-1)!;
      assert.equal(final.type, 'succeeded');
      const recorded = run.finished_at!.getTime() - run.started_at!.getTime();
      // started_at is read once spawn() returns: the shell may already be a few ms (more under load)
      // into its sleep, so the recorded time is not held to 200 ms, only to a real, bounded duration.
      assert.ok(recorded > 100 && recorded <= elapsed, `ran ${recorded} ms of the ${elapsed} ms the run took`);
      assert.equal(final.detail.duration_ms, recorded);
      assert.equal(runDurationMs(run), recorded);
      assert.equal(runDuration(run), formatDuration(recorded));
    });

    test('a command that never started has no duration, in the event or in runs show', async () => {
      const { code, run, events } = await runIt(['/nonexistent/kubescribe-no-such-command']);
      assert.equal(code, 127);
      assert.equal(run.started_at, null);
      assert.equal(events.at(-1)!.detail.duration_ms, null);
      assert.equal(runDurationMs(run), null);
      assert.equal(runDuration(run), '-');
    });

    test('a run by hand: created by who ran it, every later step by the runner where it runs', async () => {
      const { events } = await runIt(['sh', '-c', 'exit 3']);
      const local = `executor:local@${hostname()}`;
      assert.deepEqual(events.map((e) => [e.type, e.actor]), [['created', 'alice@laptop'], ['started', local], ['failed', local]]);
    });

    test('an adopted run keeps its creator; the runner in a pod adopts, starts and finishes it as the pod', async () => {
      const runId = uuidv7();
      await ensureUndeclaredJob(db, 'facts');
      await insertRun(db, {
        run_id: runId, job: 'facts', job_content_hash: null, trigger: 'api', triggered_by: 'token:local-admin', params: {},
        status: 'queued', executor: 'kubernetes', created_at: new Date(),
      }, runEvent('created', 'token:local-admin', { trigger: 'api' }));
      const { code, events } = await runIt(['true'], {
        runId, executor: 'kubernetes', executorRef: { pod: 'facts-0192-abcde', namespace: 'batch' },
      });
      assert.equal(code, 0);
      const pod = 'executor:kubernetes@facts-0192-abcde';
      assert.deepEqual(events.map((e) => [e.type, e.actor]), [['created', 'token:local-admin'], ['adopted', pod], ['started', pod], ['succeeded', pod]]);
    });

    test("a cancel is credited to who asked, the run's end to the runner", async () => {
      const asked = new AbortController();
      asked.abort('token:alice');
      const cancelled = await runIt(['sleep', '30'], { signal: asked.signal, graceMs: 20_000 });
      assert.equal(cancelled.run.status, 'cancelled');
      assert.equal(cancelled.events.find((e) => e.type === 'cancel_requested')?.actor, 'token:alice');
      assert.equal(cancelled.run.error_message, 'cancelled by token:alice: SIGTERM sent to the process');
      assert.equal(cancelled.events.at(-1)?.actor, `executor:local@${hostname()}`);
    });

    test('commands run without a job are recorded under the one ad-hoc job, with their command; --job still names one', async () => {
      const quick = await runIt(['true'], { job: null });
      const direct = await runIt(['sh', '-c', 'echo direct; exit 3'], { job: null });
      assert.deepEqual([quick.code, direct.code], [0, 3]);
      assert.deepEqual([quick.run.job, direct.run.job], [ADHOC_JOB, ADHOC_JOB]);
      assert.deepEqual(direct.run.command, ['sh', '-c', 'echo direct; exit 3']);
      const named = await runIt(['true'], { job: 'named-by-hand' });
      assert.equal(named.run.job, 'named-by-hand');
      const jobs = (await db.query<{ name: string }>('SELECT name FROM jobs ORDER BY name')).map((row) => row.name);
      assert.ok(jobs.includes(ADHOC_JOB) && jobs.includes('named-by-hand'), jobs.join(','));
      assert.ok(!jobs.includes('true') && !jobs.includes('echo-direct-exit-3') && !jobs.includes('sh'), jobs.join(','));
    });

    test('a config that declares a job named adhoc makes a run without --job a usage error, recording nothing', async () => {
      const runId = uuidv7();
      const said: string[] = [];
      const code = await runCommand({
        command: ['true'], job: null, runId, params: [], trigger: 'manual', triggeredBy: 'alice@laptop',
        config: parseConfig('jobs:\n  adhoc:\n    command: ["true"]\n', 'k.yaml'), home: t.home, openDb: async () => borrowedDb(db),
        quiet: true, processSignals: false, stdout: discard(),
        stderr: new Writable({ write: (chunk, _encoding, callback) => (said.push(String(chunk)), callback()) }),
      });
      assert.equal(code, 2);
      assert.match(said.join(''), /--job: no job given, and k\.yaml declares a job named adhoc, the name of ad-hoc runs; give --job/);
      assert.equal(await getRun(db, runId), null);
    });
  });
}
