// A runner started in a Kubernetes job pod records where it runs (namespace, Job, pod, node), and a
// runner of a Job its CronJob started links the run it creates to the schedule slot that fired it.
import type { Environment } from '../config/environment.ts';
import { scheduledTimeFromJobName } from '../kubernetes/cronjob-job-name.ts';

/** The runner options a pod's environment implies; none outside a pod. */
export function podRunOptions(pod: Environment['pod'], job: string | null, trigger: string): {
  executor?: string; executorRef?: Record<string, unknown>; scheduledFor?: Date | null;
} {
  if (!pod) return {};
  const executorRef: Record<string, unknown> = { pod: pod.name };
  if (pod.namespace) executorRef.namespace = pod.namespace;
  if (pod.k8sJob) executorRef.job = pod.k8sJob;
  if (pod.node) executorRef.node = pod.node;
  // The CronJob is named after the job and names its Jobs `<cronjob>-<minutes since the epoch>` of the
  // slot (the Job's cronjob-scheduled-timestamp annotation says the same, but a pod cannot read it).
  const scheduledFor = trigger === 'schedule' && job && pod.k8sJob ? scheduledTimeFromJobName(job, pod.k8sJob) : null;
  return { executor: 'kubernetes', executorRef, scheduledFor };
}
