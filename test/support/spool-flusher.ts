// `kubescribe run` on the embedded RunLog writes behind: it exits once its spool is on disk, and a
// detached `kubescribe flush --behind` imports it (src/cli/spool-flusher.ts). Every command opens the
// RunLog after importing the spools, so users need nothing; a test that opens the RunLog itself (or
// removes the home) right after a run waits for the import with this.
import { join } from 'node:path';
import { liveFlusherPid } from '../../src/runlog/flusher-lock.ts';
import { importableSpools } from '../../src/runner/recorder.ts';

/**
 * Waits until `home` has no flusher running and no spool waiting for one (a spool whose writer still
 * runs is its writer's). Returns false if that did not happen within `timeoutMs`.
 */
export async function settleFlusher(home: string, timeoutMs = 120_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (liveFlusherPid(home) === null && importableSpools(join(home, 'spool')).length === 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
