// Bounded lock waits: the migration's advisory lock and a job's row lock fail after their bound with
// an error naming the session that holds them (PostgreSQL, where two sessions can contend), and
// take the lock as before on every engine (PGlite has one session, so nothing ever waits there).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db, Queryable } from '../../src/runlog/db.ts';
import { migrate } from '../../src/runlog/migrate.ts';
import { openPgEngine } from '../../src/runlog/pg-engine.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { LockTimeoutError, lockHolders } from '../../src/runlog/sql/lock-wait.ts';
import { lockJobRow } from '../../src/runlog/sql/run-writes.ts';
import { openSharedRunLog, type SharedRunLog, VARIANTS } from './shared-runlog.ts';

const MIGRATION_LOCK_KEY = 0x6b756265;

/** Runs `fn` in a transaction of `db` that stays open until the returned release() is called. */
async function holdTransaction(db: Db, fn: (tx: Queryable) => Promise<void>): Promise<{ pid: number; release: () => Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let ready!: (pid: number) => void;
  let failed!: (error: unknown) => void;
  const holding = new Promise<number>((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });
  const done = db.transaction(async (tx) => {
    await fn(tx);
    const [row] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    ready(row!.pid);
    await released;
  }).catch(failed);
  const pid = await holding;
  return { pid, release: async () => { release(); await done; } };
}

for (const variant of VARIANTS) {
  describe(`bounded lock waits (${variant})`, () => {
    let shared: SharedRunLog;
    before(async () => {
      shared = await openSharedRunLog(variant);
      await ensureUndeclaredJob(shared.db, 'locked-job');
    });
    after(() => shared?.close());

    it('lockJobRow takes the row and leaves the transaction\'s own lock_timeout as it was', async () => {
      const settings = await shared.db.transaction(async (tx) => {
        await tx.query("SELECT set_config('lock_timeout', '7s', true)");
        await lockJobRow(tx, 'locked-job', 250);
        const [row] = await tx.query<{ setting: string }>("SELECT current_setting('lock_timeout') AS setting");
        return row!.setting;
      });
      assert.equal(settings, '7s');
    });

    it('finds no holder of a lock nobody else holds', async () => {
      assert.deepEqual(await lockHolders(shared.db, { kind: 'row', description: 'x', table: 'jobs', key: 'locked-job' }), []);
      // Not the migration's key: advisory locks are database-wide, and another test file may be
      // migrating its own schema in this database right now.
      assert.deepEqual(await lockHolders(shared.db, { kind: 'advisory', description: 'x', key: 0x7e57_0000 + Math.floor(Math.random() * 0xffff) }), []);
    });

    if (variant !== 'postgres') return;

    it('lockJobRow gives up after its bound, naming the session that holds the row', async () => {
      const holderDb = await openPgEngine({ url: withAppName(process.env.DATABASE_URL!, 'ks-row-holder'), schema: shared.runlog.location.databaseSchema!, max: 1 });
      try {
        const holder = await holdTransaction(holderDb, async (tx) => {
          await tx.query('SELECT name FROM jobs WHERE name = $1 FOR UPDATE', ['locked-job']);
        });
        const started = Date.now();
        try {
          const error = await shared.db.transaction((tx) => lockJobRow(tx, 'locked-job', 300)).then(() => null, (failure: unknown) => failure);
          assert.ok(error instanceof LockTimeoutError, `expected a LockTimeoutError, got ${String(error)}`);
          assert.equal(error.code, '55P03');
          assert.equal(error.lock, 'the row of job locked-job');
          assert.equal(error.holders.length, 1);
          assert.equal(error.holders[0]!.pid, holder.pid);
          assert.equal(error.holders[0]!.application_name, 'ks-row-holder');
          assert.ok(error.holders[0]!.since instanceof Date);
          assert.match(error.message, new RegExp(`not granted within 300 ms: held by pid ${holder.pid} \\(ks-row-holder\\) in a transaction since \\d{4}-`));
          assert.ok(Date.now() - started < 4_000, 'gave up at its own bound, not the session default of 5 s');
        } finally {
          await holder.release();
        }
        // Once the holder is gone the row is free again.
        await shared.db.transaction((tx) => lockJobRow(tx, 'locked-job', 2_000));
      } finally {
        await holderDb.close();
      }
    });

    it('a migration waiting for another process\'s migration gives up after its bound, naming that process', async () => {
      const holderDb = await openPgEngine({ url: withAppName(process.env.DATABASE_URL!, 'ks-migration-holder'), max: 1 });
      const fresh = await openPgEngine({ url: process.env.DATABASE_URL!, schema: `${shared.runlog.location.databaseSchema}_m`, max: 1 });
      try {
        const holder = await holdTransaction(holderDb, async (tx) => {
          await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
        });
        try {
          // Idle in its transaction from the start: hung once it has sat idle for hungAfterMs.
          const error = await migrate(fresh, undefined, { lockTimeoutMs: 300, hungAfterMs: 600 }).then(() => null, (failure: unknown) => failure);
          assert.ok(error instanceof LockTimeoutError, `expected a LockTimeoutError, got ${String(error)}`);
          assert.equal(error.lock, 'the RunLog migration lock');
          assert.ok(error.holders[0]!.state === 'idle in transaction' && error.holders[0]!.state_ms! >= 600, JSON.stringify(error.holders));
          assert.deepEqual(error.holders.map((h) => [h.pid, h.application_name]), [[holder.pid, 'ks-migration-holder']]);
          const [present] = await fresh.query<{ present: boolean }>("SELECT to_regclass('kubescribe_migrations') IS NOT NULL AS present");
          assert.equal(present!.present, false, 'nothing was migrated');
        } finally {
          await holder.release();
        }
        assert.ok((await migrate(fresh, undefined, { lockTimeoutMs: 30_000 })).applied.length > 0, 'migrates once the lock is free');
      } finally {
        await fresh.query(`DROP SCHEMA IF EXISTS "${shared.runlog.location.databaseSchema}_m" CASCADE`).catch(() => {});
        await fresh.close();
        await holderDb.close();
      }
    });

    it('a migration waiting for another process\'s migration keeps waiting past its bound while that one works, up to its whole wait', async () => {
      const holderDb = await openPgEngine({ url: withAppName(process.env.DATABASE_URL!, 'ks-migration-worker'), max: 1 });
      const fresh = await openPgEngine({ url: process.env.DATABASE_URL!, schema: `${shared.runlog.location.databaseSchema}_w`, max: 1 });
      const workers: number[] = [];
      /** Holds the migration lock while a statement runs for `seconds` (a backfill at work); resolves once the lock is held. */
      const work = async (seconds: number) => {
        let held!: (pid: number) => void;
        const holding = new Promise<number>((resolve) => (held = resolve));
        const done = holderDb.transaction(async (tx) => {
          await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
          const [row] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          held(row!.pid);
          await tx.query('SELECT pg_sleep($1)', [seconds]);
        });
        const pid = await holding;
        workers.push(pid);
        // Not the promise itself, which the caller's await would wait out; and settled to its error (or
        // null) at once, so that a cancelled holder's rejection is never unhandled.
        return { pid, ended: done.then(() => null, (error: unknown) => error) };
      };
      try {
        // Its whole wait runs out while the holder still works: the error names it, at work. The
        // holder's statement is then cancelled rather than waited out: only its being at work during
        // the wait matters, and its remaining seconds were the test's longest wait.
        const worker = await work(30);
        const error = await migrate(fresh, undefined, { lockTimeoutMs: 300, maxWaitMs: 1_000 }).then(() => null, (failure: unknown) => failure);
        assert.ok(error instanceof LockTimeoutError, `expected a LockTimeoutError, got ${String(error)}`);
        assert.ok(error.waitedMs >= 1_000, `waited ${error.waitedMs} ms, its whole wait`);
        assert.ok(error.holders.some((h) => h.application_name === 'ks-migration-worker' && h.state === 'active'), JSON.stringify(error.holders));
        await fresh.query('SELECT pg_cancel_backend($1)', [worker.pid]);
        assert.match(String(await worker.ended), /canceling statement/);
        // Rounds of 300 ms, a holder at work for 1.4 s: waits it out, past three rounds, and migrates.
        const { ended } = await work(1.4);
        const started = Date.now();
        const result = await migrate(fresh, undefined, { lockTimeoutMs: 300 });
        assert.ok(result.applied.length > 0, 'migrated once the lock was free');
        assert.ok(Date.now() - started >= 900, `waited past its 300 ms bound (${Date.now() - started} ms)`);
        assert.equal(await ended, null);
      } finally {
        // A failed assertion above leaves the 30 s holder at work: its pool would not close before it ends.
        for (const pid of workers) await fresh.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => {});
        await fresh.query(`DROP SCHEMA IF EXISTS "${shared.runlog.location.databaseSchema}_w" CASCADE`).catch(() => {});
        await fresh.close();
        await holderDb.close();
      }
    });
  });
}

function withAppName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('application_name', name);
  return parsed.toString();
}
