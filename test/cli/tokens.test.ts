// kubescribe tokens create / list / revoke, straight in the RunLog on both engines; the tokens they
// make really authenticate against the API, expire, and stop working when revoked (over the API of a
// running server: tokens-api.test.ts). The commands run through the CLI's main() in this process
// (runCliInProcess: what they print and return is the point), but for one create by the real binary.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { emptyConfig } from '../../src/config/job-definition.ts';
import { RecordingExecutor } from '../../src/executors/executor.ts';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { runCli, runCliInProcess } from '../support/cli.ts';

async function probeRoutes(app: FastifyInstance): Promise<void> {
  for (const scope of ['read', 'trigger', 'admin'] as const) {
    app.get(`/probe/${scope}`, { config: { scope } }, async (request) => ({ actor: request.actor }));
  }
}

const DAY = 86_400_000;

for (const engine of ENGINES) {
  describe(`kubescribe tokens (${engine})`, () => {
    let t: TestRunLog;
    const secrets: string[] = [];
    const env = () => ({ ...t.env, KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '' });
    // The commands and the API share one opening of the RunLog (each costs PGlite ~0.45 s of CPU),
    // let go only for the binary's create.
    const cli = async (args: string[]) => runCliInProcess(['tokens', ...args], { env: env(), db: await t.hold() });

    // Serves the real API on this RunLog only while `fn` runs.
    async function withApi<T>(fn: (probe: (scope: string, token: string) => Promise<number>) => Promise<T>): Promise<T> {
      const db = await t.hold();
      const app = await buildApp({ db, config: emptyConfig(), executor: new RecordingExecutor() }, [probeRoutes]);
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      try {
        return await fn(async (scope, token) => (await fetch(`${url}/probe/${scope}`, { headers: { authorization: `Bearer ${token}` } })).status);
      } finally {
        await app.close();
      }
    }

    async function create(name: string, scope: string, ...extra: string[]) {
      const result = await cli(['create', '--name', name, '--scope', scope, '--json', ...extra]);
      assert.equal(result.code, 0, result.err);
      const created = JSON.parse(result.out) as { name: string; scope: string; token: string; expires_at: string | null };
      secrets.push(created.token);
      return created;
    }

    before(async () => {
      t = await createTestRunLog(engine);
    });
    after(() => t.cleanup());

    test('create --json prints name, scope, the token and its expiry; the token authenticates with its scope', async () => {
      const before = Date.now();
      const created = await create('ci', 'trigger', '--expires', '90d');
      assert.deepEqual(Object.keys(created).sort(), ['expires_at', 'name', 'scope', 'token']);
      assert.equal(created.name, 'ci');
      assert.equal(created.scope, 'trigger');
      assert.match(created.token, /^ksk_[A-Za-z0-9_-]{43}$/);
      const expires = new Date(created.expires_at!).getTime();
      assert.ok(expires >= before + 90 * DAY && expires <= Date.now() + 90 * DAY, created.expires_at!);
      await withApi(async (probe) => {
        assert.equal(await probe('read', created.token), 200);
        assert.equal(await probe('trigger', created.token), 200);
        assert.equal(await probe('admin', created.token), 403);
      });
    });

    test('create without --json prints the token alone on stdout and says it will not be shown again', async () => {
      // PGlite admits one process at a time.
      await t.release();
      const result = await runCli(['tokens', 'create', '--name', 'ops', '--scope', 'admin'], { env: env() });
      assert.equal(result.code, 0, result.err);
      const token = result.out.trimEnd();
      secrets.push(token);
      assert.match(result.out, /^ksk_\S+\n$/);
      assert.match(result.err, /created token ops: scope admin, never expires/);
      assert.match(result.err, /only time it is shown/);
      await withApi(async (probe) => assert.equal(await probe('admin', token), 200));
    });

    test('list shows name, scope, status, dates and last use, and never a token value or hash', async () => {
      const used = await create('reader', 'read');
      await withApi(async (probe) => assert.equal(await probe('read', used.token), 200));
      const table = await cli(['list']);
      assert.equal(table.code, 0, table.err);
      const lines = table.out.trimEnd().split('\n');
      assert.match(lines[0]!, /^NAME\s+SCOPE\s+STATUS\s+CREATED\s+CREATED BY\s+EXPIRES\s+LAST USED\s+REVOKED$/);
      // Every time to the second with its zone (UTC, or this machine's offset).
      const at = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?:UTC|[+-]\d\d:\d\d)`;
      assert.match(table.out, new RegExp(String.raw`^ci\s+trigger\s+active\s+${at}\s+\S+\s+${at}\s+${at}\s+-$`, 'm'));
      assert.match(table.out, /^ops\s+admin\s+active\s+.*never/m);
      assert.match(table.out, new RegExp(String.raw`^reader\s+read\s+active\s+.*never\s+${at}\s+-$`, 'm'), 'last use is shown');
      const listed = await cli(['list', '--json']);
      const rows = JSON.parse(listed.out) as Record<string, unknown>[];
      assert.deepEqual(rows.map((row) => row.name), ['ci', 'ops', 'reader']);
      assert.deepEqual(Object.keys(rows[0]!).sort(), ['created_at', 'created_by', 'expires_at', 'last_used_at', 'name', 'revoked_at', 'revoked_by', 'scope', 'status']);
      assert.ok(rows[2]!.last_used_at);
      const hashes = await t.withDb((db) => db.query<{ token_hash: string }>('SELECT token_hash FROM api_tokens'));
      for (const output of [table.out, table.err, listed.out, listed.err]) {
        for (const secret of [...secrets, ...hashes.map((row) => row.token_hash)]) assert.ok(!output.includes(secret), 'a secret was printed');
        assert.doesNotMatch(output, /ksk_/);
      }
    });

    test('an expired token is rejected and listed as expired', async () => {
      const created = await create('brief', 'read', '--expires', '1s');
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, new Date(created.expires_at!).getTime() - Date.now() + 50)));
      await withApi(async (probe) => assert.equal(await probe('read', created.token), 401));
      assert.match((await cli(['list'])).out, /^brief\s+read\s+expired\s/m);
    });

    test('revoke stops the token at once; revoking again is fine; an unknown name is an error', async () => {
      const created = await create('doomed', 'trigger');
      const result = await cli(['revoke', 'doomed']);
      assert.equal(result.code, 0, result.err);
      assert.match(result.out, /token doomed revoked/);
      await withApi(async (probe) => assert.equal(await probe('read', created.token), 401));
      const listed = JSON.parse((await cli(['list', '--json'])).out) as { name: string; status: string; revoked_at: string | null; created_by: string | null; revoked_by: string | null }[];
      const row = listed.find((token) => token.name === 'doomed')!;
      assert.equal(row.status, 'revoked');
      assert.ok(row.revoked_at);
      assert.ok(row.revoked_by, 'who revoked it is recorded');
      assert.equal(row.revoked_by, row.created_by, 'the same OS user created and revoked it from the CLI');
      const again = await cli(['revoke', 'doomed']);
      assert.equal(again.code, 0, again.err);
      assert.match(again.out, /already revoked/);
      const unknown = await cli(['revoke', 'nobody']);
      assert.equal(unknown.code, 2);
      assert.equal(unknown.err, 'kubescribe: no token named nobody (see: kubescribe tokens list)\n');
    });

    test('bad scope, bad expiry, bad or duplicate name → exit 2 naming the problem, nothing created', async () => {
      const cases: [string[], RegExp][] = [
        [['--name', 'x1', '--scope', 'banana'], /^kubescribe: --scope banana: expected one of read, trigger, admin\n$/],
        [['--name', 'x2', '--scope', 'read', '--expires', 'soon'], /^kubescribe: --expires soon: expected a duration such as "15m", got "soon"\n$/],
        [['--name', 'x3', '--scope', 'read', '--expires', '0s'], /^kubescribe: --expires 0s: expected a duration greater than zero/],
        [['--name', 'ci', '--scope', 'read'], /^kubescribe: a token named ci already exists/],
        [['--name', 'doomed', '--scope', 'read'], /^kubescribe: a token named doomed already exists/],
        [['--name', 'two words', '--scope', 'read'], /^kubescribe: --name "two words": expected letters, digits/],
        [['--scope', 'read'], /required option '--name <name>' not specified/],
      ];
      for (const [args, expected] of cases) {
        const result = await cli(['create', ...args]);
        assert.equal(result.code, 2, args.join(' '));
        assert.match(result.err, expected);
        assert.equal(result.out, '');
      }
      const names = (JSON.parse((await cli(['list', '--json'])).out) as { name: string }[]).map((row) => row.name);
      assert.deepEqual(names, ['ci', 'ops', 'reader', 'brief', 'doomed']);
    });
  });
}
