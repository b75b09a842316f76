// Trigger → Job → runner → RunLog in one piece: the API double's kubelet runs the Job's container
// command — the real `kubescribe run` (bin/kubescribe.js) with the pod's env — as the pod's process,
// so the runner adopts the queued run the trigger wrote and records its outcome and log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runJobName } from '../../src/kubernetes/manifests.ts';
import { readLogChunks, readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { listRuns } from '../../src/runlog/sql/run-queries.ts';
import { cancelRun } from '../../src/runs/cancel-run.ts';
import { REPO_ROOT, waitFor } from '../support/cli.ts';
import type { PodScenario } from '../support/kube-api-double-kubelet.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { createHarness, NAMESPACE, type Harness } from './harness.ts';

const emit = (...actions: string[]) => JSON.stringify(['python3', join(REPO_ROOT, 'test/fixtures/emit.py'), ...actions]);
const YAML = `
executor: kubernetes
kubernetes:
  namespace: ${NAMESPACE}
  image: ghcr.io/example/kubescribe:0.1.0
  # These pods' runners write straight in the RunLog (DATABASE_URL stands in for the Secret below).
  runner_runlog: direct
jobs:
  hello:
    command: ${emit('out:hello from the pod', 'env:KUBESCRIBE_JOB', 'metric:rows=3')}
    params:
      type: object
      properties:
        day: {type: string, default: "2026-11-26"}
  sleepy:
    command: ${emit('out:ready', 'sleep:30')}
    grace_period: 5s
  tick:
    command: ${emit('out:tick', 'env:KUBESCRIBE_TRIGGER')}
    schedule: "*/5 * * * *"
`;

for (const engine of ENGINES) {
  describe(`Kubernetes end to end (${engine})`, () => {
    let h: Harness;
    let release: () => void = () => {};
    const scenario = (): PodScenario => ({
      kind: 'process',
      cwd: REPO_ROOT,
      // The pod's own env comes from the Job; these stand in for the Secret and ConfigMap it mounts.
      env: { ...h.runlog.env, KUBESCRIBE_CONFIG: h.config.file! },
      release: new Promise<void>((resolve) => (release = resolve)),
    });

    before(async () => {
      // PGlite is held by one process at a time: the test lets the pod's runner have it (see below).
      h = await createHarness(engine, { yaml: YAML, api: { scenario: () => scenario(), stepMs: 10 }, executor: { watch: engine === 'postgres' } });
      writeFileSync(h.config.file!, YAML);
    });
    after(async () => {
      await h.close();
    });

    test('a triggered run is created as a Job whose pod runs the real runner, which adopts the run and records it', async () => {
      const runId = await h.trigger('hello', { day: '2026-11-25' });
      const jobName = runJobName('hello', runId);
      assert.ok(h.api.get('jobs', NAMESPACE, jobName), 'the Job was created');
      if (engine === 'pglite') await h.executor.stop();
      // Embedded PGlite opens in one process only: the test closes it while the pod's runner works.
      const reopen = engine === 'pglite' ? await h.suspendDb() : null;
      release();
      const pod = await waitFor(() => {
        const found = h.api.list('pods', NAMESPACE).find((p) => p.metadata.labels['job-name'] === jobName);
        return found && ['Succeeded', 'Failed'].includes(found.status.phase) ? found : null;
      }, 120_000, 'the pod to end');
      assert.equal(pod.status.phase, 'Succeeded', h.api.kubelet.logOf(pod.metadata.name));
      assert.match(h.api.kubelet.logOf(pod.metadata.name), /hello from the pod/);
      await reopen?.();
      const run = await waitFor(async () => {
        const current = await getRun(h.db, runId);
        return current?.status === 'succeeded' ? current : null;
      }, 120_000, 'the run to be succeeded');
      assert.equal(run.trigger, 'api');
      assert.equal(run.executor, 'kubernetes');
      assert.deepEqual(run.params, { day: '2026-11-25' });
      assert.deepEqual(run.metrics, { rows: 3 });
      assert.equal(run.exit_code, 0);
      const log = (await readLogChunks(h.db, runId)).map((chunk) => chunk.text).join('');
      assert.match(log, /hello from the pod/);
      assert.match(log, /KUBESCRIBE_JOB=hello/);
      const events = (await readRunEvents(h.db, runId)).map((event) => event.type);
      assert.deepEqual(events.slice(0, 2), ['created', 'dispatched']);
      assert.ok(events.includes('adopted') && events.includes('succeeded'), events.join(' '));
      if (engine === 'postgres') {
        // The watcher saw the pod too: where the run ran, and the image digest.
        await waitFor(async () => (await getRun(h.db, runId))?.executor_ref.image_id, 120_000, 'the image digest');
      }
    });

    test('a Job its CronJob started: the runner creates a schedule run linked to its slot, with the Job and pod recorded', async () => {
      if (engine === 'pglite') await h.executor.stop().catch(() => {});
      const cron = h.api.get('cronjobs', NAMESPACE, 'tick');
      assert.ok(cron, 'the executor applied the CronJob at start');
      const slot = new Date('2026-11-26T10:05:00Z');
      const job = h.api.kubelet.fireCronJob(NAMESPACE, 'tick', slot);
      const reopen = engine === 'pglite' ? await h.suspendDb() : null;
      release();
      const pod = await waitFor(() => {
        const found = h.api.list('pods', NAMESPACE).find((p) => p.metadata.labels['job-name'] === job.metadata.name);
        return found && ['Succeeded', 'Failed'].includes(found.status.phase) ? found : null;
      }, 120_000, 'the pod to end');
      assert.equal(pod.status.phase, 'Succeeded', h.api.kubelet.logOf(pod.metadata.name));
      await reopen?.();
      const [run] = await listRuns(h.db, { job: 'tick' });
      assert.ok(run, 'the runner recorded a run');
      assert.equal(run.status, 'succeeded');
      assert.equal(run.trigger, 'schedule');
      assert.equal(run.triggered_by, 'cronjob/tick');
      assert.equal(run.executor, 'kubernetes');
      const created = (await readRunEvents(h.db, run.run_id)).find((e) => e.type === 'created');
      assert.equal(created?.detail.scheduled_for, slot.toISOString());
      assert.equal(run.executor_ref.job, job.metadata.name);
      assert.equal(run.executor_ref.pod, pod.metadata.name);
      assert.equal(run.executor_ref.namespace, NAMESPACE);
      const [slotRow] = await h.db.query<{ state: string; run_id: string }>(
        'SELECT state, run_id::text AS run_id FROM schedule_slots WHERE job = $1 AND scheduled_for = $2', ['tick', slot]);
      assert.deepEqual(slotRow, { state: 'started', run_id: run.run_id });
    });

    if (engine === 'postgres') {
      test('cancel deletes the Job; the pod\'s runner gets SIGTERM and records cancelled', async () => {
        const runId = await h.trigger('sleepy');
        const jobName = runJobName('sleepy', runId);
        release();
        const pod = await waitFor(() => h.api.list('pods', NAMESPACE).find((p) => p.metadata.labels['job-name'] === jobName), 120_000, 'the pod');
        await waitFor(() => /ready/.test(h.api.kubelet.logOf(pod.metadata.name)), 120_000, 'the job to print ready');
        await waitFor(async () => (await getRun(h.db, runId))?.status === 'running', 120_000, 'the run to be running');
        const outcome = await cancelRun({ db: h.db, config: h.config, executor: h.executor }, runId, 'alice');
        assert.equal(outcome.status, 'cancelling');
        const run = await waitFor(async () => {
          const current = await getRun(h.db, runId);
          return current?.status === 'cancelled' ? current : null;
        }, 120_000, 'the run to be cancelled');
        assert.equal(run.error_type, 'Cancelled');
        // The runner's own record: it saw the SIGTERM Kubernetes sent when the Job was deleted.
        assert.match(run.error_message!, /SIGTERM/);
        assert.ok((await readRunEvents(h.db, runId)).some((event) => event.type === 'cancel_requested' && event.actor === 'alice'));
      });
    }
  });
}
