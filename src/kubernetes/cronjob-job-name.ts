// How a CronJob's controller names the Jobs it creates, read back. Kept apart from manifests.ts so
// that the runner in a job pod can read it without loading the manifest builders and their client types.

/**
 * When a Job created by the CronJob `cronJob` was scheduled, from its name: the controller names them
 * `<cronjob>-<minutes since the epoch>`. Null for any other Job (e.g. one of a triggered run).
 */
export function scheduledTimeFromJobName(cronJob: string, k8sJob: string): Date | null {
  const match = /^(\d{1,12})$/.exec(k8sJob.startsWith(`${cronJob}-`) ? k8sJob.slice(cronJob.length + 1) : '');
  return match ? new Date(Number(match[1]) * 60_000) : null;
}
