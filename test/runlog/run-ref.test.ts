// Naming a run: per-job run numbers assigned at insert, and resolveRunRef's forms (id, job#N, job~N,
// an id prefix) with its typed errors.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AmbiguousRunRefError, InvalidRunRefError, parseRunRef, resolveRunRef, RunRefNotFoundError } from '../../src/runlog/run-ref.ts';
import { listRuns } from '../../src/runlog/sql/run-queries.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { openSharedRunLog, seedRun, type SharedRunLog, VARIANTS } from './shared-runlog.ts';

describe('parseRunRef', () => {
  it('reads each form and refuses everything else', () => {
    assert.deepEqual(parseRunRef('0190A000-0000-7000-8000-000000000001'), { kind: 'id', runId: '0190a000-0000-7000-8000-000000000001' });
    assert.deepEqual(parseRunRef('report#42'), { kind: 'number', job: 'report', runNumber: 42 });
    assert.deepEqual(parseRunRef('etl-daily~7'), { kind: 'number', job: 'etl-daily', runNumber: 7 });
    assert.deepEqual(parseRunRef('0190a0'), { kind: 'prefix', prefix: '0190a0' });
    assert.deepEqual(parseRunRef('0190A000-00'), { kind: 'prefix', prefix: '0190a000-00' });
    for (const bad of ['', 'abc', 'report', 'report#0', 'report#-1', 'report#1.5', 'Report#1', 'report#99999999999', '#4', '0190a0000',
      '0190a000-0000-7000-8000-0000000000011', '{0190a000}', 'urn:uuid:0190a000', '0190a0000000700080000000000000001']) {
      assert.equal(parseRunRef(bad), null, bad);
    }
  });
});

for (const variant of VARIANTS) {
  describe(`run numbers and run references (${variant})`, () => {
    let shared: SharedRunLog;
    before(async () => {
      shared = await openSharedRunLog(variant);
    });
    after(() => shared?.close());

    it('numbers each job\'s runs 1, 2, 3 … in insert order, independently of other jobs', async () => {
      const a1 = await seedRun(shared.db, { job: 'numbered-a' });
      const b1 = await seedRun(shared.db, { job: 'numbered-b' });
      const a2 = await seedRun(shared.db, { job: 'numbered-a' });
      const numbers = await Promise.all([a1, b1, a2].map(async (run) => (await getRun(shared.db, run.run_id))!.run_number));
      assert.deepEqual(numbers, [1, 1, 2]);
      const listed = await listRuns(shared.db, { job: 'numbered-a' });
      assert.deepEqual(listed.map((run) => run.run_number), [2, 1], 'lists show the number too');
    });

    it('concurrent inserts of one job never share a number', async () => {
      const runs = await Promise.all(Array.from({ length: 8 }, () => seedRun(shared.db, { job: 'numbered-race' })));
      const numbers = await Promise.all(runs.map(async (run) => (await getRun(shared.db, run.run_id))!.run_number));
      assert.deepEqual([...numbers].sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('resolves a run id, job#N, job~N and a unique id prefix to the run id', async () => {
      const run = await seedRun(shared.db, { job: 'resolve-me' });
      const { run_number: n } = (await getRun(shared.db, run.run_id))!;
      assert.equal(await resolveRunRef(shared.db, run.run_id.toUpperCase()), run.run_id);
      assert.equal(await resolveRunRef(shared.db, `resolve-me#${n}`), run.run_id);
      assert.equal(await resolveRunRef(shared.db, `resolve-me~${n}`), run.run_id);
      assert.equal(await resolveRunRef(shared.db, run.run_id.slice(0, 30)), run.run_id);
    });

    it('names the ref in a typed error: not found, ambiguous (with the matches), malformed', async () => {
      await assert.rejects(resolveRunRef(shared.db, 'resolve-me#999'), (error: unknown) =>
        error instanceof RunRefNotFoundError && error.ref === 'resolve-me#999' && error.message === 'no run resolve-me#999');
      await assert.rejects(resolveRunRef(shared.db, 'ffff'), RunRefNotFoundError);
      // Like two UUIDv7 ids of runs created within the same ~65 s: the first 8 characters are the same.
      const prefix = '0abc1def';
      await seedRun(shared.db, { job: 'ambiguous', run_id: `${prefix}-0000-7000-8000-000000000001` });
      const second = await seedRun(shared.db, { job: 'ambiguous', run_id: `${prefix}-0000-7000-8000-000000000002` });
      await assert.rejects(resolveRunRef(shared.db, prefix), (error: unknown) =>
        error instanceof AmbiguousRunRefError && error.ref === prefix && error.matches.includes(second.run_id)
        && /matches more than one run .* give more of the id, or the run number \(job#N\)/.test(error.message));
      await assert.rejects(resolveRunRef(shared.db, 'not a ref'), (error: unknown) =>
        error instanceof InvalidRunRefError && /"not a ref" is not a run reference: expected a run id, a run number such as report#42/.test(error.message));
    });
  });
}
