// Who an executor's steps are credited to in run events. The run's `triggered_by` asked for it; the
// executor (and the runner it started, on its behalf) adopted, started and finished it.
import { hostname } from 'node:os';

/** The actor of the steps executor `name` takes on a run, where it runs: `executor:local@host`, `executor:kubernetes@pod`. */
export function executorActor(name: string, where: string = hostname()): string {
  return `executor:${name}@${where}`;
}
