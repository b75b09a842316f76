// The server log's secret scrubbing and dev's rotating log file.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RotatingLogFile, scrubSecrets, secretsOf } from '../../src/server/server-log.ts';

describe('server log', () => {
  test('tokens, bearer credentials and URL passwords never reach a line', () => {
    const secrets = secretsOf('postgres://kube:p%40ss-w0rd@db.internal:5432/runlog');
    assert.deepEqual(secrets, ['p%40ss-w0rd', 'p@ss-w0rd']);
    const line = JSON.stringify({
      msg: 'connect failed',
      err: { message: 'password authentication failed for postgres://kube:p%40ss-w0rd@db.internal:5432/runlog', stack: 'at p@ss-w0rd' },
      req: { url: '/runs?x=ksk_AbCdEf0123456789_-xyz', headers: { authorization: 'Bearer ksk_live_9f8e7d6c' } },
      smtp: 'smtp://alerts:hunter22@mail:587',
      other: 'Authorization: bearer abc.def.ghi',
    });
    const scrubbed = scrubSecrets(line, secrets);
    for (const secret of ['p%40ss-w0rd', 'p@ss-w0rd', 'AbCdEf0123456789', 'live_9f8e7d6c', 'hunter22', 'abc.def.ghi']) {
      assert.ok(!scrubbed.includes(secret), `${secret} in ${scrubbed}`);
    }
    assert.match(scrubbed, /postgres:\/\/kube:\*\*\*@db\.internal/);
    assert.match(scrubbed, /Bearer \*\*\*/);
    assert.ok(JSON.parse(scrubbed), 'still one JSON line');
    assert.deepEqual(secretsOf('postgres://postgres@127.0.0.1/test'), []);
  });

  test('the log file keeps the previous start as .1, rotates past its size, and ignores writes after close', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-log-'));
    try {
      const path = join(dir, 'home', 'server.log');
      const first = new RotatingLogFile(path, 1000);
      first.write('first start\n');
      first.close();
      const second = new RotatingLogFile(path, 1000);
      assert.equal(readFileSync(`${path}.1`, 'utf8'), 'first start\n');
      for (let i = 0; i < 30; i++) second.write(`${String(i).padStart(99, '.')}\n`);
      assert.ok(statSync(path).size <= 1000 && statSync(`${path}.1`).size <= 1000, 'both files stay under the cap');
      assert.match(readFileSync(path, 'utf8'), /\.29\n$/);
      second.close();
      second.write('after close\n');
      assert.ok(!readFileSync(path, 'utf8').includes('after close'));
      assert.equal(statSync(path).mode & 0o777, 0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
