// The jobs page's shared 7/30-day stats (src/ui/pages/jobs.ts, statsCache): fresh for 30 s, then
// served stale at once while one recomputation runs, and waited for again after 5 minutes; the
// figures are those of the stats module at the time they were computed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Db } from '../../src/runlog/db.ts';
import { statsCache } from '../../src/ui/pages/jobs.ts';
import { seedRuns } from '../support/stats-oracle.ts';
import { openSharedRunLog, type SharedRunLog } from '../runlog/shared-runlog.ts';

describe('jobs page stats cache (pglite)', () => {
  let shared: SharedRunLog;
  let db: Db;
  before(async () => {
    shared = await openSharedRunLog('pglite');
    db = shared.db;
  });
  after(() => shared?.close());

  const finish = (at: number) => seedRuns(db, [{
    job: 'cached', status: 'succeeded', created_at: new Date(at - 60_000), started_at: new Date(at - 50_000), finished_at: new Date(at - 10_000),
  }]);
  const succeeded = (stats: { week: Map<string, { runs: { succeeded: number } }> }) => stats.week.get('cached')?.runs.succeeded ?? 0;

  test('serves the figures of its last computation for 30 s, then stale at once while it recomputes, then waits after 5 min', async () => {
    let now = Date.now();
    const stats = statsCache(db, () => now);
    await finish(now);
    const first = await stats();
    assert.equal(first.at.getTime(), now);
    assert.equal(succeeded(first), 1);

    await finish(now);
    now += 30_000;
    assert.equal(await stats(), first, 'fresh for 30 s: the same figures');

    now += 1;
    const stale = await stats();
    assert.equal(stale, first, 'stale: served the last figures at once');
    // The recomputation started by that request; the next one gets its figures, computed at its time.
    let refreshed = await stats();
    for (let i = 0; i < 200 && refreshed === first; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      refreshed = await stats();
    }
    assert.notEqual(refreshed, first, 'recomputed in the background');
    assert.equal(refreshed.at.getTime(), now);
    assert.equal(succeeded(refreshed), 2);

    await finish(now);
    now += 5 * 60_000 + 1;
    const waited = await stats();
    assert.equal(waited.at.getTime(), now, 'past 5 minutes a request waits for fresh figures');
    assert.equal(succeeded(waited), 3);
  });
});
