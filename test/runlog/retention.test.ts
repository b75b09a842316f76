// Retention (src/runlog/retention.ts): logs of runs finished before the cutoff and the finished part
// of the notification outbox older than it are pruned in bounded batches; run rows, their events and
// summaries, newer logs and pending notifications stay.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { emptyConfig, type KubescribeConfig } from '../../src/config/job-definition.ts';
import type { Db } from '../../src/runlog/db.ts';
import { Retention } from '../../src/runlog/retention.ts';
import { advisoryLockKey } from '../../src/runlog/sql/advisory-lock.ts';
import pg from 'pg';
import { ENGINES } from '../support/runlog-engines.ts';
import { count, openSharedRunLog, seedRun, type SharedRunLog } from './shared-runlog.ts';

const DAY = 86_400_000;
const config = (retention: KubescribeConfig['retention']): KubescribeConfig => ({ ...emptyConfig(), retention });

for (const engine of ENGINES) {
  describe(`retention (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
    });
    after(() => shared?.close());

    /** A run of `job` finished `daysAgo` days ago (null: still running) with `chunks` log chunks. */
    async function runWithLog(job: string, daysAgo: number | null, chunks: number, status = 'succeeded'): Promise<string> {
      const run = await seedRun(db, { job, status: 'running', created_at: new Date(Date.now() - (daysAgo ?? 1) * DAY - 60_000) });
      await db.query(
        `INSERT INTO run_logs (run_id, seq, stream, at, text)
         SELECT $1, g, 'stdout', now(), 'line ' || g || E'\\n' FROM generate_series(1, $2::int) AS g`,
        [run.run_id, chunks],
      );
      if (daysAgo !== null) {
        await db.query(`UPDATE runs SET status = $2, finished_at = $3, error_message = 'kept' WHERE run_id = $1`, [run.run_id, status, new Date(Date.now() - daysAgo * DAY)]);
      }
      return run.run_id;
    }
    const chunksOf = (runId: string) => count(db, 'run_logs WHERE run_id = $1', [runId]);
    const prunedAt = async (runId: string) => (await db.query<{ at: Date | null }>('SELECT log_pruned_at AS at FROM runs WHERE run_id = $1', [runId]))[0]!.at;

    it('prunes the logs of runs finished before the cutoff, at most one batch of chunks per pass, and keeps the rest', async () => {
      const long = await runWithLog('logs', 100, 2500, 'failed');
      const short = await runWithLog('logs', 95, 3);
      const recent = await runWithLog('logs', 10, 5);
      const live = await runWithLog('logs', null, 4);
      const otherJobOld = await runWithLog('other', 200, 2);
      const runsBefore = await count(db, 'runs');
      const eventsBefore = await count(db, 'run_events');
      const retention = new Retention({ db, config: config({ logs_ms: 90 * DAY }), batch: { runs: 100, chunks: 1000 } });

      const passes = [];
      for (let i = 0; i < 10; i++) {
        const pass = await retention.tick();
        passes.push(pass);
        assert.ok(pass.logs!.chunks <= 1000, `pass ${i} deleted ${pass.logs!.chunks} chunks`);
        if (!pass.more) break;
      }
      // 2,505 old chunks: three full passes (1000, 1000, 505 with the short logs), then nothing more.
      assert.deepEqual(passes.map((p) => p.logs!.chunks), [1000, 1000, 505]);
      assert.equal(passes.at(-1)!.more, false);
      for (const runId of [long, short, otherJobOld]) {
        assert.equal(await chunksOf(runId), 0);
        assert.ok(await prunedAt(runId), 'marked log_pruned_at');
      }
      assert.equal(await chunksOf(recent), 5);
      assert.equal(await chunksOf(live), 4);
      assert.equal(await prunedAt(recent), null);
      assert.equal(await prunedAt(live), null);
      // The run rows, their outcome and their events are all still there.
      assert.equal(await count(db, 'runs'), runsBefore);
      assert.equal(await count(db, 'run_events'), eventsBefore);
      const [kept] = await db.query<{ status: string; error_message: string }>('SELECT status, error_message FROM runs WHERE run_id = $1', [long]);
      assert.deepEqual(kept, { status: 'failed', error_message: 'kept' });
      // Nothing left to do: the next pass deletes nothing.
      assert.deepEqual((await retention.tick()).logs, { chunks: 0, runs: 0, candidates: 0 });
    });

    it('marks a run pruned only once its last chunk is gone', async () => {
      const runId = await runWithLog('marking', 400, 30);
      const retention = new Retention({ db, config: config({ logs_ms: 90 * DAY }), batch: { runs: 100, chunks: 20 } });
      const first = await retention.tick();
      assert.equal(first.logs!.chunks, 20);
      assert.equal(first.more, true);
      assert.equal(await chunksOf(runId), 10);
      assert.equal(await prunedAt(runId), null);
      await retention.tick();
      assert.equal(await chunksOf(runId), 0);
      assert.ok(await prunedAt(runId));
    });

    it('prunes finished deliveries, their attempts and dispatched events older than the cutoff; keeps pending ones and newer ones', async () => {
      await seedRun(db, { job: 'alerts' });
      const ago = (days: number) => new Date(Date.now() - days * DAY);
      const event = async (key: string, days: number, dispatched: boolean) => (await db.query<{ id: string }>(
        `INSERT INTO notification_events (kind, job, dedupe_key, created_at, dispatched_at) VALUES ('missed', 'alerts', $1, $2, $3) RETURNING event_id::text AS id`,
        [key, ago(days), dispatched ? ago(days) : null],
      ))[0]!.id;
      const delivery = async (eventId: string, channel: string, state: string, days: number, attempts: number) => {
        const [row] = await db.query<{ id: string }>(
          `INSERT INTO notification_deliveries (event_id, job, channel, rule, state, created_at) VALUES ($1, 'alerts', $2, 'missed', $3, $4) RETURNING delivery_id::text AS id`,
          [eventId, channel, state, ago(days)],
        );
        for (let a = 1; a <= attempts; a++) {
          await db.query(`INSERT INTO notification_attempts (delivery_id, attempt, sender, started_at, finished_at, ok) VALUES ($1, $2, 'test', $3, $3, $4)`, [row!.id, a, ago(days), a === attempts]);
        }
        return row!.id;
      };
      const oldEvents = [];
      for (let i = 0; i < 7; i++) {
        const id = await event(`old-${i}`, 40, true);
        oldEvents.push(id);
        await delivery(id, 'slack', i % 3 === 0 ? 'failed' : i % 3 === 1 ? 'sent' : 'suppressed', 40, 2);
      }
      const oldPending = await event('old-pending', 40, true);
      await delivery(oldPending, 'email', 'pending', 40, 1);
      const undispatched = await event('old-undispatched', 40, false);
      const recent = await event('recent', 5, true);
      const recentDelivery = await delivery(recent, 'slack', 'sent', 5, 1);

      const retention = new Retention({ db, config: config({ notifications_ms: 30 * DAY }), batch: { outboxRows: 3 } });
      let pass = await retention.tick();
      assert.equal(pass.logs, null, 'logs: not configured, not touched');
      assert.equal(pass.notifications!.deliveries, 3, 'a batch is bounded');
      assert.equal(pass.notifications!.attempts, 6);
      for (let i = 0; i < 10 && pass.more; i++) pass = await retention.tick();
      assert.equal(pass.more, false);

      assert.equal(await count(db, `notification_events WHERE event_id = ANY ($1::uuid[])`, [oldEvents]), 0);
      assert.equal(await count(db, `notification_deliveries WHERE event_id = ANY ($1::uuid[])`, [oldEvents]), 0);
      assert.equal(await count(db, `notification_attempts a JOIN notification_deliveries d USING (delivery_id) WHERE d.event_id = ANY ($1::uuid[])`, [oldEvents]), 0);
      // A pending delivery (and so its event), an undispatched event and recent rows stay.
      assert.equal(await count(db, 'notification_deliveries WHERE event_id = $1', [oldPending]), 1);
      assert.equal(await count(db, 'notification_events WHERE event_id = ANY ($1::uuid[])', [[oldPending, undispatched, recent]]), 3);
      assert.equal(await count(db, 'notification_attempts WHERE delivery_id = $1', [recentDelivery]), 1);
    });

    it('prunes nothing without a retention section', async () => {
      const runId = await runWithLog('forever', 3000, 3);
      const pass = await new Retention({ db, config: emptyConfig() }).tick();
      assert.deepEqual(pass, { busy: false, logs: null, notifications: null, more: false });
      assert.equal(await chunksOf(runId), 3);
    });

    // PGlite is one process's database: only PostgreSQL has other replicas to take turns with.
    if (engine === 'postgres') {
      it('leaves the work to the replica that holds the lock', async () => {
        const runId = await runWithLog('replicas', 120, 3);
        const retention = new Retention({ db, config: config({ logs_ms: 90 * DAY }) });
        // Another replica's pass in progress, on its own connection: this one skips rather than waits or duplicates.
        const other = new pg.Client({ connectionString: process.env.DATABASE_URL });
        await other.connect();
        try {
          await other.query(`SET search_path TO "${shared.runlog.location.databaseSchema}"`);
          await other.query('BEGIN');
          const [row] = (await other.query(`SELECT pg_try_advisory_xact_lock($1::int4, hashtext(coalesce(current_schema(), ''))) AS ok`, [advisoryLockKey('retention')])).rows;
          assert.equal(row.ok, true);
          const busy = await retention.tick();
          assert.equal(busy.busy, true);
          assert.equal(busy.logs, null);
          assert.equal(await chunksOf(runId), 3);
          await other.query('COMMIT');
        } finally {
          await other.end();
        }
        await retention.tick();
        assert.equal(await chunksOf(runId), 0);
      });
    }
  });
}
