import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../src/runlog/db.ts';
import { syncJobDefinition } from '../../src/runlog/sql/jobs.ts';
import { readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { insertRunsIsolated, insertRunsReturning } from '../../src/runlog/sql/run-writes.ts';
import { getRun, type EventInput, type NewRun } from '../../src/runlog/sql/runs.ts';
import { createToken, findLiveTokens, revokeToken } from '../../src/runlog/sql/tokens.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { openSharedRunLog, type SharedRunLog, VARIANTS } from './shared-runlog.ts';

function entry(job: string, overrides: Partial<NewRun> = {}): { run: NewRun; event: EventInput } {
  const createdAt = new Date();
  const run: NewRun = {
    run_id: uuidv7(), job, job_content_hash: 'hash-batch', trigger: 'api', triggered_by: 'token:ci',
    params: { n: 1, nested: { list: [1, 'two', null] } }, status: 'queued', executor: 'local',
    command: ['python3', 'x.py'], labels: { team: 'data' }, created_at: createdAt, ...overrides,
  };
  return { run, event: { event_id: uuidv7(), at: createdAt, type: 'created', actor: 'token:ci', detail: { trigger: 'api' } } };
}

for (const engine of VARIANTS) {
  describe(`batched run inserts and token lookups (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    let revision: number;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
      revision = await syncJobDefinition(db, {
        name: 'batch', description: null, tenant: null, labels: {}, definition: { command: ['true'] },
        content_hash: 'hash-batch', source: 'kubescribe.yaml',
      });
    });
    after(() => shared?.close());

    it('writes every run of a batch with its revision and its created event, in input order', async () => {
      const entries = [entry('batch'), entry('batch', { idempotency_key: `k-${uuidv7()}` }), entry('batch', { attempt: 2 })];
      const rows = await insertRunsReturning(db, entries);
      assert.deepEqual(rows.map((row) => row?.run_id), entries.map((e) => e.run.run_id));
      for (const [i, row] of rows.entries()) {
        assert.equal(row!.job_revision, revision);
        assert.equal(row!.status, 'queued');
        assert.deepEqual(row!.params, entries[i]!.run.params);
        assert.deepEqual(row!.command, ['python3', 'x.py']);
        assert.equal(row!.created_at.getTime(), entries[i]!.run.created_at.getTime());
        const stored = await getRun(db, row!.run_id);
        assert.deepEqual(stored, row, 'RETURNING gives the same record getRun reads');
        const events = await readRunEvents(db, row!.run_id);
        assert.deepEqual(events.map((e) => [e.type, e.to_status, e.actor]), [['created', 'queued', 'token:ci']]);
        assert.equal(events[0]!.event_id, entries[i]!.event.event_id);
      }
      assert.equal(rows[2]!.attempt, 2);
    });

    it('answers null, writing nothing, for a run whose idempotency key is taken — also within the batch', async () => {
      const key = `nightly-${uuidv7()}`;
      const [earlier] = await insertRunsReturning(db, [entry('batch', { idempotency_key: key })]);
      const sameKeyTwice = `twice-${uuidv7()}`;
      const entries = [entry('batch', { idempotency_key: key }), entry('batch', { idempotency_key: sameKeyTwice }),
        entry('batch', { idempotency_key: sameKeyTwice }), entry('batch')];
      const rows = await insertRunsReturning(db, entries);
      assert.ok(earlier);
      assert.equal(rows[0], null, 'key taken by an earlier statement');
      assert.equal(rows[1]!.run_id, entries[1]!.run.run_id);
      assert.equal(rows[2], null, 'key taken by an earlier row of the same batch');
      assert.equal(rows[3]!.run_id, entries[3]!.run.run_id);
      for (const skipped of [entries[0]!, entries[2]!]) {
        assert.equal(await getRun(db, skipped.run.run_id), null);
        assert.deepEqual(await readRunEvents(db, skipped.run.run_id), [], 'no event for a run that was not written');
      }
    });

    it('insertRunsIsolated fails only the bad row of a batch and writes the others', async () => {
      const good = [entry('batch'), entry('batch')];
      const bad = entry('no-such-job');
      const results = await insertRunsIsolated(db, [good[0]!, bad, good[1]!]);
      assert.equal((results[0] as { run_id: string }).run_id, good[0]!.run.run_id);
      assert.ok(results[1] instanceof Error, 'the row violating the jobs foreign key gets its own error');
      assert.match((results[1] as Error).message, /foreign key|jobs/);
      assert.equal((results[2] as { run_id: string }).run_id, good[1]!.run.run_id);
      assert.equal(await getRun(db, bad.run.run_id), null);
      assert.ok(await getRun(db, good[1]!.run.run_id));
    });

    it('insertRunsIsolated passes a single row\'s error through as a rejection', async () => {
      await assert.rejects(insertRunsIsolated(db, [entry('no-such-job')]), /foreign key|jobs/);
    });

    it('with a token, writes the run only for a live token that may trigger, naming its owner', async () => {
      const good = await createToken(db, { name: `g-${uuidv7()}`, scope: 'trigger', expires_at: null, created_by: 'test' });
      const reader = await createToken(db, { name: `r-${uuidv7()}`, scope: 'read', expires_at: null, created_by: 'test' });
      const gone = await createToken(db, { name: `x-${uuidv7()}`, scope: 'admin', expires_at: null, created_by: 'test' });
      await revokeToken(db, gone.row.name);
      const old = await createToken(db, { name: `o-${uuidv7()}`, scope: 'admin', expires_at: new Date(Date.now() - 1000), created_by: 'test' });
      const withToken = (token: string) => {
        const e = entry('batch', { triggered_by: null });
        return { ...e, event: { ...e.event, actor: null }, token };
      };
      const entries = [withToken(good.token), withToken(reader.token), withToken(gone.token), withToken(old.token), withToken('ksk_unknown'), entry('batch')];
      const rows = await insertRunsReturning(db, entries);
      assert.equal(rows[0]!.triggered_by, `token:${good.row.name}`);
      assert.equal((await readRunEvents(db, rows[0]!.run_id))[0]!.actor, `token:${good.row.name}`);
      assert.deepEqual(rows.slice(1, 5), [null, null, null, null], 'read scope, revoked, expired and unknown tokens write nothing');
      for (const refused of entries.slice(1, 5)) assert.equal(await getRun(db, refused.run.run_id), null);
      assert.equal(rows[5]!.triggered_by, 'token:ci', 'a row without a token in the same batch is unaffected');
    });

    it('looks several tokens up in one statement: live ones found, revoked and unknown ones null, in order', async () => {
      const a = await createToken(db, { name: `a-${uuidv7()}`, scope: 'read', expires_at: null, created_by: 'test' });
      const b = await createToken(db, { name: `b-${uuidv7()}`, scope: 'trigger', expires_at: null, created_by: 'test' });
      const expired = await createToken(db, { name: `e-${uuidv7()}`, scope: 'admin', expires_at: new Date(Date.now() - 1000), created_by: 'test' });
      assert.equal(await revokeToken(db, b.row.name), true);
      const found = await findLiveTokens(db, [b.token, a.token, 'ksk_unknown', a.token, expired.token]);
      assert.deepEqual(found.map((row) => row?.name ?? null), [null, a.row.name, null, a.row.name, null]);
      assert.equal(found[1]!.scope, 'read');
      assert.equal(Object.hasOwn(found[1]!, 'token_hash'), false, 'the hash is not handed out with the row');
    });
  });
}
