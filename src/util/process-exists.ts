/**
 * True when a process with this pid exists. EPERM counts: the process is there but belongs to
 * someone else, and it still holds whatever lock or port it took.
 */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
