/**
 * What one run costs in the RunLog, in bytes on disk (tables, indexes and TOAST), per table: how fast
 * the history grows and what `retention.logs` / `retention.notifications` give back
 * (docs/reporting.md#retention). A fresh schema on PostgreSQL, migrated by the real migrations, gets
 * `--runs` finished runs shaped like the example job's: params, metrics, outputs, four events, a log
 * of `--log-bytes` in 1 KiB chunks, the outcome's notification event and one sent delivery with
 * its attempt. Then it measures every table and prunes with the real retention loop.
 *
 *   DATABASE_URL=postgres://... npm run bench:bytes [-- --runs 20000] [-- --log-bytes 4096]
 *
 * A benchmark, not a test: it prints numbers and exits 0 whatever they are.
 */
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import pg from 'pg';
import { emptyConfig } from '../src/config/job-definition.ts';
import { openRunLogDb } from '../src/runlog/open-runlog.ts';
import { Retention } from '../src/runlog/retention.ts';
import { numberOption, out, progress, runWithCleanups, table, UsageError } from './report.ts';

const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const TABLES = ['runs', 'run_events', 'run_logs', 'notification_events', 'notification_deliveries', 'notification_attempts', 'run_totals', 'jobs'];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, 'log-bytes': { type: 'string' } } });
  const runs = numberOption('runs', values.runs, 20_000, 100, 5_000_000);
  const logBytes = numberOption('log-bytes', values['log-bytes'], 4096, 0, 10 * 1024 * 1024);
  const schema = `kubescribe_bench_bytes_${process.pid}`;
  // The schema goes whatever ends the bench, Ctrl-C included: a 20,000-run seed left behind is ~150 MB.
  const code = await runWithCleanups(async (cleanups) => {
    cleanups.push(async () => {
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    });
    // Migrated by the real code; seeded through a plain connection, without the API's statement timeout.
    const db = await openRunLogDb({ databaseUrl: DATABASE_URL, databaseSchema: schema, home: '/tmp' });
    cleanups.push(() => db.close());
    const seed = new pg.Client({ connectionString: DATABASE_URL });
    await seed.connect();
    cleanups.push(() => seed.end());
    await seed.query(`SET search_path TO ${schema}`);
    progress(`seeding ${runs} runs with ${logBytes} bytes of log each (load ${loadavg()[0]!.toFixed(2)})`);
    await seed.query(`INSERT INTO jobs (name) VALUES ('report')`);
    const chunks = Math.ceil(logBytes / 1024);
    const batch = 5000;
    for (let first = 1; first <= runs; first += batch) {
      const last = Math.min(runs, first + batch - 1);
      await seed.query('BEGIN');
      {
        const tx = seed;
        await tx.query(
          `INSERT INTO runs (run_id, job, trigger, triggered_by, params, status, executor, executor_ref, command, created_at, started_at, finished_at,
                             heartbeat_at, exit_code, outputs, metrics, log_bytes)
           SELECT gen_random_uuid(), 'report', 'schedule', 'scheduler@api-7d9f', '{"input": "examples/report/data.csv", "day": "2026-11-25"}',
                  'succeeded', 'kubernetes', '{"namespace": "kubescribe", "job": "report-29412345", "pod": "report-29412345-x7k2p"}',
                  '["python3", "examples/report/script.py"]', t - interval '40 s', t - interval '38 s', t, t, 0,
                  '{"report": {"path": "out/report.json", "rows": 1200}}', '{"rows_read": 1200, "rows_written": 12}', $3
           FROM (SELECT now() - interval '200 days' + g * interval '1 minute' AS t FROM generate_series($1::int, $2::int) AS g) AS x`,
          [first, last, logBytes],
        );
        await tx.query(
          `INSERT INTO run_events (event_id, run_id, at, type, from_status, to_status, actor, detail)
           SELECT gen_random_uuid(), r.run_id, r.created_at, e.type, e.from_status, e.to_status, 'scheduler@api-7d9f', '{}'
           FROM runs r CROSS JOIN (VALUES ('created', NULL, 'queued'), ('starting', 'queued', 'starting'), ('started', 'starting', 'running'), ('succeeded', 'running', 'succeeded'))
             AS e(type, from_status, to_status)
           WHERE r.run_number BETWEEN $1 AND $2`,
          [first, last],
        );
        if (chunks > 0) {
          await tx.query(
            `INSERT INTO run_logs (run_id, seq, stream, at, text)
             SELECT r.run_id, s, 'stdout', r.started_at, left(repeat('reading row ' || s || ' of examples/report/data.csv ok\n', 40), $3)
             FROM runs r CROSS JOIN generate_series(1, $4::int) AS s WHERE r.run_number BETWEEN $1 AND $2`,
            [first, last, Math.min(1024, logBytes), chunks],
          );
        }
        await tx.query(
          `UPDATE notification_events e SET created_at = r.finished_at, dispatched_at = r.finished_at,
                  outcome = '{"rule": "succeeded", "notified": true, "channels": {"slack": "pending"}}'
           FROM runs r WHERE r.run_id = e.run_id AND e.dispatched_at IS NULL`,
        );
        await tx.query(
          `INSERT INTO notification_deliveries (event_id, job, run_id, channel, rule, state, summary, attempts, sent_at, created_at)
           SELECT e.event_id, e.job, e.run_id, 'slack', 'succeeded', 'sent', NULL, 1, e.created_at, e.created_at FROM notification_events e
           WHERE NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.event_id = e.event_id)`,
        );
        await tx.query(
          `INSERT INTO notification_attempts (delivery_id, attempt, sender, started_at, finished_at, ok)
           SELECT d.delivery_id, 1, 'api-7d9f', now(), now(), true FROM notification_deliveries d
           WHERE NOT EXISTS (SELECT 1 FROM notification_attempts a WHERE a.delivery_id = d.delivery_id)`,
        );
      }
      await seed.query('COMMIT');
      progress(`${last} runs`);
    }
    // Compacted before each measurement, so both count live rows, not the dead versions updates leave.
    await seed.query('VACUUM FULL ANALYZE');
    const sizes = async () => Object.fromEntries(await Promise.all(TABLES.map(async (name) => {
      const [row] = await db.query<{ bytes: string }>('SELECT pg_total_relation_size($1::regclass)::text AS bytes', [name]);
      return [name, Number(row!.bytes)] as const;
    })));
    const before = await sizes();

    progress('pruning with retention.logs: 1d, retention.notifications: 2d');
    const config = { ...emptyConfig(), retention: { logs_ms: 86_400_000, notifications_ms: 2 * 86_400_000 } };
    const retention = new Retention({ db, config });
    const started = Date.now();
    let passes = 0;
    for (let pass = await retention.tick(); ; pass = await retention.tick()) {
      passes += 1;
      if (!pass.more) break;
    }
    const pruneMs = Date.now() - started;
    // In production a plain (auto)VACUUM makes the deleted rows' space reusable, so the tables stop
    // growing; VACUUM FULL here shows how much space the remaining rows need.
    await seed.query('VACUUM FULL ANALYZE');
    const after = await sizes();

    const kib = (bytes: number) => `${(bytes / 1024).toFixed(2)}`;
    out(`## What a run costs in the RunLog (\`npm run bench:bytes\`; PostgreSQL, ${runs} runs, ${logBytes} bytes of log each)`);
    out();
    out(table(['table', 'KiB per run', 'after retention (KiB per run)'],
      TABLES.map((name) => [name, kib(before[name]! / runs), kib(after[name]! / runs)]), [false, true, true]));
    const total = (s: Record<string, number>) => Object.values(s).reduce((a, b) => a + b, 0);
    out();
    out(`  total: ${kib(total(before) / runs)} KiB per run; ${kib(total(after) / runs)} KiB after pruning logs and the outbox`
      + ` (${passes} retention passes in ${(pruneMs / 1000).toFixed(1)} s, at most 1,000 rows per statement)`);
    out(`  machine: load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    return 0;
  });
  process.exitCode = code;
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\nusage: npm run bench:bytes [-- --runs N] [-- --log-bytes N]\n`);
    process.exit(2);
  }
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
