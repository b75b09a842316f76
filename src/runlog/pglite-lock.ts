// The embedded RunLog's lock file: PGlite may be opened by one process at a time, and a second one
// is told who holds it. Kept apart from the engine so that recognising RunLogBusyError (connectivity.ts,
// the CLI's error report) never loads PGlite's WebAssembly (~100 ms) on a PostgreSQL runner.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { dirname, relative, resolve } from 'node:path';
import { processExists } from '../util/process-exists.ts';

/** The embedded RunLog is open in another process; PGlite allows one at a time. */
export class RunLogBusyError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly holder: string,
  ) {
    super(
      `the embedded RunLog at ${displayPath(dataDir)} is open in another process (pid ${pid}: ${holder}). ` +
        'PGlite can be opened by one process at a time: wait for that command to finish or stop it, ' +
        'or set DATABASE_URL to use a PostgreSQL server, which any number of processes can share.',
    );
    this.name = 'RunLogBusyError';
  }
}

// Data directories this process has open: a second PGlite on the same files would corrupt them.
const openHere = new Set<string>();

export function acquireLock(dataDir: string): () => void {
  const lockFile = `${dataDir}.lock`;
  const key = resolve(dataDir);
  if (openHere.has(key)) throw new RunLogBusyError(dataDir, process.pid, 'this same process');
  mkdirSync(dirname(lockFile), { recursive: true });
  // The token tells our lock from one a later process took over, so we never remove someone else's.
  const token = randomUUID();
  const content = JSON.stringify({ pid: process.pid, command: process.argv.slice(1).join(' '), token });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx', 0o600);
      writeFileSync(fd, content);
      closeSync(fd);
      openHere.add(key);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        openHere.delete(key);
        if (readHolder(lockFile)?.token === token) rmSync(lockFile, { force: true });
        process.off('exit', release);
      };
      // A process that exits without closing must not leave a lock that blocks everyone after it.
      process.on('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readHolder(lockFile);
      if (holder && holder.pid !== process.pid && processExists(holder.pid)) {
        throw new RunLogBusyError(dataDir, holder.pid, holder.command);
      }
      // Stale: its process is gone (killed with SIGKILL, machine restarted), or it is a previous
      // process that had our pid (PID 1 in every container) and is not open here.
      rmSync(lockFile, { force: true });
    }
  }
  throw new Error(`could not take the lock ${lockFile}`);
}

function readHolder(lockFile: string): { pid: number; command: string; token: unknown } | null {
  try {
    const parsed = JSON.parse(readFileSync(lockFile, 'utf8')) as { pid?: unknown; command?: unknown; token?: unknown };
    return typeof parsed.pid === 'number' ? { pid: parsed.pid, command: String(parsed.command ?? '?'), token: parsed.token } : null;
  } catch {
    return null;
  }
}

/** A path relative to the working directory when it is below it, for messages. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}
