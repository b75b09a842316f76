// The outbox trigger: a run's terminal status and its notification event are one transaction, whoever
// writes the status.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../src/runlog/db.ts';
import { insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { runMonitors } from '../../src/notify/monitors.ts';
import { emptyConfig } from '../../src/config/job-definition.ts';
import { ev, openSharedRunLog, seedRun, type SharedRunLog } from '../runlog/shared-runlog.ts';
import { ENGINES } from '../support/runlog-engines.ts';

const eventsOf = (db: Db, runId: string) =>
  db.query<{ kind: string; job: string; dispatched_at: Date | null }>(
    'SELECT kind, job, dispatched_at FROM notification_events WHERE run_id = $1 ORDER BY event_id', [runId]);

for (const engine of ENGINES) {
  describe(`notification outbox (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
    });
    after(() => shared?.close());

    it('a run moving to failed, timed_out, lost or succeeded gets exactly one pending event', async () => {
      for (const status of ['failed', 'timed_out', 'lost', 'succeeded'] as const) {
        const run = await seedRun(db, { job: 'outbox' });
        assert.deepEqual(await eventsOf(db, run.run_id), [], 'nothing while running');
        await transitionRun(db, run.run_id, ['running'], status, { finished_at: new Date() }, ev(status));
        // A second writer racing to the same end changes nothing: terminal runs are final.
        await transitionRun(db, run.run_id, ['running'], status, { finished_at: new Date() }, ev(status));
        assert.deepEqual(await eventsOf(db, run.run_id), [{ kind: status, job: 'outbox', dispatched_at: null }]);
      }
    });

    it('cancelled and live states write no event', async () => {
      const run = await seedRun(db, { job: 'outbox', status: 'queued' });
      await transitionRun(db, run.run_id, ['queued'], 'running', { started_at: new Date() }, ev('started'));
      await transitionRun(db, run.run_id, ['running'], 'cancelled', { finished_at: new Date() }, ev('cancelled'));
      assert.deepEqual(await eventsOf(db, run.run_id), []);
    });

    it('a rolled-back status change leaves no event, a committed one always has it', async () => {
      const run = await seedRun(db, { job: 'outbox' });
      await assert.rejects(db.transaction(async (tx) => {
        await transitionRun(tx, run.run_id, ['running'], 'failed', { finished_at: new Date() }, ev('failed'));
        throw new Error('crash before commit');
      }), /crash before commit/);
      assert.deepEqual(await eventsOf(db, run.run_id), []);
      const [status] = await db.query<{ status: string }>('SELECT status FROM runs WHERE run_id = $1', [run.run_id]);
      assert.equal(status!.status, 'running');
    });

    it('an outbox that refuses the insert never blocks the run: the status commits, the sweep writes the event', async () => {
      const run = await seedRun(db, { job: 'outbox' });
      await db.query('ALTER TABLE notification_events ADD CONSTRAINT refuse_all CHECK (false) NOT VALID');
      try {
        const moved = await transitionRun(db, run.run_id, ['running'], 'failed', { finished_at: new Date() }, ev('failed'));
        assert.deepEqual(moved, { changed: true, status: 'failed' });
        assert.deepEqual(await eventsOf(db, run.run_id), []);
      } finally {
        await db.query('ALTER TABLE notification_events DROP CONSTRAINT refuse_all');
      }
      const swept = await runMonitors(db, emptyConfig());
      assert.ok(swept.swept >= 1, JSON.stringify(swept));
      assert.deepEqual((await eventsOf(db, run.run_id)).map((e) => e.kind), ['failed']);
      assert.equal((await runMonitors(db, emptyConfig())).swept, 0, 'once');
    });

    if (engine === 'postgres') {
      it('a database role that may only write rows finishes runs and writes their events; one without the outbox still finishes them', async () => {
        const schema = shared.runlog.location.databaseSchema!;
        const role = `ks_test_writer_${randomBytes(4).toString('hex')}`;
        const password = randomBytes(12).toString('hex');
        await db.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
        try {
          await db.query(`GRANT USAGE ON SCHEMA "${schema}" TO ${role}`);
          await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO ${role}`);
          const url = new URL(process.env.DATABASE_URL!);
          url.username = role;
          url.password = password;
          const writer = await openRunLogDb({ databaseUrl: url.toString(), databaseSchema: schema, home: tmpdir() });
          try {
            const run = await seedRun(db, { job: 'outbox' });
            await transitionRun(writer, run.run_id, ['running'], 'failed', { finished_at: new Date() }, ev('failed'));
            assert.deepEqual((await eventsOf(db, run.run_id)).map((e) => e.kind), ['failed']);
            await db.query(`REVOKE INSERT ON notification_events FROM ${role}`);
            const second = await seedRun(db, { job: 'outbox' });
            const moved = await transitionRun(writer, second.run_id, ['running'], 'failed', { finished_at: new Date() }, ev('failed'));
            assert.equal(moved.changed, true);
            assert.deepEqual(await eventsOf(db, second.run_id), []);
          } finally {
            await writer.close();
          }
        } finally {
          await db.query(`DROP OWNED BY ${role}`);
          await db.query(`DROP ROLE ${role}`);
        }
      });
    }

    it('a run recorded already finished (a replayed offline buffer) gets its event too', async () => {
      const runId = uuidv7();
      await seedRun(db, { job: 'outbox' });
      await insertRun(db, {
        run_id: runId, job: 'outbox', job_content_hash: null, trigger: 'manual', triggered_by: 't', params: {},
        status: 'failed', executor: 'local', created_at: new Date(),
      }, { event_id: uuidv7(), at: new Date(), type: 'created', actor: 't' });
      assert.deepEqual((await eventsOf(db, runId)).map((e) => e.kind), ['failed']);
    });
  });
}
