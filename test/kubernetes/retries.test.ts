// Automatic retries on the Kubernetes executor, against the API double and its simulated kubelet: a
// run whose pod is OOM-killed (the watcher records `failed`) is retried once after the job's backoff
// as a new run with its own Job; the limit ends the series. On PostgreSQL, two retriers (two
// replicas) run side by side and still create one retry.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RUN_ID_LABEL } from '../../src/kubernetes/manifests.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { listRuns } from '../../src/runlog/sql/run-queries.ts';
import { getRunRetry } from '../../src/runlog/sql/run-retries.ts';
import { Retrier } from '../../src/runs/retrier.ts';
import { waitFor } from '../support/cli.ts';
import type { PodScenario } from '../support/kube-api-double-kubelet.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { CONFIG_YAML, createHarness, NAMESPACE, type Harness } from './harness.ts';

const BACKOFF_MS = 300;
const YAML = CONFIG_YAML.replace(`    timeout: 10m\n`, `    timeout: 10m\n    retries: {limit: 1, backoff: ${BACKOFF_MS}ms}\n`);

for (const engine of ENGINES) {
  describe(`automatic retries on the Kubernetes executor (${engine})`, () => {
    let h: Harness;
    let other: Db | null = null;
    const retriers: Retrier[] = [];
    const next: PodScenario[] = [];

    before(async () => {
      h = await createHarness(engine, { yaml: YAML, api: { scenario: () => next.shift() ?? { kind: 'hold' } } });
      await waitFor(() => h.executor.watcher!.synced, 30_000, 'the watcher to sync');
      retriers.push(new Retrier({ db: h.db, config: h.config, executor: h.executor, pollMs: 50 }));
      if (engine === 'postgres') {
        // A second replica: its own connection, its own retrier, the same executor kind.
        other = await openRunLogDb(h.runlog.location);
        retriers.push(new Retrier({ db: other, config: h.config, executor: h.executor, pollMs: 50 }));
      }
      for (const retrier of retriers) await retrier.start();
    });
    after(async () => {
      for (const retrier of retriers) await retrier.stop();
      await other?.close();
      await h.close();
    });

    test('an OOM-killed run is retried once after the backoff, as a new run with its own Job; the limit ends the series', async () => {
      next.push({ kind: 'oom' }, { kind: 'oom' });
      const firstId = await h.trigger('report');
      const first = await h.waitForStatus(firstId, 'failed');
      assert.equal(first.error_type, 'OOMKilled');
      const retry = await waitFor(async () => (await listRuns(h.db, { job: 'report' })).find((run) => run.retry_of === firstId), 30_000, 'the retry');
      assert.equal(retry.trigger, 'retry');
      assert.equal(retry.attempt, 2);
      assert.equal(retry.triggered_by, 'retry-policy');
      assert.ok(retry.created_at.getTime() >= first.finished_at!.getTime() + BACKOFF_MS, 'created after the backoff');
      const second = await h.waitForStatus(retry.run_id, 'failed');
      assert.equal(second.error_type, 'OOMKilled');
      // Each attempt had its own Job.
      const jobs = h.api.list('jobs', NAMESPACE).map((job) => job.metadata.labels[RUN_ID_LABEL]);
      assert.ok(jobs.includes(firstId) && jobs.includes(retry.run_id), 'a Job per attempt');
      const decided = await waitFor(async () => {
        const decision = await getRunRetry(h.db, retry.run_id);
        return decision?.state === 'skipped' ? decision : null;
      }, 30_000, 'attempt 2 to be decided');
      assert.match(decided.reason!, /retries exhausted/);
      assert.equal((await getRunRetry(h.db, firstId))!.retry_run_id, retry.run_id);
      // One retry, one retry_created event, whatever the number of replicas.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal((await listRuns(h.db, { job: 'report' })).length, 2);
      assert.equal((await h.events(firstId)).filter((event) => event.type === 'retry_created').length, 1);
      assert.equal(h.api.list('jobs', NAMESPACE).filter((job) => job.metadata.labels[RUN_ID_LABEL] === retry.run_id).length, 1);
    });
  });
}
