// The shipped kubescribe.yaml starts clean: with no channel configured its job's alerts go nowhere
// (no warning, no failed delivery per run), while a config that names a missing channel still fails
// loudly, and a channel the environment configures is used by the example without editing it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../support/cli.ts';
import type { Db } from '../../src/runlog/db.ts';
import { jobRules } from '../../src/notify/settings.ts';
import { openSharedRunLog, type SharedRunLog } from '../runlog/shared-runlog.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { configFrom, finishedRun, makeNotifier } from './fixtures.ts';

const EXAMPLE = readFileSync(join(REPO_ROOT, 'kubescribe.yaml'), 'utf8');
const deliveriesOf = (db: Db, runId: string) =>
  db.query<{ channel: string; state: string; reason: string | null }>(
    'SELECT channel, state, reason FROM notification_deliveries WHERE run_id = $1 ORDER BY channel', [runId]);

describe(`the example kubescribe.yaml and notification channels (${ENGINES[0]})`, () => {
  let shared: SharedRunLog;
  let db: Db;
  before(async () => {
    shared = await openSharedRunLog(ENGINES[0]!);
    db = shared.db;
  });
  after(() => shared?.close());

  it('with no channel in the environment: no warning, and a failed run records no delivery', async () => {
    const notifier = makeNotifier(db, EXAMPLE, {});
    assert.deepEqual(notifier.unconfiguredChannels(), []);
    const runId = await finishedRun(db, 'report', 'failed', { error: { type: 'ValueError', message: 'bad row' } });
    const pass = await notifier.runOnce();
    assert.ok(pass.dispatched >= 1, 'the failure was dispatched (to no channel)');
    assert.deepEqual(await deliveriesOf(db, runId), []);
  });

  it('a channel the environment configures is used by the example as it is', () => {
    const notifier = makeNotifier(db, EXAMPLE, { SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/hook' });
    assert.deepEqual(jobRules(notifier.settings, configFrom(EXAMPLE), 'report').channels, ['slack']);
    assert.deepEqual(notifier.unconfiguredChannels(), []);
  });

  it('a config that names a channel nobody configured still warns and records the failed delivery', async () => {
    const strict = EXAMPLE.replace('    notify:\n', '    notify:\n      channels: [email]\n');
    assert.notEqual(strict, EXAMPLE, 'the example has a notify: block to extend');
    const notifier = makeNotifier(db, strict, {});
    assert.deepEqual(notifier.unconfiguredChannels(), [{ job: 'report', channel: 'email' }]);
    const runId = await finishedRun(db, 'report', 'failed', { error: { type: 'ValueError', message: 'bad row' } });
    await notifier.runOnce();
    const [delivery] = await deliveriesOf(db, runId);
    assert.equal(delivery?.state, 'failed');
    assert.match(delivery?.reason ?? '', /channel "email" is not configured/);
  });
});
