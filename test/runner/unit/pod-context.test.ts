// What a runner in a job pod records about where it runs, and the schedule slot a CronJob's Job names.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { podRunOptions } from '../../../src/runner/pod-context.ts';

const pod = { namespace: 'batch', name: 'report-29400000-x7k2p', node: 'node-a', k8sJob: 'report-29400000' };

describe('podRunOptions', () => {
  test('outside a pod there is nothing to add', () => {
    assert.deepEqual(podRunOptions(null, 'report', 'schedule'), {});
  });

  test("a CronJob's Job links the run to its slot, read from the Job's name", () => {
    assert.deepEqual(podRunOptions(pod, 'report', 'schedule'), {
      executor: 'kubernetes',
      executorRef: { pod: pod.name, namespace: 'batch', job: 'report-29400000', node: 'node-a' },
      scheduledFor: new Date(29_400_000 * 60_000),
    });
  });

  test('a triggered run, or a Job of another name, has no slot', () => {
    assert.equal(podRunOptions(pod, 'report', 'api').scheduledFor, null);
    assert.equal(podRunOptions({ ...pod, k8sJob: 'report-0192abcd' }, 'report', 'schedule').scheduledFor, null);
    assert.equal(podRunOptions(pod, 'other', 'schedule').scheduledFor, null);
  });
});
