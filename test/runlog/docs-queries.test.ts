// Every SQL example in docs/runlog.md must run against a migrated RunLog and answer sensibly.
// Fences: ```sql is run as written (both engines); ```sql grafana after replacing Grafana's macros;
// ```sql admin (roles and grants) on PostgreSQL only, with this test's schema and a throwaway role.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../src/runlog/db.ts';
import { splitStatements } from '../../src/runlog/migrate.ts';
import { ensureUndeclaredJob, syncJobDefinition } from '../../src/runlog/sql/jobs.ts';
import { insertLogChunks, upsertLogChunk } from '../../src/runlog/sql/run-logs.ts';
import { insertEvent, setLogTotals, transitionRun } from '../../src/runlog/sql/runs.ts';
import { insertSlots } from '../../src/runlog/sql/schedule-slots.ts';
import type { RunStatus } from '../../src/runlog/types.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { ev, openSharedRunLog, seedRun, type SharedRunLog } from './shared-runlog.ts';

const DOC = readFileSync(new URL('../../docs/runlog.md', import.meta.url), 'utf8');
const SAMPLE_RUN = '0191b6a4-5c2e-7d3f-9a1b-4c5d6e7f8a9b';

interface Block {
  info: string;
  sql: string;
  line: number;
}

const blocks: Block[] = [...DOC.matchAll(/^```(sql[^\n]*)\n([\s\S]*?)^```/gm)].map((match) => ({
  info: match[1]!.trim(),
  sql: match[2]!.trim(),
  line: DOC.slice(0, match.index).split('\n').length,
}));

const grafana = (sql: string) =>
  sql
    .replace(/\$__timeGroupAlias\((\w+), 1h\)/g, `date_trunc('hour', $1) AS "time"`)
    .replace(/\$__timeGroupAlias\((\w+), 1d\)/g, `date_trunc('day', $1) AS "time"`)
    .replace(/\$__timeFilter\((\w+)\)/g, `$1 BETWEEN now() - interval '30 days' AND now()`);

const ago = (seconds: number) => new Date(Date.now() - seconds * 1000);

/** Finishes a running run as `status`, `durationS` after it started. */
async function finish(db: Db, runId: string, status: RunStatus, startedAt: Date, durationS: number, extra: Record<string, unknown> = {}) {
  const result = await transitionRun(db, runId, ['running'], status, {
    finished_at: new Date(startedAt.getTime() + durationS * 1000), exit_code: status === 'succeeded' ? 0 : 1, ...extra,
  }, ev(status, 'runner', { exit_code: status === 'succeeded' ? 0 : 1 }));
  assert.ok(result.changed);
}

async function seed(db: Db): Promise<void> {
  const def = (name: string, v: string) => ({
    name, description: null, tenant: null, labels: {}, definition: { command: ['python3', `${name}.py`], v }, content_hash: `${name}-${v}`, source: 'kubescribe.yaml',
  });
  await syncJobDefinition(db, def('report', 'v1'));
  await syncJobDefinition(db, def('report', 'v2'));
  await syncJobDefinition(db, def('ingest', 'v1'));
  await ensureUndeclaredJob(db, 'adhoc');

  const runs: [string, RunStatus | 'running', number, number, Record<string, number>][] = [
    // job, outcome, started seconds ago, duration, metrics
    ['report', 'succeeded', 2 * 86_400, 120, { rows_read: 900 }],
    ['report', 'succeeded', 86_400, 100, { rows_read: 1000 }],
    ['report', 'failed', 3 * 86_400, 30, { rows_read: 10 }],
    ['ingest', 'succeeded', 3 * 86_400, 600, {}],
    ['ingest', 'timed_out', 86_400, 900, {}],
  ];
  for (const [job, status, startedAgo, duration, metrics] of runs) {
    const startedAt = ago(startedAgo);
    const run = await seedRun(db, { job, job_content_hash: `${job}-v${job === 'report' ? 2 : 1}`, created_at: ago(startedAgo + 1) });
    await db.query('UPDATE runs SET started_at = $2, heartbeat_at = $2 WHERE run_id = $1', [run.run_id, startedAt]);
    await finish(db, run.run_id, status as RunStatus, startedAt, duration, { metrics });
  }
  // Live runs: one silent for ten minutes, one beating.
  const stale = await seedRun(db, { job: 'ingest', created_at: ago(900) });
  await db.query('UPDATE runs SET started_at = $2, heartbeat_at = $3 WHERE run_id = $1', [stale.run_id, ago(899), ago(600)]);
  const fresh = await seedRun(db, { job: 'adhoc', created_at: ago(30) });
  await db.query('UPDATE runs SET started_at = $2, heartbeat_at = $3 WHERE run_id = $1', [fresh.run_id, ago(29), ago(2)]);

  // The run the docs name: report failed a minute ago, with a capped log and a warning.
  const startedAt = ago(59);
  await seedRun(db, { run_id: SAMPLE_RUN, job: 'report', job_content_hash: 'report-v2', created_at: ago(60) });
  await db.query('UPDATE runs SET started_at = $2, heartbeat_at = $2 WHERE run_id = $1', [SAMPLE_RUN, startedAt]);
  await insertEvent(db, SAMPLE_RUN, ev('started', 'runner', { pid: 4242 }), 'starting', 'running');
  await insertLogChunks(db, SAMPLE_RUN, [
    { seq: 1, stream: 'stdout', at: startedAt.toISOString(), text: 'loading data.csv\n' },
    { seq: 3, stream: 'stdout', at: ago(40).toISOString(), text: 'row 9999\n' },
    { seq: 4, stream: 'stderr', at: ago(31).toISOString(), text: 'Traceback (most recent call last):\nValueError: bad row\n' },
  ]);
  await upsertLogChunk(db, SAMPLE_RUN, { seq: 2, stream: 'system', at: ago(35).toISOString(), text: '[kubescribe] 1 KB (1024 bytes) of output dropped here\n' });
  await insertEvent(db, SAMPLE_RUN, ev('warning', 'runner', { source: 'KUBESCRIBE_OUTPUT', line: 3 }));
  await finish(db, SAMPLE_RUN, 'failed', startedAt, 29, { error_type: 'ValueError', error_message: 'bad row', metrics: { rows_read: 1200 } });
  await setLogTotals(db, SAMPLE_RUN, 4096, 1024);
  await insertSlots(db, [
    { job: 'report', scheduled_for: ago(3_600), state: 'missed', reason: 'server down' },
    { job: 'ingest', scheduled_for: ago(7_200), state: 'skipped', reason: 'job suspended' },
  ]);
}

for (const engine of ENGINES) {
  describe(`docs/runlog.md queries (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
      await seed(db);
    });
    after(() => shared?.close());

    it('the doc holds the examples this test expects', () => {
      assert.ok(blocks.filter((b) => b.info === 'sql').length >= 12, `found ${blocks.length} blocks`);
      assert.equal(blocks.filter((b) => b.info === 'sql grafana').length, 3);
      assert.equal(blocks.filter((b) => b.info === 'sql admin').length, 1);
      for (const block of blocks) assert.match(block.info, /^sql( grafana| admin)?$/, `line ${block.line}`);
    });

    for (const block of blocks.filter((b) => b.info !== 'sql admin')) {
      it(`runs the query at docs/runlog.md:${block.line} and gets rows`, async () => {
        const sql = block.info === 'sql grafana' ? grafana(block.sql) : block.sql;
        assert.equal(splitStatements(sql).length, 1, 'one statement per example');
        const rows = await db.query(sql);
        assert.ok(rows.length > 0, `no rows from:\n${sql}`);
      });
    }

    const find = (words: RegExp) => {
      const block = blocks.find((b) => b.info === 'sql' && words.test(b.sql));
      assert.ok(block, `no example matching ${words}`);
      return block.sql;
    };

    it('answers the documented questions correctly on the seeded history', async () => {
      const failed = await db.query<{ run_id: string }>(find(/date_trunc\('week'/));
      assert.ok(failed.some((r) => String(r.run_id) === SAMPLE_RUN));

      const p95 = await db.query<{ job: string; runs: number; p95_seconds: unknown }>(find(/percentile_cont\(0\.95\)/));
      const ingest = p95.find((r) => r.job === 'ingest')!;
      assert.equal(ingest.runs, 2);
      assert.equal(Number(ingest.p95_seconds), 885); // 600 and 900 s: 600 + 0.95 × 300

      const rate = await db.query<{ job: string; finished: number; succeeded: number; success_pct: unknown }>(find(/success_pct/));
      assert.equal(rate.filter((r) => r.job === 'report').reduce((n, r) => n + r.finished, 0), 4);
      assert.equal(rate.filter((r) => r.job === 'report').reduce((n, r) => n + r.succeeded, 0), 2);

      const stale = await db.query<{ job: string }>(find(/silent_for/));
      assert.deepEqual(stale.map((r) => r.job), ['ingest']);

      const last = await db.query<{ job: string; run_id: string }>(find(/DISTINCT ON/));
      assert.deepEqual(last.map((r) => r.job), ['adhoc', 'ingest', 'report']);
      assert.equal(String(last[2]!.run_id), SAMPLE_RUN);

      const [log] = await db.query<{ log: string }>(find(/AS log\b/));
      assert.equal(log!.log, 'loading data.csv\n[kubescribe] 1 KB (1024 bytes) of output dropped here\nrow 9999\nTraceback (most recent call last):\nValueError: bad row\n');
      const [stderr] = await db.query<{ stderr: string }>(find(/AS stderr/));
      assert.equal(stderr!.stderr, 'Traceback (most recent call last):\nValueError: bad row\n');

      const metric = await db.query<{ runs: number; avg_rows_read: unknown }>(find(/avg_rows_read/));
      assert.equal(metric.reduce((n, r) => n + r.runs, 0), 4);

      const events = await db.query<{ type: string }>(find(/FROM run_events/));
      assert.deepEqual(events.map((e) => e.type), ['created', 'started', 'warning', 'failed']);

      const byPrefix = await db.query<{ job_revision: number; command: unknown }>(find(/LIKE '0191b6a4%'/));
      assert.equal(byPrefix.length, 1);
      assert.equal(byPrefix[0]!.job_revision, 2);
      assert.deepEqual(byPrefix[0]!.command, ['python3', 'report.py']);

      // The views (migration 10) against the same numbers straight from `runs` and `schedule_slots`.
      const [stats] = await db.query<{ success_rate: number; max_seconds: number }>(find(/FROM finished_runs/));
      const [direct] = await db.query<{ rate: number; max: number }>(
        `SELECT count(*) FILTER (WHERE status = 'succeeded')::float8 / count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'timed_out', 'lost')) AS rate,
                max(extract(epoch FROM finished_at - started_at))::float8 AS max
         FROM runs WHERE job = 'report' AND finished_at >= now() - interval '30 days'`);
      assert.equal(stats!.success_rate, direct!.rate);
      assert.equal(stats!.max_seconds, direct!.max);
      const sla = await db.query<{ job: string; missed: number; skipped: number }>(find(/FROM schedule_slot_outcomes/));
      assert.deepEqual(sla.map((r) => [r.job, Number(r.missed), Number(r.skipped)]), [['ingest', 0, 1], ['report', 1, 0]]);

      const capped = await db.query<{ run_id: string; dropped: string }>(find(/pg_size_pretty/));
      assert.deepEqual(capped.map((r) => [String(r.run_id), r.dropped]), [[SAMPLE_RUN, '1024 bytes']]);
    });

    if (engine === 'postgres') {
      it('the read-only Grafana role can read the tables and nothing more', async () => {
        const schema = shared.runlog.location.databaseSchema!;
        const role = `ks_test_reader_${randomBytes(4).toString('hex')}`;
        const admin = blocks.find((b) => b.info === 'sql admin')!.sql.replaceAll('kubescribe', schema).replaceAll('grafana_reader', role);
        try {
          for (const statement of splitStatements(admin)) await db.query(statement);
          await db.transaction(async (tx) => {
            await tx.query(`SET LOCAL ROLE ${role}`);
            const [row] = await tx.query<{ n: number }>('SELECT count(*) AS n FROM runs');
            assert.ok(row!.n > 0);
            await assert.rejects(tx.query("DELETE FROM runs WHERE job = 'adhoc'"), /permission denied/);
          });
        } finally {
          await db.query(`DROP OWNED BY ${role}`).catch(() => {});
          await db.query(`DROP ROLE IF EXISTS ${role}`);
        }
      });
    }
  });
}
