// The UI's session keys in the RunLog (migration 0014) on each engine: the first key is created once
// even by servers starting together, every keyring of one RunLog opens the others' cookies (a restart,
// a replica), a rotation ends old cookies on every keyring within its refresh, a cookie of a newer key
// (another replica rotated first) is opened at once, and tampered or foreign cookies open nowhere.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { ensureUiSessionKey, listUiSessionKeys, rotateUiSessionKey } from '../../src/runlog/sql/ui-session-keys.ts';
import { SessionKeys } from '../../src/ui/session.ts';
import { SessionKeyring } from '../../src/ui/session-keyring.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { openSharedRunLog, type SharedRunLog } from './shared-runlog.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The cookie with one base64url character of its sealed part changed. */
function tampered(cookie: string): string {
  const at = cookie.length - 5;
  return cookie.slice(0, at) + (cookie[at] === 'A' ? 'B' : 'A') + cookie.slice(at + 1);
}

for (const engine of ENGINES) {
  describe(`UI session keys in the RunLog (${engine})`, { concurrency: false }, () => {
    let shared: SharedRunLog;
    let db: Db;
    let second: Db;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
      // A second connection pool stands for another server process on PostgreSQL; PGlite has one owner.
      second = engine === 'postgres' ? await openRunLogDb(shared.runlog.location) : db;
    });
    after(async () => {
      if (second !== db) await second?.close();
      await shared?.close();
    });

    it('servers starting together on an empty table create one key and all seal with it', async () => {
      assert.deepEqual(await listUiSessionKeys(db), []);
      const rings = Array.from({ length: 6 }, (_, i) => new SessionKeyring(i % 2 ? second : db));
      const current = await Promise.all(rings.map((ring) => ring.current()));
      const rows = await listUiSessionKeys(db);
      assert.equal(rows.length, 1);
      assert.deepEqual(new Set(current.map((keys) => keys.keyId)), new Set([rows[0]!.key_id]));
      assert.equal(Buffer.from(rows[0]!.secret, 'base64url').length, 32);
      await ensureUiSessionKey(db);
      assert.equal((await listUiSessionKeys(db)).length, 1, 'a later ensure leaves the key alone');
    });

    it('a restarted server and another replica open the cookie; tampered, relabelled and foreign cookies open nowhere', async () => {
      const first = new SessionKeyring(db);
      const cookie = (await first.current()).seal('ksk_example');
      // A new keyring is what a restarted process (or another replica) has: nothing in memory.
      for (const ring of [new SessionKeyring(db), new SessionKeyring(second)]) {
        const opened = await ring.unseal(cookie);
        assert.equal(opened?.session.t, 'ksk_example');
        assert.equal(opened.keys.mac('csrf', opened.session.s), (await first.unseal(cookie))!.keys.mac('csrf', opened.session.s),
          'the CSRF token is the same on every server');
      }
      const ring = new SessionKeyring(second);
      assert.equal(await ring.unseal(tampered(cookie)), null);
      assert.equal(await ring.unseal(cookie.replace(/^\d+\./, '7.')), null, 'a cookie relabelled with another key id');
      assert.equal(await ring.unseal(cookie.replace(/^\d+\./, '')), null, 'a cookie of the old per-process format');
      assert.equal(await ring.unseal(new SessionKeys((await ring.current()).keyId, Buffer.alloc(32, 7)).seal('ksk_example')), null,
        'a cookie sealed under another secret with the same key id');
      assert.equal(await ring.unseal('not a cookie'), null);
      const old = (await first.current()).seal('ksk_example', Date.now() - 13 * 3600_000);
      assert.equal(await ring.unseal(old), null, 'a cookie older than the session lifetime');
    });

    it('a rotation ends old cookies on every server within its refresh and new cookies open at once everywhere', async () => {
      const stale = new SessionKeyring(db, { refreshMs: 300 });
      const before = (await stale.current()).seal('ksk_before');
      assert.ok(await stale.unseal(before));
      const newId = await rotateUiSessionKey(second);
      const rows = await listUiSessionKeys(db);
      assert.deepEqual(rows.map((row) => row.key_id), [newId], 'only the new key is left');

      // A replica that rotated (or restarted after): old cookies get no session, new ones do.
      const fresh = new SessionKeyring(second);
      assert.equal(await fresh.unseal(before), null);
      const after = (await fresh.current()).seal('ksk_after');
      assert.equal((await fresh.current()).keyId, newId);
      // A server that has not re-read yet opens a newer key's cookie at once (it re-reads for it)...
      assert.equal((await stale.unseal(after))?.session.t, 'ksk_after');
      // ...and, once it has re-read, no longer opens the old one.
      await sleep(350);
      assert.equal(await stale.unseal(before), null);
      assert.equal((await stale.current()).keyId, newId);
    });

    it('two rotations at once leave one key, without an error', async () => {
      const [a, b] = await Promise.all([rotateUiSessionKey(db), rotateUiSessionKey(second)]);
      const rows = await listUiSessionKeys(db);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.key_id, Math.max(a, b), `rotations returned ${a} and ${b}`);
    });
  });
}
