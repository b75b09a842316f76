// GET /runs/{run_id}/logs of a run whose log retention pruned (or is pruning) answers 410 log_pruned
// saying so, never an empty log that claims to be complete; the run itself is still there.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runsReadRoutes } from '../../src/api/routes/runs-read.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { Retention } from '../../src/runlog/retention.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { insertRun } from '../../src/runlog/sql/runs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { runLogRunSource } from '../../src/cli/runlog-run-source.ts';
import type { CliContext } from '../../src/cli/context.ts';
import { ENGINES } from '../support/runlog-engines.ts';

const DAY = 86_400_000;
const CONFIG = parseConfig('retention:\n  logs: 90d\njobs: {}\n', 'kubescribe.yaml');

for (const engine of ENGINES) {
  describe(`GET /runs/{run_id}/logs after retention (${engine})`, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(engine, { config: CONFIG, routes: [runsReadRoutes] });
    });
    after(() => api?.close());

    async function finishedRun(daysAgo: number): Promise<string> {
      const runId = uuidv7();
      const created = new Date(Date.now() - daysAgo * DAY - 60_000);
      await ensureUndeclaredJob(api.db, 'kept');
      await insertRun(api.db, {
        run_id: runId, job: 'kept', job_content_hash: null, trigger: 'manual', triggered_by: 't', params: {}, status: 'running', executor: 'local', created_at: created,
      }, { event_id: uuidv7(), at: created, type: 'created', actor: 't' });
      await api.db.query(`INSERT INTO run_logs (run_id, seq, stream, at, text) VALUES ($1, 1, 'stdout', now(), 'hello\n'), ($1, 2, 'stderr', now(), 'oops\n')`, [runId]);
      await api.db.query(`UPDATE runs SET status = 'failed', finished_at = $2, exit_code = 1 WHERE run_id = $1`, [runId, new Date(Date.now() - daysAgo * DAY)]);
      return runId;
    }

    test('a pruned log is 410 log_pruned with when and why; a log past the cutoff not pruned yet too; a recent one is served', async () => {
      const pruned = await finishedRun(100);
      await new Retention({ db: api.db, config: CONFIG }).tick();
      const pending = await finishedRun(120);
      const recent = await finishedRun(1);

      for (const query of ['', '?follow=true']) {
        const res = await api.call('GET', `/runs/${pruned}/logs${query}`, { scope: 'read' });
        assert.equal(res.status, 410, query);
        const { error } = await res.json() as { error: { code: string; message: string; details: { run_id: string; log_pruned_at: string | null } } };
        assert.equal(error.code, 'log_pruned');
        assert.match(error.message, new RegExp(`^the log of run ${pruned} was pruned by retention \\(retention\\.logs: 90d\\) at \\d{4}-\\d\\d-\\d\\dT.*; the run itself, its events, error, metrics and outputs are kept$`));
        assert.equal(error.details.run_id, pruned);
        assert.ok(error.details.log_pruned_at && !Number.isNaN(Date.parse(error.details.log_pruned_at)));
      }

      const due = await api.call('GET', `/runs/${pending}/logs`, { scope: 'read' });
      assert.equal(due.status, 410);
      const dueBody = await due.json() as { error: { code: string; message: string; details: { log_pruned_at: null } } };
      assert.equal(dueBody.error.code, 'log_pruned');
      assert.match(dueBody.error.message, /is past retention \(retention\.logs: 90d\) and being pruned/);
      assert.equal(dueBody.error.details.log_pruned_at, null);

      const served = await api.call('GET', `/runs/${recent}/logs`, { scope: 'read' });
      assert.equal(served.status, 200);
      const page = await served.json() as { chunks: { text: string }[]; complete: boolean };
      assert.deepEqual(page.chunks.map((c) => c.text), ['hello\n', 'oops\n']);
      assert.equal(page.complete, true);

      // `kubescribe logs` on the RunLog itself says the same, rather than printing nothing.
      await assert.rejects(runLogRunSource(api.db, {} as CliContext).readLog(pruned, async () => assert.fail('no chunk is left')),
        new RegExp(`^Error: the log of run ${pruned} was pruned by retention \\(retention\\.logs\\) at `));

      // The run record is kept whole.
      const run = await api.call('GET', `/runs/${pruned}`, { scope: 'read' });
      assert.equal(run.status, 200);
      const body = await run.json() as { status: string; exit_code: number };
      assert.equal(body.status, 'failed');
      assert.equal(body.exit_code, 1);
    });
  });
}
