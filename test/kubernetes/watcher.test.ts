// The watcher and the reconciler against the API double's simulated kubelet: every fate a runner
// cannot record itself reaches the RunLog with a clear error, the runner's own record wins, and a
// dropped watch or a 410 Gone loses no transition.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runJobName } from '../../src/kubernetes/manifests.ts';
import { getRun, insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import { cancelRun } from '../../src/runs/cancel-run.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { waitFor } from '../support/cli.ts';
import { imageDigestOf, type PodScenario } from '../support/kube-api-double-kubelet.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { createHarness, NAMESPACE, type Harness } from './harness.ts';

const IMAGE = 'ghcr.io/example/kubescribe:0.1.0';

for (const engine of ENGINES) {
  describe(`Kubernetes watcher and reconciler (${engine})`, () => {
    let h: Harness;
    // The scenario of the next Job the double sees (Jobs are created one at a time here).
    const next: PodScenario[] = [];
    const runWith = async (scenario: PodScenario) => {
      next.push(scenario);
      return h.trigger();
    };
    const podOf = (runId: string) => h.api.list('pods', NAMESPACE).find((pod) => pod.metadata.labels['job-name'] === runJobName('report', runId));
    const runningPod = (runId: string) =>
      waitFor(() => {
        const pod = podOf(runId);
        return pod?.status.phase === 'Running' ? pod : null;
      }, 5000, 'the pod to run');
    const event = (type: string) => ({ event_id: uuidv7(), at: new Date(), type, actor: 'runner' });

    before(async () => {
      h = await createHarness(engine, { api: { scenario: () => next.shift() ?? { kind: 'hold' } } });
      await waitFor(() => h.executor.watcher!.synced, 30_000, 'the watcher to sync');
    });
    after(async () => {
      await h.close();
    });

    test('ImagePullBackOff fails the run at once, naming the image, and deletes the Job', async () => {
      const runId = await runWith({ kind: 'image-pull' });
      const run = await h.waitForStatus(runId, 'failed');
      assert.equal(run.error_type, 'ImagePull');
      assert.match(run.error_message!, new RegExp(`the image ${IMAGE.replace(/[.]/g, '\\.')} could not be pulled \\((ErrImagePull|ImagePullBackOff)`));
      await waitFor(() => h.api.get('jobs', NAMESPACE, runJobName('report', runId)) === undefined, 5000, 'the Job to be deleted');
      assert.ok(h.api.deletions.some((d) => d.name === runJobName('report', runId) && d.propagationPolicy === 'Background'));
    });

    test('an unschedulable pod fails the run once the start timeout passes, with the scheduler\'s reason', async () => {
      const runId = await runWith({ kind: 'unschedulable' });
      const started = Date.now();
      const run = await h.waitForStatus(runId, 'failed');
      assert.ok(Date.now() - started >= 1000, 'not before the 1.5 s start timeout');
      assert.equal(run.error_type, 'Unschedulable');
      assert.match(run.error_message!, /could not be scheduled within the start timeout \(2 s\): 0\/3 nodes are available: 3 Insufficient memory/);
    });

    test('OOMKilled fails the run with exit code 137, and the pod, Job and image digest are recorded', async () => {
      const runId = await runWith({ kind: 'oom' });
      const run = await h.waitForStatus(runId, 'failed');
      assert.equal(run.error_type, 'OOMKilled');
      assert.equal(run.exit_code, 137);
      assert.match(run.error_message!, /ran out of memory/);
      assert.equal(run.executor_ref.image_id, imageDigestOf(IMAGE));
      assert.equal(run.executor_ref.job, runJobName('report', runId));
      assert.match(String(run.executor_ref.pod), new RegExp(`^${runJobName('report', runId)}-`));
      assert.equal(run.image, IMAGE);
    });

    test('an evicted pod makes the run lost, with the node\'s message', async () => {
      const runId = await runWith({ kind: 'evicted' });
      const run = await h.waitForStatus(runId, 'lost');
      assert.equal(run.error_type, 'Evicted');
      assert.match(run.error_message!, /evicted by the node: The node was low on resource: memory/);
    });

    test('DeadlineExceeded makes the run timed_out', async () => {
      const runId = await runWith({ kind: 'deadline' });
      const run = await h.waitForStatus(runId, 'timed_out');
      assert.equal(run.error_type, 'DeadlineExceeded');
      assert.match(run.error_message!, /activeDeadlineSeconds \(\d+ s\)/);
    });

    test('a pod deleted under a running run makes it lost', async () => {
      const runId = await runWith({ kind: 'hold' });
      const pod = await runningPod(runId);
      h.api.kubelet.deletePod(NAMESPACE, pod.metadata.name);
      const run = await h.waitForStatus(runId, 'lost');
      assert.equal(run.error_type, 'PodDeleted');
      assert.match(run.error_message!, /was deleted before the runner recorded an outcome/);
    });

    test('where the runner recorded an outcome, its record wins over what the pod says afterwards', async () => {
      const runId = await runWith({ kind: 'hold' });
      const pod = await runningPod(runId);
      await transitionRun(h.db, runId, ['queued'], 'running', {}, event('started'));
      await transitionRun(h.db, runId, ['running'], 'succeeded', { finished_at: new Date(), exit_code: 0 }, event('succeeded'));
      h.api.kubelet.finishPod(NAMESPACE, pod.metadata.name, 137);
      // Fates are written in the order their pods ended: once a later run's fate is in, this one's was decided.
      const sentinel = await runWith({ kind: 'evicted' });
      await h.waitForStatus(sentinel, 'lost');
      const run = (await getRun(h.db, runId))!;
      assert.equal(run.status, 'succeeded');
      assert.equal(run.error_type, null);
      assert.ok(!(await h.events(runId)).some((e) => e.actor === 'kubernetes-watcher'));
    });

    test('a watch dropped mid-run resumes from its resourceVersion: the transition made meanwhile is not missed', async () => {
      const runId = await runWith({ kind: 'hold' });
      const pod = await runningPod(runId);
      const reconnects = h.executor.watcher!.stats.reconnects;
      const watches = h.api.count('watch', 'pods');
      h.api.dropWatches();
      h.api.kubelet.finishPod(NAMESPACE, pod.metadata.name, 3);
      const run = await h.waitForStatus(runId, 'lost');
      assert.match(run.error_message!, /ended \(Failed, exit code 3, Error\) but its runner recorded no outcome/);
      assert.ok(h.executor.watcher!.stats.reconnects > reconnects);
      const resumed = h.api.requests.filter((r) => r.verb === 'watch' && r.resource === 'pods').slice(watches);
      assert.ok(resumed.length > 0 && resumed.every((r) => Number(r.query.get('resourceVersion')) > 0), 'resumed from a resourceVersion');
    });

    test('410 Gone after a dropped watch makes the watcher list again, and the transition is still seen', async () => {
      const runId = await runWith({ kind: 'hold' });
      const pod = await runningPod(runId);
      const { expired, lists } = h.executor.watcher!.stats;
      h.api.dropWatches();
      h.api.kubelet.finishPod(NAMESPACE, pod.metadata.name, 4);
      h.api.compact();
      const run = await h.waitForStatus(runId, 'lost');
      assert.match(run.error_message!, /exit code 4/);
      assert.ok(h.executor.watcher!.stats.expired > expired, 'a 410 was received');
      assert.ok(h.executor.watcher!.stats.lists > lists, 'and answered with a new list');
    });

    test('a failing watch reconnects after the executor\'s watchReconnect pause: doubled per failure in a row, at most its maxMs', async () => {
      // Six answers of 500 in a row: the harness's 20 ms doubled, at most 200 ms, pauses ~0.9 s in all
      // before the seventh watch; the default (100 ms doubled, at most 10 s) would pause 12.6 s.
      const watches = h.api.count('watch', 'pods');
      h.api.inject({ verb: 'watch', resource: 'pods', kind: 'status', code: 500, times: 6 });
      const dropped = Date.now();
      h.api.dropWatches();
      await waitFor(() => h.api.count('watch', 'pods') >= watches + 7, 30_000, 'six failed watches and a seventh');
      assert.ok(Date.now() - dropped < 6_000, `reconnected ${Date.now() - dropped} ms after the drop, six failures later`);
    });

    test('a CronJob\'s Job (no run-id label) is matched to its run by pod; cancel deletes that Job and the run ends cancelled', async () => {
      next.push({ kind: 'hold' });
      const job = h.api.kubelet.fireCronJob(NAMESPACE, 'nightly', new Date('2026-11-26T02:00:00Z'));
      const pod = await waitFor(() => h.api.list('pods', NAMESPACE).find((p) => p.metadata.labels['job-name'] === job.metadata.name && p.status.phase === 'Running'), 5000, 'the pod');
      // What the pod's runner writes for a scheduled run it creates.
      const runId = uuidv7();
      await insertRun(h.db, {
        run_id: runId, job: 'nightly', job_content_hash: null, trigger: 'schedule', triggered_by: 'cronjob/nightly', params: {},
        status: 'running', executor: 'kubernetes', executor_ref: { namespace: NAMESPACE, job: job.metadata.name, pod: pod.metadata.name, host: pod.metadata.name },
        created_at: new Date(),
      }, event('created'));
      const outcome = await cancelRun({ db: h.db, config: h.config, executor: h.executor }, runId, 'dave');
      assert.equal(outcome.status, 'cancelling');
      assert.ok(h.api.deletions.some((d) => d.resource === 'jobs' && d.name === job.metadata.name && d.propagationPolicy === 'Background'));
      const run = await h.waitForStatus(runId, 'cancelled');
      assert.match(run.error_message!, /cancelled by dave: its Job was deleted/);
      assert.equal(run.executor_ref.image_id, imageDigestOf(IMAGE));
    });

    test('the reconciler records a labelled Job whose run the RunLog does not know: live as queued, finished as lost', async () => {
      const live = uuidv7();
      const done = uuidv7();
      next.push({ kind: 'hold' });
      await h.client.createJob(h.executor.manifestFor('report', live, {}));
      next.push({ kind: 'succeed' });
      await h.client.createJob(h.executor.manifestFor('report', done, {}));
      await waitFor(() => h.api.get('jobs', NAMESPACE, runJobName('report', done))?.status.conditions?.length, 5000, 'the Job to complete');
      const result = await h.executor.reconciler.pass();
      assert.ok(result.ran);
      assert.deepEqual([...result.recorded].sort(), [live, done].sort());
      const liveRun = (await getRun(h.db, live))!;
      assert.equal(liveRun.status, 'queued');
      assert.equal(liveRun.triggered_by, 'kubernetes-reconciler');
      const doneRun = (await getRun(h.db, done))!;
      assert.equal(doneRun.status, 'lost');
      assert.match(doneRun.error_message!, /ran \(Complete.*\) without a record in the RunLog/);
      const again = await h.executor.reconciler.pass();
      assert.deepEqual(again.recorded, []);
      assert.ok(!again.redispatched.includes(live), 'a queued run whose Job exists is not dispatched again');
    });
  });
}
