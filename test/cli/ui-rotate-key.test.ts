// `kubescribe ui rotate-key`, straight in the RunLog on both engines (the built binary as a child
// process): the key every server seals UI sign-ins with is replaced, so a cookie sealed before opens
// nowhere, and a RunLog without a key yet gets its first one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listUiSessionKeys } from '../../src/runlog/sql/ui-session-keys.ts';
import { SessionKeyring } from '../../src/ui/session-keyring.ts';
import { runCli } from '../support/cli.ts';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';

for (const engine of ENGINES) {
  describe(`kubescribe ui rotate-key (${engine})`, () => {
    let t: TestRunLog;
    before(async () => {
      t = await createTestRunLog(engine);
    });
    after(async () => {
      await t?.cleanup();
    });

    test('replaces the key: a cookie sealed before opens on no server afterwards', async () => {
      const cookie = await t.withDb(async (db) => (await new SessionKeyring(db).current()).seal('ksk_example'));
      const result = await runCli(['ui', 'rotate-key'], { env: { ...t.env, KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '' } });
      assert.equal(result.code, 0, result.err);
      assert.match(result.out, /^UI session key rotated \(key 2\): every UI sign-in sealed before has ended/);
      await t.withDb(async (db) => {
        assert.deepEqual((await listUiSessionKeys(db)).map((row) => row.key_id), [2]);
        const ring = new SessionKeyring(db);
        assert.equal(await ring.unseal(cookie), null);
        assert.equal((await ring.unseal((await ring.current()).seal('ksk_new')))?.session.t, 'ksk_new');
      });
    });
  });
}
