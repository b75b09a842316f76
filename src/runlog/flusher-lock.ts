// The spool flusher's lock (src/cli/spool-flusher.ts): one detached flusher at a time per KubeScribe
// home. Here, beside the RunLog's opening, because a command that finds the embedded RunLog held by
// the flusher waits for it instead of failing (open-runlog.ts): the flusher holds PGlite for a second
// or two and then lets go.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { processExists } from '../util/process-exists.ts';

/** The flusher's pid file, in KubeScribe's home beside `spool/` (which holds nothing but spools). */
export function flusherLockFile(home: string): string {
  return join(home, 'spool.flusher');
}

/** The pid of the live flusher of `home`, or null. */
export function liveFlusherPid(home: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(flusherLockFile(home), 'utf8').trim());
  } catch {
    return null;
  }
  return Number.isSafeInteger(pid) && pid > 0 && processExists(pid) ? pid : null;
}

/**
 * Takes the flusher lock of `home`: returns its release, or null when a live flusher holds it. A lock
 * left by a flusher that died (SIGKILL) is taken over. Two flushers that both take over the same stale
 * lock at once would both flush: harmless, as PGlite lets one open it at a time and every record is
 * idempotent; the lock only spares the machine a queue of waiting flushers.
 */
export function acquireFlusherLock(home: string): (() => void) | null {
  const file = flusherLockFile(home);
  mkdirSync(home, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        try {
          if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file, { force: true });
        } catch {
          // Gone already.
        }
      };
      process.on('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = liveFlusherPid(home);
      if (holder !== null && holder !== process.pid) return null;
      rmSync(file, { force: true });
    }
  }
  return null;
}
