// What the runner records beside the outcome, on every engine, with the runner in this process:
// one duration for the final event and `runs show`.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { runDuration } from '../../src/cli/format.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { formatDuration } from '../../src/config/durations.ts';
import { borrowedDb, type Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { runDurationMs } from '../../src/runlog/run-duration.ts';
import { readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
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
      const runId = uuidv7();
      const code = await runCommand({
        command, job: 'facts', runId, params: [], trigger: 'manual', triggeredBy: 'alice@laptop',
        config: parseConfig('jobs: {}\n', 'k.yaml'), home: t.home, openDb: async () => borrowedDb(db),
        quiet: true, processSignals: false, orphanWatchdog: false, stdout: discard(), stderr: discard(), ...over,
      });
      return { runId, code, run: (await getRun(db, runId))!, events: await readRunEvents(db, runId) };
    }

    test("the final event's duration is the run record's finished_at − started_at, as runs show says", async () => {
      const { code, run, events } = await runIt(['sh', '-c', 'sleep 0.2']);
      assert.equal(code, 0);
      const final = events.at(-1)!;
      assert.equal(final.type, 'succeeded');
      const recorded = run.finished_at!.getTime() - run.started_at!.getTime();
      assert.ok(recorded >= 200, `ran ${recorded} ms`);
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
  });
}
