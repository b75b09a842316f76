import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../src/runlog/db.ts';
import { ensureUndeclaredJob, listJobs, markRemovedJobs, syncJobDefinition, type JobSync } from '../../src/runlog/sql/jobs.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { openPgEngine } from '../../src/runlog/pg-engine.ts';
import { count, openSharedRunLog, seedRun, unclosable, type SharedRunLog, VARIANTS } from './shared-runlog.ts';

function definition(name: string, version: string, extra: Partial<JobSync> = {}): JobSync {
  return {
    name,
    description: `${name} ${version}`,
    tenant: 'team-a',
    labels: { version },
    definition: { command: ['python3', `${name}.py`], version, params: { properties: { n: { type: 'integer', default: 1 } } } },
    content_hash: `${name}-${version}`,
    source: 'kubescribe.yaml',
    ...extra,
  };
}

for (const engine of VARIANTS) {
  describe(`jobs (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
    });
    after(() => shared?.close());

    const job = async (name: string) =>
      (await db.query<Record<string, unknown>>('SELECT * FROM jobs WHERE name = $1', [name]))[0];
    const revisions = (name: string) =>
      db.query<{ revision: number; content_hash: string; definition: { version: string }; source: string | null }>(
        'SELECT revision, content_hash, definition, source FROM job_revisions WHERE job = $1 ORDER BY revision',
        [name],
      );

    it('numbers revisions: same hash keeps it, a change adds one, going back adds another', async () => {
      assert.equal(await syncJobDefinition(db, definition('report', 'v1')), 1);
      const created = await job('report');
      assert.equal(created!.declared, true);
      assert.equal(created!.current_revision, 1);
      assert.equal(created!.description, 'report v1');
      assert.equal(created!.tenant, 'team-a');
      assert.deepEqual(created!.labels, { version: 'v1' });
      assert.equal(created!.removed_at, null);
      assert.ok(created!.created_at instanceof Date);

      assert.equal(await syncJobDefinition(db, definition('report', 'v1')), 1);
      assert.equal(await syncJobDefinition(db, definition('report', 'v2')), 2);
      assert.equal(await syncJobDefinition(db, definition('report', 'v2')), 2);
      assert.equal(await syncJobDefinition(db, definition('report', 'v1')), 3);

      const history = await revisions('report');
      assert.deepEqual(history.map((r) => [r.revision, r.content_hash, r.definition.version]), [
        [1, 'report-v1', 'v1'],
        [2, 'report-v2', 'v2'],
        [3, 'report-v1', 'v1'],
      ]);
      assert.equal(history[0]!.source, 'kubescribe.yaml');
      const current = await job('report');
      assert.equal(current!.current_revision, 3);
      assert.equal(current!.description, 'report v1');
      assert.deepEqual(current!.labels, { version: 'v1' });
    });

    /** On PostgreSQL a pool of 10, so that the 10 syncs really run at once (the shared pool has 5). */
    async function wideDb(): Promise<Db> {
      if (engine !== 'postgres') return unclosable(db);
      const location = shared.runlog.location;
      const wide = await openPgEngine({ url: location.databaseUrl!, schema: location.databaseSchema!, max: 10 });
      // Connect all ten first, so that no sync is held back by its connection handshake.
      await Promise.all(Array.from({ length: 10 }, () => wide.query('SELECT pg_sleep(0.05)')));
      return wide;
    }

    it('10 concurrent syncs of one new job create exactly one revision', async () => {
      const wide = await wideDb();
      try {
        const results = await Promise.all(Array.from({ length: 10 }, () => syncJobDefinition(wide, definition('burst', 'v1'))));
        assert.deepEqual(results, Array(10).fill(1));
      } finally {
        await wide.close();
      }
      assert.deepEqual((await revisions('burst')).map((r) => r.revision), [1]);
      assert.equal((await job('burst'))!.current_revision, 1);
    });

    it('10 concurrent syncs of one changed definition add exactly one revision', async () => {
      await syncJobDefinition(db, definition('burst2', 'v1'));
      const wide = await wideDb();
      try {
        const results = await Promise.all(Array.from({ length: 10 }, () => syncJobDefinition(wide, definition('burst2', 'v2'))));
        assert.deepEqual(results, Array(10).fill(2));
      } finally {
        await wide.close();
      }
      assert.deepEqual((await revisions('burst2')).map((r) => r.revision), [1, 2]);
    });

    if (engine === 'postgres') {
      // The race above, made deterministic: syncs that queue behind another process's uncommitted
      // revision 1 of the same definition must reuse it once that commits.
      it('a sync that waited for another sync of the same definition reuses its revision', async () => {
        let pending: Promise<number>[] = [];
        await db.transaction(async (tx) => {
          await tx.query("INSERT INTO jobs (name, declared, current_revision) VALUES ('held', true, NULL)");
          await tx.query("INSERT INTO job_revisions (job, revision, definition, content_hash) VALUES ('held', 1, '{}', 'held-v1')");
          await tx.query("UPDATE jobs SET current_revision = 1 WHERE name = 'held'");
          pending = [1, 2, 3].map(() => syncJobDefinition(db, definition('held', 'v1')));
          const deadline = Date.now() + 10_000;
          for (;;) {
            const [row] = await db.query<{ n: number }>(
              `SELECT count(*) AS n FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO jobs%'`,
            );
            if (row!.n >= 3) break;
            assert.ok(Date.now() < deadline, 'the three syncs never queued behind the open transaction');
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        });
        const results = await Promise.all(pending);
        assert.deepEqual(results, [1, 1, 1]);
        assert.deepEqual((await revisions('held')).map((r) => r.revision), [1]);
      });
    }

    it('links a run to the revision whose content hash it carries', async () => {
      await syncJobDefinition(db, definition('linked', 'v1'));
      await syncJobDefinition(db, definition('linked', 'v2'));
      // A run buffered offline while v2 was current still links to revision 2 after v3 appears.
      await syncJobDefinition(db, definition('linked', 'v3'));
      const v2 = await seedRun(db, { job: 'linked', job_content_hash: 'linked-v2' });
      const v3 = await seedRun(db, { job: 'linked', job_content_hash: 'linked-v3' });
      const unknown = await seedRun(db, { job: 'linked', job_content_hash: 'linked-v9' });
      const none = await seedRun(db, { job: 'linked', job_content_hash: null });
      assert.equal((await getRun(db, v2.run_id))!.job_revision, 2);
      assert.equal((await getRun(db, v3.run_id))!.job_revision, 3);
      assert.equal((await getRun(db, unknown.run_id))!.job_revision, null);
      assert.equal((await getRun(db, none.run_id))!.job_revision, null);
      // When a definition comes back, new runs link to its newest revision.
      await syncJobDefinition(db, definition('linked', 'v2'));
      const again = await seedRun(db, { job: 'linked', job_content_hash: 'linked-v2' });
      assert.equal((await getRun(db, again.run_id))!.job_revision, 4);
      // The hash of another job's revision does not link.
      const other = await seedRun(db, { job: 'report', job_content_hash: 'linked-v2' });
      assert.equal((await getRun(db, other.run_id))!.job_revision, null);
    });

    it('ensureUndeclaredJob creates an undeclared job once and leaves declared jobs alone', async () => {
      await ensureUndeclaredJob(db, 'adhoc');
      await ensureUndeclaredJob(db, 'adhoc');
      const adhoc = await job('adhoc');
      assert.equal(adhoc!.declared, false);
      assert.equal(adhoc!.current_revision, null);
      assert.deepEqual(adhoc!.labels, {});
      assert.equal(await count(db, "jobs WHERE name = 'adhoc'"), 1);
      assert.equal(await count(db, "job_revisions WHERE job = 'adhoc'"), 0);

      await ensureUndeclaredJob(db, 'report');
      assert.equal((await job('report'))!.declared, true);
      assert.equal((await job('report'))!.current_revision, 3);

      // Declaring it later turns it into a declared job with revision 1.
      assert.equal(await syncJobDefinition(db, definition('adhoc', 'v1')), 1);
      assert.equal((await job('adhoc'))!.declared, true);
    });

    it('markRemovedJobs marks declared jobs missing from the config; a new sync restores them', async () => {
      await syncJobDefinition(db, definition('keep,me', 'v1'));
      await syncJobDefinition(db, definition('gone', 'v1'));
      await ensureUndeclaredJob(db, 'adhoc-2');
      const declared = (await listJobs(db)).filter((j) => j.declared).map((j) => j.name).filter((n) => n !== 'gone');
      await markRemovedJobs(db, declared);

      const removed = (await listJobs(db)).filter((j) => j.removed_at !== null).map((j) => j.name);
      assert.deepEqual(removed, ['gone']);
      const gone = await job('gone');
      assert.ok(gone!.removed_at instanceof Date);
      assert.equal(gone!.current_revision, 1);
      assert.equal(await count(db, "job_revisions WHERE job = 'gone'"), 1);
      assert.equal((await job('adhoc-2'))!.removed_at, null);
      assert.equal((await job('keep,me'))!.removed_at, null);

      // Marking again keeps the first removal time.
      await markRemovedJobs(db, declared);
      assert.deepEqual((await job('gone'))!.removed_at, gone!.removed_at);

      // Back in the config: same definition, same revision, no longer removed.
      assert.equal(await syncJobDefinition(db, definition('gone', 'v1')), 1);
      assert.equal((await job('gone'))!.removed_at, null);

      // An empty config removes every declared job, and no undeclared one.
      await markRemovedJobs(db, []);
      const jobs = await listJobs(db);
      assert.ok(jobs.filter((j) => j.declared).every((j) => j.removed_at !== null));
      assert.ok(jobs.filter((j) => !j.declared).every((j) => j.removed_at === null));
      assert.deepEqual(jobs.map((j) => j.name), [...jobs.map((j) => j.name)].sort());
    });
  });
}
