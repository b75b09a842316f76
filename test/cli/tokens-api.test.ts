// kubescribe tokens create / list / revoke over the API of a running server that holds the RunLog,
// as `kubescribe dev` does (PGlite admits one process): found through the server file, authenticated
// with the local admin token, with the same output and exit codes as straight in the RunLog. The
// commands run through the CLI's main() in this process (runCliInProcess), but for the one that finds
// the RunLog held by another process, which is the real binary.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readEnvironment } from '../../src/config/environment.ts';
import { emptyConfig } from '../../src/config/job-definition.ts';
import { createToken } from '../../src/runlog/sql/tokens.ts';
import { startServer, type RunningServer } from '../../src/server/server.ts';
import { writeLocalToken, writeServerFile } from '../../src/cli/server-file.ts';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { runCli, runCliInProcess } from '../support/cli.ts';

for (const engine of ENGINES) {
  describe(`kubescribe tokens over the API of a running server (${engine})`, () => {
    let t: TestRunLog;
    let server: RunningServer;
    const env = (extra: Record<string, string> = {}) => ({ ...t.env, KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '', ...extra });
    const cli = (args: string[], extra: Record<string, string> = {}) => runCliInProcess(['tokens', ...args], { env: env(extra) });
    const status = async (token: string) =>
      (await fetch(`${server.url}/tokens`, { headers: { authorization: `Bearer ${token}` } })).status;

    before(async () => {
      t = await createTestRunLog(engine);
      // What `kubescribe dev` leaves for the CLI: the server file naming it and its admin token.
      server = await startServer({
        env: readEnvironment({ ...t.env }), config: emptyConfig(), host: '127.0.0.1', port: 0,
        executor: 'none', scheduler: false, cwd: t.home, logger: false,
      });
      const { token } = await createToken(server.db, { name: 'local-admin', scope: 'admin', expires_at: null, created_by: 'kubescribe dev' });
      writeLocalToken(t.home, token);
      writeServerFile(t.home, { url: server.url, pid: process.pid, kind: 'dev' });
    });
    after(async () => {
      await server.close();
      await t.cleanup();
    });

    test('create, list and revoke go through the running server with its local admin token', async () => {
      const created = await cli(['create', '--name', 'ci', '--scope', 'read', '--expires', '1h', '--json']);
      assert.equal(created.code, 0, created.err);
      const { token, name, scope, expires_at: expiresAt } = JSON.parse(created.out) as { token: string; name: string; scope: string; expires_at: string };
      assert.deepEqual([name, scope], ['ci', 'read']);
      assert.ok(Math.abs(new Date(expiresAt).getTime() - Date.now() - 3_600_000) < 60_000, expiresAt);
      assert.equal(await status(token), 403, 'the new read token authenticates, and may not manage tokens');

      const listed = await cli(['list', '--json']);
      assert.equal(listed.code, 0, listed.err);
      const rows = JSON.parse(listed.out) as Record<string, unknown>[];
      const ci = rows.find((row) => row.name === 'ci')!;
      assert.equal(ci.created_by, 'token:local-admin', 'created over the API, by the local admin token');
      assert.equal(ci.status, 'active');
      assert.deepEqual(Object.keys(ci).sort(), ['created_at', 'created_by', 'expires_at', 'last_used_at', 'name', 'revoked_at', 'revoked_by', 'scope', 'status']);
      assert.doesNotMatch(listed.out, /ksk_/);
      const table = await cli(['list']);
      assert.match(table.out, /^ci\s+read\s+active\s+.*token:local-admin/m);

      const revoked = await cli(['revoke', 'ci']);
      assert.equal(revoked.code, 0, revoked.err);
      assert.equal(revoked.out, 'token ci revoked; requests with it now get 401\n');
      assert.equal(await status(token), 401);
      const again = await cli(['revoke', 'ci']);
      assert.equal(again.code, 0, again.err);
      assert.match(again.out, /^token ci was already revoked on \d{4}-/);
    });

    test('over the API, a taken or unknown name is the same usage error as without; a token without admin scope is refused', async () => {
      const taken = await cli(['create', '--name', 'local-admin', '--scope', 'read']);
      assert.equal(taken.code, 2);
      assert.equal(taken.err, 'kubescribe: a token named local-admin already exists (see: kubescribe tokens list)\n');
      const unknown = await cli(['revoke', 'nobody']);
      assert.equal(unknown.code, 2);
      assert.equal(unknown.err, 'kubescribe: no token named nobody (see: kubescribe tokens list)\n');
      const { token } = await createToken(server.db, { name: 'trigger-only', scope: 'trigger', expires_at: null, created_by: 'test' });
      const refused = await cli(['create', '--name', 'sneaky', '--scope', 'admin'], { KUBESCRIBE_TOKEN: token });
      assert.equal(refused.code, 1);
      assert.match(refused.err, /token trigger-only has scope trigger; this endpoint needs admin; use a token with scope admin/);
      assert.equal(refused.out, '');
      const names = (JSON.parse((await cli(['list', '--json'])).out) as { name: string }[]).map((row) => row.name);
      assert.deepEqual(names, ['local-admin', 'ci', 'trigger-only'], 'nothing was created');
    });

    if (engine === 'pglite') {
      test('--runlog while the server holds the embedded RunLog says who holds it', async () => {
        const busy = await runCli(['tokens', 'list', '--runlog'], { env: env() });
        assert.equal(busy.code, 1);
        assert.match(busy.err, new RegExp(`^kubescribe: the embedded RunLog at .* is open in another process \\(pid ${process.pid}: `));
        assert.equal(busy.out, '');
      });
    }
  });
}
