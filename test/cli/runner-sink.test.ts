// Which sink `kubescribe run` picks (src/cli/runner-sink.ts): KUBESCRIBE_RUNLOG, KUBESCRIBE_API_URL
// with its credential, or a running `kubescribe dev` for this very RunLog, else the RunLog itself.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chooseRunnerSink } from '../../src/cli/runner-sink.ts';
import { writeLocalToken, writeServerFile } from '../../src/cli/server-file.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { runLogIdentity } from '../../src/runlog/runlog-identity.ts';

const base = (home: string) => ({ apiUrl: null, token: null, tokenFile: null, runlogMode: null, home, databaseUrl: null, databaseSchema: null });
const deadPid = () => spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;

describe('chooseRunnerSink', () => {
  test('no API, no server: the RunLog; KUBESCRIBE_RUNLOG=api then is an error', () => {
    const home = mkdtempSync(join(tmpdir(), 'ks-sink-'));
    assert.deepEqual(chooseRunnerSink(base(home)), { kind: 'direct' });
    assert.throws(() => chooseRunnerSink({ ...base(home), runlogMode: 'api' }), UsageError);
    assert.throws(() => chooseRunnerSink({ ...base(home), runlogMode: 'sideways' }), /KUBESCRIBE_RUNLOG=sideways/);
  });

  test('KUBESCRIBE_API_URL needs a credential; KUBESCRIBE_TOKEN_FILE is read again each time', () => {
    const home = mkdtempSync(join(tmpdir(), 'ks-sink-'));
    const env = { ...base(home), apiUrl: 'api.example:8080' };
    assert.throws(() => chooseRunnerSink(env), /KUBESCRIBE_TOKEN or KUBESCRIBE_TOKEN_FILE/);
    const byToken = chooseRunnerSink({ ...env, token: 'ksr_a' });
    assert.equal(byToken.kind, 'api');
    assert.equal(byToken.kind === 'api' && byToken.url, 'http://api.example:8080');
    assert.equal(byToken.kind === 'api' && byToken.credential.read(), 'ksr_a');
    const file = join(home, 'sa-token');
    writeFileSync(file, 'first\n');
    const byFile = chooseRunnerSink({ ...env, token: 'ksr_a', tokenFile: file });
    assert.ok(byFile.kind === 'api' && byFile.credential.rereadable);
    assert.equal(byFile.kind === 'api' && byFile.credential.read(), 'first', 'the file wins over KUBESCRIBE_TOKEN');
    writeFileSync(file, 'rotated\n');
    assert.equal(byFile.kind === 'api' && byFile.credential.read(), 'rotated');
    assert.deepEqual(chooseRunnerSink({ ...env, token: 'ksr_a', runlogMode: 'direct' }), { kind: 'direct' });
  });

  test('a running dev server for this RunLog is used with its token; one for another RunLog, or a dead one, is not', () => {
    const home = mkdtempSync(join(tmpdir(), 'ks-sink-'));
    writeLocalToken(home, 'ksk_local');
    const env = base(home);
    writeServerFile(home, { url: 'http://127.0.0.1:7070', pid: process.pid, runlog: runLogIdentity(env), kind: 'dev' });
    const local = chooseRunnerSink(env);
    assert.equal(local.kind === 'api' && local.why, 'local server');
    assert.equal(local.kind === 'api' && local.credential.read(), 'ksk_local');
    // The same server file seen by a runner with a DATABASE_URL: another RunLog.
    assert.deepEqual(chooseRunnerSink({ ...env, databaseUrl: 'postgres://u:p@db:5432/other' }), { kind: 'direct' });
    writeServerFile(home, { url: 'http://127.0.0.1:7070', pid: Number(deadPid()), runlog: runLogIdentity(env), kind: 'dev' });
    assert.deepEqual(chooseRunnerSink(env), { kind: 'direct' });
    // A server file of an older version names no RunLog: not used.
    writeServerFile(home, { url: 'http://127.0.0.1:7070', pid: process.pid, kind: 'dev' });
    assert.deepEqual(chooseRunnerSink(env), { kind: 'direct' });
  });

  test('a running serve for this RunLog is used only with the caller\'s token, never with dev\'s token file', () => {
    const home = mkdtempSync(join(tmpdir(), 'ks-sink-'));
    // A token file an earlier dev left: not serve's to use.
    writeLocalToken(home, 'ksk_local');
    const env = base(home);
    writeServerFile(home, { url: 'http://127.0.0.1:7071', pid: process.pid, runlog: runLogIdentity(env), kind: 'serve' });
    assert.deepEqual(chooseRunnerSink(env), { kind: 'direct' });
    const byToken = chooseRunnerSink({ ...env, token: 'ksk_mine' });
    assert.equal(byToken.kind === 'api' && byToken.url, 'http://127.0.0.1:7071');
    assert.equal(byToken.kind === 'api' && byToken.why, 'local server');
    assert.equal(byToken.kind === 'api' && byToken.credential.read(), 'ksk_mine');
    const file = join(home, 'my-token');
    writeFileSync(file, 'ksk_from_file\n');
    const byFile = chooseRunnerSink({ ...env, token: 'ksk_mine', tokenFile: file });
    assert.equal(byFile.kind === 'api' && byFile.credential.read(), 'ksk_from_file');
    // Another RunLog's serve is not used, token or not.
    assert.deepEqual(chooseRunnerSink({ ...env, token: 'ksk_mine', databaseUrl: 'postgres://db:5432/other' }), { kind: 'direct' });
  });

  test('the RunLog identity ignores the password and user, not the database or schema', () => {
    const at = (databaseUrl: string, databaseSchema: string | null = null) => runLogIdentity({ databaseUrl, databaseSchema, home: '/h' });
    assert.equal(at('postgres://a:x@db:5432/k'), at('postgres://b:y@db/k'));
    assert.notEqual(at('postgres://db/k'), at('postgres://db/other'));
    assert.notEqual(at('postgres://db/k', 's1'), at('postgres://db/k', 's2'));
    assert.notEqual(at('postgres://db/k'), runLogIdentity({ databaseUrl: null, databaseSchema: null, home: '/h' }));
  });
});
