// The RunLog going away under the UI (PostgreSQL behind a proxy we cut): pages answer with a readable
// 503 page and Retry-After, never a stack trace, and work again once it is back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp } from '../../src/api/app.ts';
import { emptyConfig } from '../../src/config/job-definition.ts';
import { RecordingExecutor } from '../../src/executors/executor.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { createToken } from '../../src/runlog/sql/tokens.ts';
import { uiRoutes } from '../../src/ui/ui-routes.ts';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { TcpProxy, targetOf } from '../support/tcp-proxy.ts';
import { ALL_ROUTES } from '../support/full-api.ts';
import { expectNoSeriousA11yViolations, launchBrowser, signIn, type TestBrowser } from '../support/browser.ts';
import type { FastifyInstance } from 'fastify';

if (ENGINES.includes('postgres')) {
  describe('UI while the RunLog is unreachable', () => {
    let t: TestRunLog;
    let proxy: TcpProxy;
    let db: Db;
    let app: FastifyInstance;
    let url: string;
    let token: string;
    let browser: TestBrowser;

    before(async () => {
      t = await createTestRunLog('postgres');
      await t.withDb(async () => {}); // migrated before the proxy comes in
      proxy = new TcpProxy(targetOf(process.env.DATABASE_URL!));
      await proxy.start();
      db = await openRunLogDb({ ...t.location, databaseUrl: proxy.urlFor(process.env.DATABASE_URL!) });
      token = (await createToken(db, { name: 'viewer', scope: 'read', expires_at: null, created_by: 'test' })).token;
      app = await buildApp({ db, config: emptyConfig(), executor: new RecordingExecutor() }, [...ALL_ROUTES, uiRoutes]);
      url = await app.listen({ host: '127.0.0.1', port: 0 });
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      await app?.close();
      await proxy?.restore().catch(() => {});
      await db?.close().catch(() => {});
      await proxy?.cut();
      await t?.cleanup();
    });

    test('a page asked for during the outage is a 503 page with Retry-After; after it, the page works', async () => {
      const page = await browser.newPage();
      await signIn(page, url, token);
      await proxy.cut();
      const response = await page.goto(`${url}/ui/runs`);
      assert.equal(response!.status(), 503);
      assert.match(response!.headers()['retry-after'] ?? '', /^\d+$/);
      const text = await page.locator('main').innerText();
      assert.match(text, /RunLog unavailable/);
      assert.match(text, /cannot be reached right now\. Retry in \d+ seconds/);
      assert.doesNotMatch(await page.content(), /at .*\.ts:\d+|ECONNREFUSED|Error:/);
      await expectNoSeriousA11yViolations(page);
      await proxy.restore();
      await page.getByRole('link', { name: 'Retry' }).click();
      await page.waitForLoadState();
      assert.match(await page.locator('h1').innerText(), /^Runs$/);
    });
  });
}
