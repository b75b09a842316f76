// Live log followers over real HTTP: followers of one run share one poll of the RunLog; a follower that
// stops reading is cut by the idle timeout and resumes with Last-Event-ID without a gap or a repeat;
// shutdown ends stalled followers at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { runsReadRoutes } from '../../src/api/routes/runs-read.ts';
import { emptyConfig } from '../../src/config/job-definition.ts';
import { RecordingExecutor } from '../../src/executors/executor.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { createToken } from '../../src/runlog/sql/tokens.ts';
import { applyTimeouts } from '../../src/server/http-guards.ts';
import { SERVER_DEFAULTS } from '../../src/server/server-settings.ts';
import { waitFor } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';
import { appendLog, finishSeededRun, RawFollower, seedRunningRun } from './support.ts';

for (const engine of ENGINES) {
  describe(`live log followers (${engine})`, () => {
    let runlog: TestRunLog;
    let db: Db;
    let token: string;
    let queries = 0;

    // The app's own RunLog connection, counting the statements the streams send.
    const counted = (inner: Db): Db => ({
      ...inner,
      query: (sql, params) => {
        queries++;
        return inner.query(sql, params);
      },
    });

    async function startApp(idleTimeoutMs: number): Promise<{ app: FastifyInstance; url: string }> {
      const app = await buildApp({
        db: counted(db), config: emptyConfig(), executor: new RecordingExecutor(),
        logStream: { keepAliveMs: Math.floor(idleTimeoutMs / 3) },
      }, [runsReadRoutes]);
      applyTimeouts(app.server, { ...SERVER_DEFAULTS, idleTimeoutMs });
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      return { app, url };
    }

    before(async () => {
      runlog = await createTestRunLog(engine);
      db = await openRunLogDb(runlog.location);
      token = (await createToken(db, { name: 'reader', scope: 'read', expires_at: null, created_by: 'test' })).token;
    });
    after(async () => {
      await db.close();
      await runlog.cleanup();
    });

    const follow = (url: string, runId: string, options: { read: boolean; lastEventId?: number }) =>
      new RawFollower(url, `/runs/${runId}/logs?follow=true`, {
        authorization: `Bearer ${token}`,
        ...(options.lastEventId === undefined ? {} : { 'last-event-id': String(options.lastEventId) }),
      }, { read: options.read });

    test('200 followers of one live run share one poll: a handful of statements a tick, not one per follower', async () => {
      const { app, url } = await startApp(SERVER_DEFAULTS.idleTimeoutMs);
      try {
        const runId = await seedRunningRun(db, 'shared-feed');
        let last = await appendLog(db, runId, 0, 3 * 1024, 1024);
        const followers = Array.from({ length: 200 }, () => follow(url, runId, { read: true }));
        await Promise.all(followers.map((f) => f.until(() => f.seqs.length === last, 30_000, 'the first chunks')));
        // Every follower is caught up: from here on only the run's feed may query.
        queries = 0;
        const started = Date.now();
        last = await appendLog(db, runId, last, 2 * 1024, 1024);
        await Promise.all(followers.map((f) => f.until(() => f.seqs.length === last, 30_000, 'the appended chunks')));
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const ticks = Math.ceil((Date.now() - started) / 250) + 1;
        // A feed tick is the status and one or two page reads; 200 followers polling alone would be 400+ a tick.
        assert.ok(queries <= ticks * 3 + 4, `${queries} statements in ${ticks} ticks for 200 followers`);
        await finishSeededRun(db, runId);
        await Promise.all(followers.map((f) => f.until(() => f.ended && f.closed, 30_000, 'end')));
        for (const f of followers) assert.deepEqual(f.seqs, Array.from({ length: last }, (_, i) => i + 1));
      } finally {
        await app.close();
      }
    });

    test('a follower that stops reading is cut by the idle timeout and resumes with Last-Event-ID: no gap, no repeat', async () => {
      const { app, url } = await startApp(1500);
      try {
        const runId = await seedRunningRun(db, 'stalled');
        // Twice what the loopback socket buffers hold at most (a send buffer of up to 4 MB, net.ipv4.tcp_wmem,
        // and the receive buffer of a reader that never reads), so the server's writes block. 4 MB was the
        // limit itself: now and then all of it fitted, the stream went on with keep-alives the kernel took,
        // and the idle timeout, meant for a blocked socket, never came.
        const last = await appendLog(db, runId, 0, 8 * 1024 * 1024);
        const stalled = follow(url, runId, { read: false });
        await waitFor(async () => (await new Promise<number>((resolve) => app.server.getConnections((_, n) => resolve(n)))) === 1, 10_000, 'the connection');
        // Not reading: the socket blocks, nothing moves, the idle timeout closes it.
        await waitFor(async () => (await new Promise<number>((resolve) => app.server.getConnections((_, n) => resolve(n)))) === 0, 20_000, 'the server to drop the stalled follower');
        stalled.read();
        await stalled.until(() => stalled.closed, 20_000, 'the rest of the cut stream');
        const first = stalled.seqs;
        assert.ok(first.length > 0 && first.length < last, `the cut stream held ${first.length} of ${last} chunks`);
        assert.equal(stalled.ended, false);

        const resumed = follow(url, runId, { read: true, lastEventId: first.at(-1)! });
        await resumed.until(() => resumed.seqs.at(-1) === last, 30_000, 'the resumed stream to catch up');
        await finishSeededRun(db, runId);
        await resumed.until(() => resumed.ended, 30_000, 'end');
        assert.deepEqual([...first, ...resumed.seqs], Array.from({ length: last }, (_, i) => i + 1));
      } finally {
        await app.close();
      }
    });

    test('shutdown ends followers at once, stalled ones included', async () => {
      const { app, url } = await startApp(SERVER_DEFAULTS.idleTimeoutMs);
      const runId = await seedRunningRun(db, 'shutdown');
      await appendLog(db, runId, 0, 4 * 1024 * 1024);
      const stalled = Array.from({ length: 5 }, () => follow(url, runId, { read: false }));
      const reading = follow(url, runId, { read: true });
      await reading.until(() => reading.seqs.length > 10, 30_000, 'the reading follower');
      await waitFor(async () => (await new Promise<number>((resolve) => app.server.getConnections((_, n) => resolve(n)))) === 6, 10_000, 'six connections');
      const started = Date.now();
      // Before followers could be stopped while blocked, close() waited for a drain that never came.
      const closed = await Promise.race([app.close().then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 15_000))]);
      assert.ok(closed, 'app.close() still waiting after 15 s');
      // The idle timeout is 60 s: only the streams' own shutdown can have ended them this soon.
      assert.ok(Date.now() - started < 5000, `app.close() took ${Date.now() - started} ms`);
      await reading.until(() => reading.closed, 5000, 'the reading follower to be closed');
      for (const f of stalled) f.close();
    });
  });
}
