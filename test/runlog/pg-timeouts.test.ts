// The bounds on every wait for PostgreSQL: defaults, overrides in DATABASE_URL, clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PG_TIMEOUTS, timeoutsFromUrl } from '../../src/runlog/pg-timeouts.ts';
import { openPgEngine } from '../../src/runlog/pg-engine.ts';

test('defaults apply when the URL names none, and the URL is passed on unchanged', () => {
  const url = 'postgres://ks:secret@db:5432/ops?sslmode=require';
  assert.deepEqual(timeoutsFromUrl(url), { url, timeouts: DEFAULT_PG_TIMEOUTS });
});

test('URL parameters override the defaults in their own units, and are taken out of the URL', () => {
  const { url, timeouts } = timeoutsFromUrl(
    'postgres://ks@db/ops?statement_timeout=30s&query_timeout=45000&connect_timeout=3&lock_timeout=0&keepalives_idle=1m&application_name=x');
  assert.equal(url, 'postgres://ks@db/ops?application_name=x');
  assert.equal(timeouts.statementMs, 30_000);
  assert.equal(timeouts.queryMs, 45_000);
  assert.equal(timeouts.connectMs, 3_000, 'connect_timeout counts seconds, as in libpq');
  assert.equal(timeouts.lockMs, 0, '0 turns a bound off');
  assert.equal(timeouts.keepAliveMs, 60_000);
  assert.equal(timeouts.idleInTransactionMs, DEFAULT_PG_TIMEOUTS.idleInTransactionMs);
});

test('a bad value is an error naming the parameter', () => {
  assert.throws(() => timeoutsFromUrl('postgres://db/ops?statement_timeout=soon'),
    /DATABASE_URL parameter statement_timeout="soon": expected a whole number or a duration such as "10s"/);
  assert.throws(() => timeoutsFromUrl('postgres://db/ops?query_timeout=-5'), /query_timeout="-5"/);
});

test('PostgreSQL sessions get the server-side bounds', { skip: process.env.DATABASE_URL ? false : 'DATABASE_URL is not set' }, async () => {
  const url = new URL(process.env.DATABASE_URL!);
  url.searchParams.set('statement_timeout', '3s');
  const db = await openPgEngine({ url: url.toString(), max: 1 });
  try {
    const [row] = await db.query<{ statement_timeout: string; lock_timeout: string; idle: string }>(
      `SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('lock_timeout') AS lock_timeout,
              current_setting('idle_in_transaction_session_timeout') AS idle`);
    assert.deepEqual(row, { statement_timeout: '3s', lock_timeout: '5s', idle: '1min' });
    await assert.rejects(db.query('SELECT pg_sleep(5)'), (error: { code?: string }) => error.code === '57014');
  } finally {
    await db.close();
  }
});
