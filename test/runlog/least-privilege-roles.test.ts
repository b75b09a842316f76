// The database roles docs/kubernetes.md ("The database") tells operators to create: a schema owner
// that runs the migration, and an API role with exactly the grants the doc lists. The grants are taken
// from the doc itself, and the real server runs on the API role end to end — the first admin token
// from a file, job sync at start, a triggered run that executes and records its log — so a grant the
// code needs and the doc lacks fails here. PostgreSQL only (roles and grants do not exist in PGlite's
// single-user world); CI sets DATABASE_URL to a superuser, which creates and drops the roles.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { REPO_ROOT, runCli, waitFor } from '../support/cli.ts';
import { spawnServer } from '../server/support.ts';

const ADMIN_URL = process.env.DATABASE_URL;

/** The grant statements of docs/kubernetes.md, for the given role names. */
function documentedGrants(owner: string, api: string): string[] {
  const doc = readFileSync(join(REPO_ROOT, 'docs/kubernetes.md'), 'utf8');
  const block = /```sql\nSET ROLE kubescribe_owner;\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, 'docs/kubernetes.md has the grants block');
  return block.replace(/kubescribe_owner/g, owner).replace(/kubescribe_api/g, api)
    .split(';').map((s) => s.trim()).filter((s) => s !== '');
}

for (const engine of ADMIN_URL ? ['postgres'] : []) {
  describe(`least-privilege database roles (${engine})`, () => {
    const id = randomBytes(4).toString('hex');
    const owner = `ks_owner_${id}`;
    const api = `ks_api_${id}`;
    const schema = `ks_grants_${id}`;
    let admin: pg.Client;
    let dir: string;
    const urlFor = (role: string) => {
      const url = new URL(ADMIN_URL!);
      url.username = role;
      url.password = `pw-${id}`;
      return url.toString();
    };

    before(async () => {
      admin = new pg.Client(ADMIN_URL);
      await admin.connect();
      await admin.query(`CREATE ROLE ${owner} LOGIN PASSWORD 'pw-${id}'`);
      await admin.query(`CREATE ROLE ${api} LOGIN PASSWORD 'pw-${id}' CONNECTION LIMIT 30`);
      await admin.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${owner}`);
      await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO ${api}`);
      dir = mkdtempSync(join(tmpdir(), 'ks-roles-'));
      writeFileSync(join(dir, 'kubescribe.yaml'), 'jobs:\n  hello:\n    command: [echo, hello from the api role]\n');
    });
    after(async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.query(`DROP OWNED BY ${api}`).catch(() => {});
      await admin.query(`DROP ROLE IF EXISTS ${api}`);
      await admin.query(`DROP ROLE IF EXISTS ${owner}`);
      await admin.end();
      rmSync(dir, { recursive: true, force: true });
    });

    test('the owner migrates; with the documented grants the API role serves, bootstraps its admin token and records a run', async () => {
      const base = { KUBESCRIBE_DB_SCHEMA: schema, KUBESCRIBE_HOME: join(dir, 'home'), KUBESCRIBE_CONFIG: join(dir, 'kubescribe.yaml') };
      const migrated = await runCli(['migrate'], { cwd: dir, env: { ...base, DATABASE_URL: urlFor(owner) } });
      assert.equal(migrated.code, 0, migrated.err);

      // Without the grants the API role cannot even read the schema version.
      const denied = await runCli(['runs'], { cwd: dir, env: { ...base, DATABASE_URL: urlFor(api) } });
      assert.notEqual(denied.code, 0);
      assert.match(denied.err, /permission denied/);

      const ownerClient = new pg.Client(urlFor(owner));
      await ownerClient.connect();
      try {
        await ownerClient.query(`SET search_path = ${schema}`);
        for (const statement of documentedGrants(owner, api)) await ownerClient.query(statement);
      } finally {
        await ownerClient.end();
      }

      const token = `ksk_${randomBytes(32).toString('base64url')}`;
      writeFileSync(join(dir, 'admin-token'), token);
      const server = await spawnServer(['serve', '--port', '0'], {
        cwd: dir, env: { ...base, DATABASE_URL: urlFor(api), KUBESCRIBE_ADMIN_TOKEN_FILE: join(dir, 'admin-token') },
      });
      try {
        assert.match(server.stderr(), /admin token: created "bootstrap-admin"/);
        const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
        const triggered = await fetch(`${server.url}/runs/trigger`, { method: 'POST', headers: auth, body: JSON.stringify({ job: 'hello' }) });
        assert.equal(triggered.status, 202, await triggered.clone().text());
        const runId = ((await triggered.json()) as { run_id: string }).run_id;
        const run = await waitFor(async () => {
          const body = (await (await fetch(`${server.url}/runs/${runId}`, { headers: auth })).json()) as { status: string };
          return ['succeeded', 'failed', 'lost'].includes(body.status) ? body : null;
        }, 60_000, 'the run to finish');
        assert.equal(run.status, 'succeeded', JSON.stringify(run));
        const log = await (await fetch(`${server.url}/runs/${runId}/logs`, { headers: auth })).text();
        assert.match(log, /hello from the api role/);
        const cancelled = await fetch(`${server.url}/runs/${runId}/cancel`, { method: 'POST', headers: auth });
        assert.ok(cancelled.status < 500, `cancel of a finished run answers without a server error: ${cancelled.status}`);
        // The run's end went through the totals triggers, and the stats read the views, with the documented grants.
        const stats = await fetch(`${server.url}/jobs/hello/stats?window=24h`, { headers: auth });
        assert.equal(stats.status, 200, await stats.clone().text());
        assert.equal(((await stats.json()) as { runs: { succeeded: number } }).runs.succeeded, 1);
        assert.equal((await fetch(`${server.url}/stats`, { headers: auth })).status, 200);
        assert.doesNotMatch(server.stderr(), /permission denied/);
      } finally {
        await server.kill();
      }
    });
  });
}
