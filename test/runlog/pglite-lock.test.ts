// PGlite can be opened by one process at a time; the engine guards its data directory with
// `<dataDir>.lock` holding {"pid", "command"}. PGlite only: nothing here concerns PostgreSQL.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openPgliteEngine, RunLogBusyError } from '../../src/runlog/pglite-engine.ts';
import { openRunLogDb, pgliteDataDir } from '../../src/runlog/open-runlog.ts';
import { seedPgliteRunLog } from '../support/pglite-template.ts';

describe('PGlite lock file (pglite)', () => {
  let home: string;
  let dataDir: string;
  let lockFile: string;
  const children: ChildProcess[] = [];

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'ks-test-lock-'));
    dataDir = pgliteDataDir(home);
    lockFile = `${dataDir}.lock`;
    // A copy of the migrated template: a first open here ran initdb and the migrations (~5 s of CPU),
    // which the lock does not depend on (the template's own build and a fresh home's first run cover them).
    await seedPgliteRunLog(home);
  });
  after(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  const readLock = () => JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number; command: string; token?: string };

  /** A live process that is not us, to stand for another kubescribe holding the RunLog. */
  async function liveProcess(): Promise<ChildProcess> {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    await once(child, 'spawn');
    return child;
  }

  it('writes a lock with our pid while open and removes it on close', async () => {
    const db = await openRunLogDb({ databaseUrl: null, databaseSchema: null, home });
    try {
      assert.equal(dataDir, join(home, 'runlog'));
      const lock = readLock();
      assert.equal(lock.pid, process.pid);
      assert.equal(typeof lock.command, 'string');
      assert.equal(db.location.endsWith('runlog'), true);
      assert.deepEqual(await db.query('SELECT count(*) AS n FROM runs'), [{ n: 0 }]);
    } finally {
      await db.close();
    }
    assert.equal(existsSync(lockFile), false);
  });

  it('refuses a data directory held by another live process, saying which and how to proceed', async () => {
    const child = await liveProcess();
    const holder = { pid: child.pid!, command: 'kubescribe dev --port 8080' };
    writeFileSync(lockFile, JSON.stringify(holder));
    const started = Date.now();
    const error = await openPgliteEngine({ dataDir }).then(
      async (db) => {
        await db.close();
        return assert.fail('the second process must not open the RunLog');
      },
      (e: unknown) => e,
    );
    assert.ok(error instanceof RunLogBusyError, String(error));
    assert.equal(error.name, 'RunLogBusyError');
    assert.equal(error.pid, child.pid);
    assert.equal(error.holder, 'kubescribe dev --port 8080');
    assert.equal(error.dataDir, dataDir);
    assert.match(error.message, new RegExp(`is open in another process \\(pid ${child.pid}: kubescribe dev --port 8080\\)`));
    assert.match(error.message, /one process at a time: wait for that command to finish or stop it/);
    assert.match(error.message, /set DATABASE_URL to use a PostgreSQL server/);
    // Refused before PGlite was even loaded, and the holder's lock is left alone.
    assert.ok(Date.now() - started < 1000);
    assert.deepEqual(readLock(), holder);

    // Once that process is gone its lock is stale, and the next open takes it over.
    child.kill('SIGKILL');
    await once(child, 'exit');
    const db = await openPgliteEngine({ dataDir });
    try {
      assert.equal(readLock().pid, process.pid);
    } finally {
      await db.close();
    }
    assert.equal(existsSync(lockFile), false);
  });

  it('takes over a lock file cut short mid-write (no pid to check)', async () => {
    // (A lock naming a dead process is taken over in the test above.)
    writeFileSync(lockFile, '{"pid": 12');
    const db = await openPgliteEngine({ dataDir });
    try {
      assert.equal(readLock().pid, process.pid);
    } finally {
      await db.close();
    }
    assert.equal(existsSync(lockFile), false);
  });

  // The engine treats a lock holding its own pid as stale (a container restarted with the same pid 1
  // on a persistent volume), so a second open in the same process is NOT refused.
  it('refuses a second open of the directory in the same process, and the lock goes with the last close', async () => {
    const first = await openPgliteEngine({ dataDir });
    try {
      // Two PGlite instances on one set of files would corrupt them.
      await assert.rejects(openPgliteEngine({ dataDir }), (error: unknown) => {
        assert.ok(error instanceof RunLogBusyError);
        assert.match(error.message, /this same process/);
        return true;
      });
      assert.equal(readLock().pid, process.pid, 'the refused open left the lock alone');
    } finally {
      await first.close();
    }
    assert.equal(existsSync(lockFile), false, 'closing removed the lock');
    const again = await openPgliteEngine({ dataDir });
    await again.close();
  });

  it('takes over a lock that carries our own pid but is not open here (a previous PID 1 in a container)', async () => {
    writeFileSync(lockFile, JSON.stringify({ pid: process.pid, command: 'kubescribe run (an earlier container)', token: 'old' }));
    const db = await openPgliteEngine({ dataDir });
    try {
      assert.notEqual(readLock().token, 'old');
    } finally {
      await db.close();
    }
  });
});
