// The runner end to end on the embedded RunLog (PGlite): the real `kubescribe run` binary supervising
// real child processes (the cases: runner-cases.ts; on PostgreSQL: runner-postgres.test.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.ts';
import { runnerCases } from './runner-cases.ts';

describe('kubescribe run (pglite)', () => runnerCases('pglite'));

describe('kubescribe run with no config file and no command', () => {
  test('says what to give', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ks-empty-'));
    const result = await runCli(['run'], { cwd: home, env: { KUBESCRIBE_HOME: home, DATABASE_URL: '' } });
    assert.equal(result.code, 2);
    assert.match(result.err, /no command: give one after --/);
    assert.deepEqual(readdirSync(home), [], 'nothing created');
  });
});
