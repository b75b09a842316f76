// Makes a job die with its runner. The job runs in its own process group (so signals reach its whole
// tree), which also means nothing kills it when the runner itself is SIGKILLed (the OOM killer, `kill
// -9`, a crashed node process): it would run on as an orphan, unsupervised and unrecorded. Node has
// no PR_SET_PDEATHSIG, and the job is user code that cannot be asked to watch a pipe; so a tiny
// detached shell does: it blocks reading a pipe whose only writer is the runner. The runner writes
// "done" when the job has ended; if the pipe closes without it, the runner died, and the watchdog
// sends the job's group SIGTERM, then SIGKILL after the grace period. A blocked `read` costs nothing
// while the job runs, and `sh` starts in ~1 ms (measured with `npm run bench`: docs/benchmarks.md).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isSea } from 'node:sea';

const SHELL = '/bin/sh';
// $1: the job's process group id, $2: the grace period in whole seconds.
const SHELL_SCRIPT = 'IFS= read -r line; [ "$line" = done ] && exit 0; '
  + 'kill -s TERM -- "-$1" 2>/dev/null || exit 0; sleep "$2"; kill -s KILL -- "-$1" 2>/dev/null; exit 0';
// The same for images without a shell (distroless): slower to start (~40 ms), so only then; the
// single-file runner runs it as runWatchdog() instead (WATCHDOG_ARG).
const NODE_SCRIPT = `const [group, graceMs] = process.argv.slice(1).map(Number); let said = '';
process.stdin.on('data', (data) => { said += data; if (said.includes('done')) process.exit(0); });
process.stdin.on('end', () => {
  try { process.kill(-group, 'SIGTERM'); } catch { process.exit(0); }
  setTimeout(() => { try { process.kill(-group, 'SIGKILL'); } catch {} process.exit(0); }, graceMs);
});`;

/**
 * The first argument that makes the single-file runner (src/cli/runner-bin.ts) a watchdog: its
 * executable runs only its bundled script, so `-e NODE_SCRIPT` cannot be passed to it.
 */
export const WATCHDOG_ARG = '--kubescribe-watchdog';

/** NODE_SCRIPT as a function, for the single-file runner started with WATCHDOG_ARG group graceMs. */
export function runWatchdog(group: number, graceMs: number): void {
  let said = '';
  process.stdin.on('data', (data) => {
    said += String(data);
    if (said.includes('done')) process.exit(0);
  });
  process.stdin.on('end', () => {
    try {
      process.kill(-group, 'SIGTERM');
    } catch {
      process.exit(0);
    }
    setTimeout(() => {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // Already gone.
      }
      process.exit(0);
    }, graceMs);
  });
}

/** A watchdog guarding one job's process group; `release()` once the job has ended. */
export interface OrphanWatchdog {
  release(): void;
}

/**
 * Starts a watchdog that kills process group `group` (SIGTERM, then SIGKILL after `graceMs`) if this
 * process dies before `release()` is called. `onError` hears why one could not be started.
 */
export function watchProcessGroup(group: number, graceMs: number, onError: (message: string) => void): OrphanWatchdog {
  let watchdog: ChildProcess;
  try {
    watchdog = existsSync(SHELL)
      ? spawn(SHELL, ['-c', SHELL_SCRIPT, 'kubescribe-watchdog', String(group), String(Math.max(1, Math.ceil(graceMs / 1000)))], options())
      : isSea()
        ? spawn(process.execPath, [WATCHDOG_ARG, String(group), String(graceMs)], options())
        : spawn(process.execPath, ['-e', NODE_SCRIPT, String(group), String(graceMs)], options());
  } catch (error) {
    onError((error as Error).message);
    return { release: () => {} };
  }
  watchdog.once('error', (error) => onError(error.message));
  // The watchdog exiting early (killed by hand) closes the pipe: our writes then fail, which is harmless.
  watchdog.stdin?.on('error', () => {});
  // Neither the watchdog nor its pipe may keep the runner alive once the run is recorded.
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      watchdog.stdin?.end('done\n');
    },
  };
}

function options(): SpawnOptions {
  // Its own session: a Ctrl-C to the runner's terminal, or a signal to the runner's group, must not
  // take the watchdog down with the runner.
  return { stdio: ['pipe', 'ignore', 'ignore'], detached: true };
}
