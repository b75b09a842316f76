// Runners start every command as the leader of its own process group, so that a signal reaches
// the whole tree it started (`sh -c` wrappers, worker processes). Whoever signals a run's processes
// (the runner, the local executor for a re-adopted run) does it here.
import { readFileSync } from 'node:fs';

/**
 * Sends `signal` to the process group led by `pid`. Returns false when the group is gone (ESRCH),
 * which a signal racing the group's exit is expected to meet; other errors (EPERM, EINVAL) throw.
 */
export function signalProcessGroup(pid: number, signal: NodeJS.Signals): boolean {
  assertGroupLeader(pid);
  try {
    process.kill(-pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** True while the process group led by `pid` has a member, and its leader is not a zombie. */
export function processGroupAlive(pid: number): boolean {
  // No child of ours leads a group with such a pid (a bad executor_ref): nothing of the run lives.
  if (!isGroupLeaderPid(pid)) return false;
  try {
    // Signal 0 checks without sending; a group outlives a reused pid's false positive and covers
    // the job's own children.
    process.kill(-pid, 0);
  } catch (error) {
    // EPERM: the group is there but belongs to someone else.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

// A server running as PID 1 inherits orphans but does not reap them: a zombie has ended.
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return false;
  }
}

// kill(-1) signals every process we may signal and kill(-0) our own group: a pid that is not a
// child's (0, 1, NaN from a bad executor_ref) must never get that far.
function assertGroupLeader(pid: number): void {
  if (!isGroupLeaderPid(pid)) throw new RangeError(`not a process group leader's pid: ${pid}`);
}

function isGroupLeaderPid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 1;
}
