// KUBESCRIBE_ADMIN_TOKEN_FILE: `serve` starts usable in a cluster without `kubectl exec`. The real
// server process reads the token from the file (a mounted Secret) and makes sure an admin token with its
// hash exists: the token works, two starts make one row, the value is never printed, a revoked one
// stays revoked, and a malformed file stops the start with one line naming the file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { ensureBootstrapToken } from '../../src/runlog/sql/bootstrap-token.ts';
import { listTokens, revokeToken } from '../../src/runlog/sql/tokens.ts';
import { readAdminTokenFile } from '../../src/cli/admin-token-file.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { runCli } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';
import { spawnServer } from './support.ts';

const newToken = () => `ksk_${randomBytes(32).toString('base64url')}`;

for (const engine of ENGINES) {
  describe(`the first admin token from a file (${engine})`, () => {
    let runlog: TestRunLog;
    let dir: string;
    before(async () => {
      runlog = await createTestRunLog(engine);
      dir = mkdtempSync(join(tmpdir(), 'ks-admin-token-'));
      writeFileSync(join(dir, 'kubescribe.yaml'), 'jobs:\n  hello:\n    command: [echo, hi]\n');
    });
    after(async () => {
      await runlog.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    const bootstrapRows = async () => {
      const db = await openRunLogDb(runlog.location);
      try {
        return (await listTokens(db)).filter((t) => t.name.startsWith('bootstrap-admin'));
      } finally {
        await db.close();
      }
    };

    test('serve creates the admin token once; it works; a restart finds it; the value is never printed', async () => {
      const token = newToken();
      const file = join(dir, 'token');
      writeFileSync(file, `${token}\n`);
      const env = { ...runlog.env, KUBESCRIBE_ADMIN_TOKEN_FILE: file };
      for (const start of [1, 2]) {
        const server = await spawnServer(['serve', '--port', '0', '--no-scheduler'], { cwd: dir, env });
        try {
          assert.match(server.stderr(), start === 1 ? /admin token: created "bootstrap-admin" from / : /admin token: "bootstrap-admin" from .* exists/);
          assert.doesNotMatch(server.stderr(), /no API token yet/);
          const ok = await fetch(`${server.url}/runs`, { headers: { authorization: `Bearer ${token}` } });
          assert.equal(ok.status, 200, await ok.clone().text());
          const wrong = await fetch(`${server.url}/runs`, { headers: { authorization: `Bearer ${newToken()}` } });
          assert.equal(wrong.status, 401);
          assert.ok(!server.stderr().includes(token.slice(4)), 'the token is not in the server output');
        } finally {
          await server.kill();
        }
      }
      const rows = await bootstrapRows();
      assert.deepEqual(rows.map((r) => [r.name, r.scope, r.revoked_at]), [['bootstrap-admin', 'admin', null]]);
    });

    test('a malformed file is a one-line error naming the file, and serve does not start', async () => {
      const secret = 'hunter2-not-a-token';
      const named = (file: string) => new RegExp(`KUBESCRIBE_ADMIN_TOKEN_FILE ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `);
      const cases = [[secret, /does not hold a token/], ['', /it is empty/], [`${newToken()}\n${newToken()}\n`, /more than one line/]] as const;
      // The real serve for the first: its error is the file's reading error, which the others show in
      // this process (serve reads the file before anything else; a start cost ~1 s of CPU).
      const [[content, reason], ...others] = cases;
      const file = join(dir, 'bad-token');
      writeFileSync(file, content);
      const result = await runCli(['serve', '--port', '0', '--no-scheduler'], { cwd: dir, env: { ...runlog.env, KUBESCRIBE_ADMIN_TOKEN_FILE: file } });
      assert.equal(result.code, 2, result.err);
      const lines = result.err.trim().split('\n');
      assert.equal(lines.length, 1, result.err);
      assert.match(lines[0]!, new RegExp(`^kubescribe: ${named(file).source}`));
      assert.match(lines[0]!, reason);
      assert.ok(!result.err.includes(secret));
      for (const [other, otherReason] of others) {
        const otherFile = join(dir, 'bad-token-other');
        writeFileSync(otherFile, other);
        assert.throws(() => readAdminTokenFile(otherFile), (error: Error) => {
          assert.ok(error instanceof UsageError, String(error));
          assert.equal(error.message.split('\n').length, 1, error.message);
          assert.match(error.message, new RegExp(`^${named(otherFile).source}`));
          assert.match(error.message, otherReason);
          for (const word of other.split(/\s+/).filter(Boolean)) assert.ok(!error.message.includes(word), 'the file\'s content is not shown');
          return true;
        });
      }
    });

    test('a missing file (the optional Secret was not created) starts the server and says so', async () => {
      const file = join(dir, 'absent', 'token');
      const server = await spawnServer(['serve', '--port', '0', '--no-scheduler'], { cwd: dir, env: { ...runlog.env, KUBESCRIBE_ADMIN_TOKEN_FILE: file } });
      try {
        assert.match(server.stderr(), /does not exist \(its Secret is optional\)/);
      } finally {
        await server.kill();
      }
    });

    test('concurrent starts (replicas) make one row; a revoked token is not brought back; a new Secret value gets its own name', async () => {
      const db = await openRunLogDb(runlog.location);
      try {
        const token = newToken();
        const outcomes = await Promise.all([1, 2, 3, 4].map(() => ensureBootstrapToken(db, token)));
        assert.equal(outcomes.filter((o) => o.status === 'created').length, 1, JSON.stringify(outcomes));
        const name = outcomes.find((o) => o.status === 'created')!.name;
        assert.equal(name, 'bootstrap-admin-2', 'the first test\'s token holds bootstrap-admin');
        assert.ok(await revokeToken(db, name, 'test'));
        assert.deepEqual(await ensureBootstrapToken(db, token), { status: 'revoked', name });
        const rows = (await listTokens(db)).filter((t) => t.name.startsWith('bootstrap-admin'));
        assert.equal(rows.length, 2);
      } finally {
        await db.close();
      }
    });
  });
}
