// The PostgreSQL engine's start and end as a short-lived process (every `kubescribe run`) sees them:
// a missing schema is found by the migration's first query rather than a look of its own, and close()
// does not keep the process waiting for the server to hang up.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { openPgEngine } from '../../src/runlog/pg-engine.ts';
import { schemaVersion } from '../../src/runlog/migrate.ts';

const url = process.env.DATABASE_URL;
const needsPostgres = { skip: url ? false : 'DATABASE_URL is not set' };

async function schemaExists(schema: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount === 1;
  } finally {
    await client.end();
  }
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

test('checkSchema: false leaves a missing schema alone; opening the RunLog creates and migrates it', needsPostgres, async () => {
  const schema = `ks_test_pgengine_${randomBytes(5).toString('hex')}`;
  try {
    const unchecked = await openPgEngine({ url: url!, schema, max: 1, checkSchema: false });
    await unchecked.close();
    assert.equal(await schemaExists(schema), false, 'no look, no CREATE SCHEMA');

    const db = await openRunLogDb({ databaseUrl: url!, databaseSchema: schema, home: '/nonexistent' });
    try {
      assert.equal(await schemaExists(schema), true);
      assert.ok(await schemaVersion(db) > 0, 'migrated');
      assert.deepEqual(await db.query('SELECT count(*) AS n FROM runs'), [{ n: 0 }]);
    } finally {
      await db.close();
    }
    // Again, on the schema as it now is: the fast path.
    const again = await openRunLogDb({ databaseUrl: url!, databaseSchema: schema, home: '/nonexistent' });
    await again.close();
  } finally {
    await dropSchema(schema);
  }
});

test('close() lets the process go at once: no socket of the pool keeps the event loop alive', needsPostgres, () => {
  // A fresh process, so that nothing else of the test runner's holds the loop: what it reports right
  // after close() is the pool's own. Before, the half-closed socket stayed (TCPSocketWrap) until the
  // server hung up, up to 40 ms at the end of every run on a loaded machine.
  const engine = fileURLToPath(new URL('../../src/runlog/pg-engine.ts', import.meta.url));
  const script = `
    const { openPgEngine } = await import(${JSON.stringify(engine)});
    const db = await openPgEngine({ url: process.env.DATABASE_URL, max: 2 });
    await Promise.all([db.query('SELECT pg_sleep(0.05)'), db.query('SELECT 1')]);
    const before = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    await db.close();
    const after = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    console.log(JSON.stringify({ before, after }));`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: process.env });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), { before: 2, after: 0 });
});
