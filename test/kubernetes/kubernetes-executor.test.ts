// The Kubernetes executor against the API double: a triggered run is written first, then exactly one
// Job is created for it, whatever the API server does in between (500s, a hung create, a retry from
// another replica); RBAC denials and invalid objects become clear run errors; cancel deletes the Job.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runJobName, RUN_ID_LABEL } from '../../src/kubernetes/manifests.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { transitionRun } from '../../src/runlog/sql/runs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { setJobSuspended } from '../../src/runlog/sql/jobs.ts';
import { cancelRun } from '../../src/runs/cancel-run.ts';
import { waitFor } from '../support/cli.ts';
import type { KubeObject } from '../support/kube-api-double.ts';
import { podCredentialProblems } from '../support/pod-credentials.ts';
import { createHarness, NAMESPACE, type Harness } from './harness.ts';
import { ENGINES } from '../support/runlog-engines.ts';

for (const engine of ENGINES) {
  describe(`Kubernetes executor (${engine})`, () => {
    let h: Harness;
    // The status of each Job's run when the API server received its create.
    const statusAtCreate = new Map<string, string | null>();

    before(async () => {
      h = await createHarness(engine, {
        api: {
          scenario: () => ({ kind: 'hold' }),
          beforeCreate: async (resource, obj) => {
            if (resource !== 'jobs') return;
            const runId = obj.metadata?.labels?.[RUN_ID_LABEL];
            statusAtCreate.set(runId, (await getRun(h.db, runId))?.status ?? null);
          },
        },
        executor: { watch: false },
      });
    });
    after(async () => {
      await h.close();
    });

    const jobsOf = (runId: string) => h.api.list('jobs', NAMESPACE).filter((job) => job.metadata.labels[RUN_ID_LABEL] === runId);

    test('a trigger writes the run as queued first, then creates one Job named from the job and run id', async () => {
      const runId = await h.trigger('report', {});
      const [job] = jobsOf(runId);
      assert.ok(job, 'the Job exists when the trigger returns');
      assert.equal(statusAtCreate.get(runId), 'queued', 'the run was in the RunLog, queued, before the Job was created');
      assert.equal(job.metadata.name, runJobName('report', runId));
      assert.equal(job.metadata.labels['app.kubernetes.io/managed-by'], 'kubescribe');
      const env = job.spec.template.spec.containers[0].env as KubeObject[];
      assert.equal(env.find((e) => e.name === 'KUBESCRIBE_RUN_ID')?.value, runId);
      assert.equal(job.spec.backoffLimit, 0);
      // runner_runlog: api (the default): the pod records through the API with its own token, and holds no other credential.
      assert.deepEqual(podCredentialProblems(job.spec.template.spec), []);
      assert.ok(env.some((e) => e.name === 'KUBESCRIBE_TOKEN_FILE'));
      const run = await h.run(runId);
      assert.equal(run.status, 'queued');
      assert.deepEqual(run.executor_ref, { namespace: NAMESPACE, job: job.metadata.name });
      assert.ok((await h.events(runId)).some((e) => e.type === 'dispatched'));
    });

    test('dispatching the same run again (another replica, the reconciler) finds 409 AlreadyExists and creates nothing', async () => {
      const runId = await h.trigger();
      const creates = h.api.count('create', 'jobs');
      await h.executor.dispatch(runId);
      assert.equal(h.api.count('create', 'jobs'), creates + 1);
      assert.equal(jobsOf(runId).length, 1);
      const dispatched = (await h.events(runId)).filter((e) => e.type === 'dispatched');
      assert.equal(dispatched.length, 2);
      assert.equal(dispatched[1]!.detail.already_existed, true);
    });

    test('500s on create are retried with backoff until the Job is created, once', async () => {
      h.api.inject({ verb: 'create', resource: 'jobs', kind: 'status', code: 500, times: 2 });
      h.api.inject({ verb: 'create', resource: 'jobs', kind: 'status', code: 503, times: 1 });
      const creates = h.api.count('create', 'jobs');
      const runId = await h.trigger();
      assert.equal(h.api.count('create', 'jobs'), creates + 4);
      assert.equal(jobsOf(runId).length, 1);
      const dispatched = (await h.events(runId)).find((e) => e.type === 'dispatched');
      assert.equal(dispatched?.detail.attempt, 4);
      assert.ok(h.logs.some((log) => log.run_id === runId && log.level === 'warn' && /500/.test(log.message)));
    });

    test('a create that hangs after the API server applied it is retried and finds the Job: still exactly one', async () => {
      h.api.inject({ verb: 'create', resource: 'jobs', kind: 'hang-after' });
      const started = Date.now();
      const runId = await h.trigger();
      assert.ok(Date.now() - started >= 900, 'the first create waited for its 1 s timeout');
      assert.equal(jobsOf(runId).length, 1);
      const dispatched = (await h.events(runId)).find((e) => e.type === 'dispatched');
      assert.equal(dispatched?.detail.already_existed, true);
      assert.ok(h.logs.some((log) => log.run_id === runId && /no answer within 1000 ms/.test(log.message)));
    });

    test('a create that hangs before anything was applied is retried and creates the Job', async () => {
      h.api.inject({ verb: 'create', resource: 'jobs', kind: 'hang' });
      const runId = await h.trigger();
      assert.equal(jobsOf(runId).length, 1);
      assert.equal((await h.events(runId)).find((e) => e.type === 'dispatched')?.detail.already_existed, undefined);
    });

    test('403 Forbidden fails the run with an error naming the missing RBAC verb and resource', async () => {
      h.api.deny('create', 'jobs');
      try {
        const runId = await h.trigger();
        const run = await h.run(runId);
        assert.equal(run.status, 'failed');
        assert.equal(run.error_type, 'KubernetesForbidden');
        assert.match(run.error_message!, /verb "create" on resource "jobs"/);
        assert.match(run.error_message!, /namespace ks-test/);
        assert.equal(jobsOf(runId).length, 0);
        assert.ok(h.logs.some((log) => log.level === 'error' && log.run_id === runId && /RBAC|Role/.test(log.message)));
      } finally {
        h.api.allow('create', 'jobs');
      }
    });

    test('422 Invalid fails the run with the invalid field', async () => {
      // Past the config's own checks (as a hand-edited object would be): an env name the API server refuses.
      const env = h.config.jobs.get('report')!.env;
      env['1-BAD'] = 'x';
      try {
        const runId = await h.trigger();
        const run = await h.run(runId);
        assert.equal(run.status, 'failed', JSON.stringify(run));
        assert.equal(run.error_type, 'KubernetesInvalid');
        assert.match(run.error_message!, /Kubernetes rejected jobs\.batch report-\S+ as invalid: spec\.template\.spec\.containers\[0\]\.env/);
        assert.match(run.error_message!, /1-BAD/);
      } finally {
        delete env['1-BAD'];
      }
    });

    test('when every try fails the run stays queued, recorded as dispatch_failed, for the reconciler', async () => {
      h.api.inject({ verb: 'create', resource: 'jobs', kind: 'status', code: 500, times: 6 });
      const runId = await h.trigger();
      assert.equal((await h.run(runId)).status, 'queued');
      const failed = (await h.events(runId)).find((e) => e.type === 'dispatch_failed');
      assert.equal(failed?.detail.attempts, 6);
      assert.equal(jobsOf(runId).length, 0);
      const result = await h.executor.reconciler.pass();
      assert.deepEqual(result.redispatched.includes(runId), true);
      assert.equal(jobsOf(runId).length, 1);
    });

    test('cancel deletes the Job with propagation Background and records who asked', async () => {
      const runId = await h.trigger();
      const jobName = runJobName('report', runId);
      await waitFor(() => h.api.list('pods', NAMESPACE).some((pod) => pod.metadata.labels['job-name'] === jobName), 5000, 'the pod');
      // As the pod's runner would: adopt the run and start the command.
      await transitionRun(h.db, runId, ['queued'], 'starting', {}, { event_id: uuidv7(), at: new Date(), type: 'adopted', actor: 'runner' });
      await transitionRun(h.db, runId, ['starting'], 'running', {}, { event_id: uuidv7(), at: new Date(), type: 'started', actor: 'runner' });
      const outcome = await cancelRun({ db: h.db, config: h.config, executor: h.executor }, runId, 'alice');
      assert.deepEqual(outcome, { run_id: runId, status: 'cancelling' });
      assert.deepEqual(h.api.deletions.filter((d) => d.name === jobName), [{ resource: 'jobs', name: jobName, propagationPolicy: 'Background' }]);
      await waitFor(() => !h.api.list('pods', NAMESPACE).some((pod) => pod.metadata.labels['job-name'] === jobName), 5000, 'the pod to go');
      const requested = (await h.events(runId)).find((e) => e.type === 'cancel_requested');
      assert.equal(requested?.actor, 'alice');
      assert.equal(requested?.detail.propagation_policy, 'Background');
    });

    test('cancelling a live run whose Job is already gone ends it cancelled here', async () => {
      const runId = await h.trigger();
      await h.client.deleteJob(runJobName('report', runId));
      await transitionRun(h.db, runId, ['queued'], 'running', {}, { event_id: uuidv7(), at: new Date(), type: 'started', actor: 'runner' });
      const outcome = await cancelRun({ db: h.db, config: h.config, executor: h.executor }, runId, 'bob');
      assert.equal(outcome.status, 'cancelling');
      const run = await h.run(runId);
      assert.equal(run.status, 'cancelled');
      assert.match(run.error_message!, /cancelled by bob: its Job .* was already gone/);
    });

    test('the CronJobs were applied at start, and the reconciler carries a suspension from the RunLog to spec.suspend', async () => {
      const cron = h.api.get('cronjobs', NAMESPACE, 'nightly');
      assert.equal(cron?.spec.suspend, false);
      await setJobSuspended(h.db, 'nightly', true, { actor: 'alice', reason: 'maintenance' });
      const result = await h.executor.reconciler.pass();
      assert.deepEqual(result.suspended, ['nightly']);
      assert.equal(h.api.get('cronjobs', NAMESPACE, 'nightly')?.spec.suspend, true);
      await setJobSuspended(h.db, 'nightly', false, { actor: 'alice', reason: null });
      assert.deepEqual((await h.executor.reconciler.pass()).resumed, ['nightly']);
      assert.deepEqual((await h.executor.reconciler.pass()).resumed, [], 'nothing to do once in step');
    });

    test('problem() is null while the cluster answers, and names the missing RBAC permission otherwise', async () => {
      assert.equal(await h.executor.problem(), null);
      h.api.deny('list', 'pods');
      try {
        assert.match((await h.executor.problem())!, /verb "list" on resource "pods"/);
      } finally {
        h.api.allow('list', 'pods');
      }
    });

    test('a queued run cancelled before its pod started has its Job deleted too', async () => {
      const runId = await h.trigger();
      const outcome = await cancelRun({ db: h.db, config: h.config, executor: h.executor }, runId, 'carol');
      assert.deepEqual(outcome, { run_id: runId, status: 'cancelled' });
      assert.equal(jobsOf(runId).length, 0);
    });
  });
}
