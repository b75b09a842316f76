// What the run page and the runs list show as a run lives, against one real server (`startServer`,
// the local executor, its notifier) per engine:
// - a failing run's webhook alert, answered 500 then 200 by a real HTTP receiver, shown on the run
//   page with its channel, state and both attempts, the receiver's HTML error text escaped;
// - a queued run seen becoming running (no output yet) and then succeeded, without a reload, on its
//   page (the log stream's status events) and on the runs list (its live rows);
// - sign-ins that survive a restart and work on another server of the same RunLog (keys in the
//   RunLog), and tampered or rotated-away cookies that get the sign-in page.
// On every engine over plain HTTP (the pages' HTML, their streams, the session's cookies); in a real
// Chromium, the admin's signed-in page kept from test to test and a context of its own for each test
// of sign-ins and cookies, with the pages' scripts and axe, on one engine (BROWSER_ENGINE: PostgreSQL
// when DATABASE_URL is set, PGlite otherwise), since the browser's side does not depend on the engine.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { readEnvironment } from '../../src/config/environment.ts';
import { RecordingExecutor } from '../../src/executors/executor.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { listRunNotifications } from '../../src/runlog/sql/notification-deliveries.ts';
import { transitionRun } from '../../src/runlog/sql/runs.ts';
import { createToken } from '../../src/runlog/sql/tokens.ts';
import { rotateUiSessionKey } from '../../src/runlog/sql/ui-session-keys.ts';
import type { RunStatus } from '../../src/runlog/types.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { startServer, type RunningServer } from '../../src/server/server.ts';
import { SESSION_COOKIE } from '../../src/ui/session.ts';
import { uiRoutes } from '../../src/ui/ui-routes.ts';
import { expectNoCspViolations, expectNoSeriousA11yViolations, launchBrowser, signIn, type TestBrowser } from '../support/browser.ts';
import { REPO_ROOT, waitFor } from '../support/cli.ts';
import { ALL_ROUTES } from '../support/full-api.ts';
import { BROWSER_ENGINE, createTestRunLog, ENGINES, type Engine, type TestRunLog } from '../support/runlog-engines.ts';
import { type HtmlPage, UiSession } from '../support/ui-http.ts';
import { seedRun } from '../runlog/shared-runlog.ts';

/**
 * The final status on the run's stored page. The live page can show it a moment before the stream's
 * end reloads it (its status block is re-read on each status event): what a test reads next is the
 * stored page's.
 */
const storedStatus = (page: Page, status: string) =>
  page.locator(`body:has(#run-log:not([data-stream-url])) #run-summary .status-${status}`);


// What the webhook receiver answers the first time: an error page whose text ends up in the attempt's error.
const HOSTILE_ERROR = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';

/** A webhook receiver on loopback: 500 with an HTML body to the first POST, 200 to the others. */
async function startFlakyReceiver(): Promise<{ url: string; posts: string[]; close(): Promise<void> }> {
  const posts: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      posts.push(Buffer.concat(chunks).toString('utf8'));
      if (posts.length === 1) response.writeHead(500, { 'content-type': 'text/html' }).end(HOSTILE_ERROR);
      else response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function testConfig(hookUrl: string) {
  return parseConfig(`
notify:
  channels:
    hook: {type: webhook, url: "${hookUrl}/alerts"}
  defaults: {channels: [hook]}
  delivery: {max_attempts: 3, backoff: 200ms, timeout: 5s}
jobs:
  breaks:
    description: Fails at once
    command: ["sh", "-c", "echo 'about to fail' >&2; exit 3"]
`, 'run-live.yaml');
}

// A queued run this server's local executor leaves alone (it would fail an undeclared job's run at
// once): as a Job on a cluster waits for its pod, moved on by the test as that executor would record it.
const QUEUED_ELSEWHERE = { job: 'external', status: 'queued', executor: 'kubernetes' } as const;

/** Moves a seeded run on, as an executor would record it. */
async function move(db: Db, runId: string, from: RunStatus, to: RunStatus): Promise<void> {
  const now = new Date();
  const patch = to === 'running' ? { started_at: now, heartbeat_at: now } : { finished_at: now, exit_code: 0 };
  const result = await transitionRun(db, runId, [from], to, patch, { event_id: uuidv7(), at: now, type: to, actor: 'test' });
  assert.ok(result, `run ${runId} moved from ${from} to ${to}`);
}

/** The sign-in cookie of a context. */
async function sessionCookie(context: BrowserContext) {
  const cookie = (await context.cookies()).find((c) => c.name === SESSION_COOKIE);
  assert.ok(cookie, 'the context holds a session cookie');
  return cookie;
}

/** Opens `path` on `baseUrl` and says whether it landed on the sign-in page. */
async function landsOnSignIn(page: Page, baseUrl: string, path: string): Promise<boolean> {
  const response = await page.goto(`${baseUrl}${path}`);
  assert.ok(response && response.status() < 500, `${path} answered ${response?.status()}`);
  return new URL(page.url()).pathname === '/ui/sign-in';
}

/** The server (local executor and notifier, no scheduler) on `engine`, its webhook receiver and an admin token. */
async function startLiveServer(engine: Engine) {
  const runlog = await createTestRunLog(engine);
  const receiver = await startFlakyReceiver();
  const server = await startServer({
    env: readEnvironment({ ...runlog.env }, REPO_ROOT),
    config: testConfig(receiver.url),
    host: '127.0.0.1',
    port: 0,
    executor: 'local',
    scheduler: false,
    cwd: REPO_ROOT,
    logger: false,
  });
  const admin = (await createToken(server.db, { name: 'live-admin', scope: 'admin', expires_at: null, created_by: 'test' })).token;
  return { runlog, receiver, server, admin };
}

/** Another API server with the UI on the same RunLog (on PostgreSQL its own connection pool), listening. */
async function startOtherServer(engine: Engine, runlog: TestRunLog, server: RunningServer, hookUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  const db = engine === 'postgres' ? await openRunLogDb(runlog.location) : server.db;
  const app: FastifyInstance = await buildApp({ db, config: testConfig(hookUrl), executor: new RecordingExecutor(), logger: false }, [...ALL_ROUTES, uiRoutes]);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    async close() {
      await app.close();
      if (db !== server.db) await db.close();
    },
  };
}

/** Triggers the failing job through the API and waits until its alert, refused once, is delivered; its run id. */
async function failedRunWithAlert(server: RunningServer, admin: string, receiver: Awaited<ReturnType<typeof startFlakyReceiver>>): Promise<string> {
  const response = await fetch(`${server.url}/runs/trigger`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ job: 'breaks' }),
  });
  assert.equal(response.status, 202, await response.clone().text());
  const runId = ((await response.json()) as { run_id: string }).run_id;
  // The server's own notifier sends it: answered 500 first, then sent on its retry 200 ms later.
  await waitFor(async () => (await listRunNotifications(server.db, runId))[0]?.state === 'sent', 60_000, 'the alert to be delivered');
  assert.equal(receiver.posts.length, 2);
  assert.equal((JSON.parse(receiver.posts[1]!) as { run: { run_id: string } }).run.run_id, runId);
  return runId;
}

// The same on every engine, from the server's HTML, streams and cookies (no browser).
for (const engine of ENGINES) {
  describe(`live run pages and shared sign-ins over HTTP (${engine})`, { concurrency: false }, () => {
    let runlog: TestRunLog;
    let server: RunningServer;
    let receiver: Awaited<ReturnType<typeof startFlakyReceiver>>;
    let admin: string;
    let session: UiSession;

    before(async () => {
      ({ runlog, receiver, server, admin } = await startLiveServer(engine));
      session = await UiSession.signIn(server.url, admin);
    });
    after(async () => {
      await server?.close({ drain: false });
      await receiver?.close();
      await runlog?.cleanup();
    });

    /** The stored run page once the run has ended with `status`. */
    async function storedPage(runId: string, status: string): Promise<HtmlPage> {
      let page: HtmlPage | undefined;
      await waitFor(async () => {
        page = await session.get(`/ui/runs/${runId}`);
        return page.count('#run-log[data-stream-url]') === 0 && page.count(`#run-summary .status-${status}`) === 1;
      }, 15_000, `run ${runId} to be ${status}`);
      return page!;
    }

    it('shows a failed run\'s webhook alert with its channel, state and both attempts, the receiver\'s HTML as text', async () => {
      const runId = await failedRunWithAlert(server, admin, receiver);
      const page = await storedPage(runId, 'failed');
      const rows = page.all('section[aria-labelledby=notify-h] tbody tr');
      assert.equal(rows.length, 1);
      assert.equal(page.text('section[aria-labelledby=notify-h] tbody tr th'), 'hook');
      assert.equal(page.text('section[aria-labelledby=notify-h] tbody tr .delivery'), 'sent');
      const attempts = page.texts('section[aria-labelledby=notify-h] tbody tr ol.attempts li');
      assert.equal(attempts.length, 2);
      const [first, second] = attempts as [string, string];
      assert.match(first, /failed — POST to 127\.0\.0\.1:\d+: HTTP 500 /);
      assert.ok(first.endsWith(HOSTILE_ERROR), `the receiver's answer is shown as text: ${first}`);
      assert.match(second, /: sent$/);
      assert.doesNotMatch(second, /—/, 'a successful attempt has no error');
      assert.equal(page.count('section[aria-labelledby=notify-h] script') + page.count('section[aria-labelledby=notify-h] img'), 0);
      assert.ok(!page.html.includes(HOSTILE_ERROR), 'the error is escaped');
    });

    it('the page of a queued run shows it running, then succeeded, without a reload', async () => {
      const run = await seedRun(server.db, QUEUED_ELSEWHERE);
      const page = await session.get(`/ui/runs/${run.run_id}`);
      assert.equal(page.count('#run-summary .status-queued'), 1);
      assert.equal(page.count('#run-log .ln'), 0, 'no output');
      const streamUrl = page.attr('#run-log', 'data-stream-url');
      assert.ok(streamUrl, 'a live run\'s page follows it');
      const stream = await session.stream(`${streamUrl}?after_seq=${page.attr('#run-log', 'data-after-seq') ?? '0'}`);
      try {
        await move(server.db, run.run_id, 'queued', 'running');
        await stream.waitFor((e) => e.event === 'status' && (JSON.parse(e.data) as { status: string }).status === 'running');
        // What the page re-reads on a status event: its summary, now running with its start time.
        const summary = await session.get(`/ui/runs/${run.run_id}/summary`, { htmx: true });
        assert.equal(summary.count('#run-summary .status-running'), 1);
        assert.match(summary.text('#run-summary'), /Started \d{4}-\d\d-\d\d \d\d:\d\d/);
        assert.ok(!stream.events.some((e) => e.event === 'log'), 'still no output');
        await move(server.db, run.run_id, 'running', 'succeeded');
        // The end of the stream (the page then reloads): the stored record, no live stream.
        const end = await stream.waitFor((e) => e.event === 'end');
        assert.equal((JSON.parse(end.data) as { status: string }).status, 'succeeded');
      } finally {
        stream.close();
      }
      await storedPage(run.run_id, 'succeeded');
    });

    it('the runs list shows a queued run becoming running, then succeeded, without a reload', async () => {
      const run = await seedRun(server.db, QUEUED_ELSEWHERE);
      const page = await session.get('/ui/runs?job=external');
      assert.match(page.text(`tr#run-${run.run_id} .status`), /queued/);
      const streamUrl = page.all('[sse-connect]')[0]?.attribs['sse-connect'];
      assert.ok(streamUrl, 'the list follows its live rows');
      const stream = await session.stream(streamUrl);
      const row = (status: string) => (e: { event: string; data: string }) => e.event === `run-${run.run_id}` && e.data.includes(`status-${status}`);
      try {
        await move(server.db, run.run_id, 'queued', 'running');
        await stream.waitFor(row('running'));
        await move(server.db, run.run_id, 'running', 'succeeded');
        await stream.waitFor(row('succeeded'));
      } finally {
        stream.close();
      }
    });

    it('a sign-in survives a restart and works on every server of the RunLog; a tampered cookie gets the sign-in page', async () => {
      const first = await startOtherServer(engine, runlog, server, receiver.url);
      const signedIn = await UiSession.signIn(first.url, admin);
      await first.close();
      const restarted = await startOtherServer(engine, runlog, server, receiver.url);
      try {
        const there = signedIn.at(restarted.url);
        assert.equal(await there.landsOnSignIn('/ui/runs'), false);
        assert.match((await there.get('/ui/runs')).text('h1'), /Runs/);
        assert.equal(await signedIn.at(server.url).landsOnSignIn('/ui/jobs'), false);
        // A form sent to the other server passes its CSRF check too: the token comes from the shared key.
        const created = await there.post('/ui/tokens', { name: 'made-on-a-replica', scope: 'read', expires_in: '' });
        assert.equal(created.status, 201);
        assert.match(created.text('#token-made-on-a-replica'), /made-on-a-replica/);

        const value = signedIn.cookie(SESSION_COOKIE)!;
        assert.ok(value, 'the session holds its cookie');
        signedIn.setCookie(SESSION_COOKIE, value.slice(0, -3) + (value.at(-3) === 'A' ? 'B' : 'A') + value.slice(-2));
        assert.equal(await signedIn.at(server.url).landsOnSignIn('/ui/runs'), true, 'a tampered cookie');
        assert.equal(signedIn.cookie(SESSION_COOKIE), undefined, 'the bad cookie is dropped');
      } finally {
        await restarted.close();
      }
    });

    it('after a key rotation an old cookie gets the sign-in page, and a new sign-in works on every server', async () => {
      const signedIn = await UiSession.signIn(server.url, admin);
      const old = signedIn.cookie(SESSION_COOKIE)!;
      await rotateUiSessionKey(server.db);
      // A server started after the rotation holds only the new key.
      const fresh = await startOtherServer(engine, runlog, server, receiver.url);
      try {
        const there = signedIn.at(fresh.url);
        assert.equal(await there.landsOnSignIn('/ui/runs'), true, 'a cookie of a rotated-away key');
        await there.signIn(admin);
        const renewed = signedIn.cookie(SESSION_COOKIE)!;
        assert.notEqual(renewed.split('.')[0], old.split('.')[0], 'the new cookie names the new key');
        // The long-running server had not re-read its keys yet: a cookie of a newer key makes it read them at once.
        assert.equal(await signedIn.at(server.url).landsOnSignIn('/ui/runs'), false);
        // And the old cookie is refused there too now that it has the new keys.
        signedIn.setCookie(SESSION_COOKIE, old);
        assert.equal(await signedIn.at(server.url).landsOnSignIn('/ui/runs'), true);
      } finally {
        await fresh.close();
      }
    });
  });
}

let browser: TestBrowser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

for (const engine of [BROWSER_ENGINE]) {
  describe(`live run pages and shared sign-ins in Chromium (${engine})`, { concurrency: false }, () => {
    const expectAccessible = expectNoSeriousA11yViolations;
    let runlog: TestRunLog;
    let server: RunningServer;
    let receiver: Awaited<ReturnType<typeof startFlakyReceiver>>;
    let admin: string;

    before(async () => {
      ({ runlog, receiver, server, admin } = await startLiveServer(engine));
    });
    // A page left open keeps its live stream reading the RunLog every 250 ms through the next tests.
    afterEach(async () => {
      await browser.closePages();
    });
    after(async () => {
      await browser.closeSignedInPages();
      await server?.close({ drain: false });
      await receiver?.close();
      await runlog?.cleanup();
    });

    /** The admin's signed-in page, kept from test to test (each gets it back on the jobs page). */
    function adminPage(): Promise<Page> {
      return browser.signedInPage(server.url, admin);
    }

    /** Another API server with the UI on this RunLog (on PostgreSQL its own connection pool), listening. */
    function otherServer(): Promise<{ url: string; close(): Promise<void> }> {
      return startOtherServer(engine, runlog, server, receiver.url);
    }

    it('shows a failed run\'s webhook alert with its channel, state and both attempts, the receiver\'s HTML as text', async () => {
      const runId = await failedRunWithAlert(server, admin, receiver);

      const page = await adminPage();
      await page.goto(`${server.url}/ui/runs/${runId}`);
      await storedStatus(page, 'failed').waitFor();
      const section = page.locator('section[aria-labelledby="notify-h"]');
      const row = section.locator('tbody tr');
      assert.equal(await row.count(), 1);
      assert.equal(await row.locator('th').innerText(), 'hook');
      assert.equal(await row.locator('.delivery').innerText(), 'sent');
      const attempts = row.locator('ol.attempts > li');
      assert.equal(await attempts.count(), 2);
      const [first, second] = [await attempts.nth(0).innerText(), await attempts.nth(1).innerText()];
      assert.match(first, /failed — POST to 127\.0\.0\.1:\d+: HTTP 500 /);
      assert.ok(first.endsWith(HOSTILE_ERROR), `the receiver's answer is shown as text: ${first}`);
      assert.match(second, /: sent$/);
      assert.doesNotMatch(second, /—/, 'a successful attempt has no error');
      // Escaped: the error's markup made no element, and nothing in it ran.
      assert.equal(await section.locator('script, img').count(), 0);
      assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
      await expectAccessible(page);
      expectNoCspViolations(page);
    });

    it('the page of a queued run shows it running, then succeeded, without a reload', async () => {
      const run = await seedRun(server.db, QUEUED_ELSEWHERE);
      const page = await adminPage();
      await page.goto(`${server.url}/ui/runs/${run.run_id}`);
      await page.locator('#run-summary .status-queued').waitFor();
      assert.equal(await page.locator('#run-log .ln').count(), 0, 'no output');
      await expectAccessible(page);
      // A reload would lose this marker: the page must change in place.
      await page.evaluate(() => {
        (window as unknown as { __samePage: boolean }).__samePage = true;
      });

      await move(server.db, run.run_id, 'queued', 'running');
      await page.locator('#run-summary .status-running').waitFor({ timeout: 15_000 });
      assert.equal(await page.evaluate(() => (window as unknown as { __samePage?: boolean }).__samePage), true, 'the page was not reloaded');
      assert.equal(await page.locator('#run-summary dt:text-is("Started") + dd time').count(), 1, 'the start time is shown');
      assert.equal(await page.locator('#run-log .ln').count(), 0, 'still no output');
      await expectAccessible(page);

      await move(server.db, run.run_id, 'running', 'succeeded');
      // The end of the stream reloads the page at the same URL: the stored record, no live stream.
      await storedStatus(page, 'succeeded').waitFor({ timeout: 15_000 });
      assert.equal(new URL(page.url()).pathname, `/ui/runs/${run.run_id}`);
      assert.equal(await page.locator('#run-log[data-stream-url]').count(), 0);
      await expectAccessible(page);
      expectNoCspViolations(page);
    });

    it('the runs list shows a queued run becoming running, then succeeded, without a reload', async () => {
      const run = await seedRun(server.db, QUEUED_ELSEWHERE);
      const page = await adminPage();
      await page.goto(`${server.url}/ui/runs?job=external`);
      const status = page.locator(`#run-${run.run_id} .status`);
      assert.match(await status.innerText(), /queued/);
      await page.evaluate(() => {
        (window as unknown as { __samePage: boolean }).__samePage = true;
      });
      await move(server.db, run.run_id, 'queued', 'running');
      await page.locator(`#run-${run.run_id} .status-running`).waitFor({ timeout: 15_000 });
      await move(server.db, run.run_id, 'running', 'succeeded');
      await page.locator(`#run-${run.run_id} .status-succeeded`).waitFor({ timeout: 15_000 });
      assert.equal(await page.evaluate(() => (window as unknown as { __samePage?: boolean }).__samePage), true, 'the page was not reloaded');
      await expectAccessible(page);
      expectNoCspViolations(page);
    });

    it('a sign-in survives a restart and works on every server of the RunLog; a tampered cookie gets the sign-in page', async () => {
      // Signed in on one server, which then stops: the same cookie works on a server started after it
      // (a restart: nothing in memory) and on the long-running one (another replica).
      const first = await otherServer();
      const page = await browser.newPage();
      await signIn(page, first.url, admin);
      await first.close();
      const restarted = await otherServer();
      try {
        // Cookies are per host, not per port: the context sends the same cookie to each server.
        assert.equal(await landsOnSignIn(page, restarted.url, '/ui/runs'), false);
        assert.match(await page.locator('h1').innerText(), /Runs/);
        assert.equal(await landsOnSignIn(page, server.url, '/ui/jobs'), false);
        // A form sent to the other server passes its CSRF check too: the token comes from the shared key.
        await page.goto(`${restarted.url}/ui/tokens`);
        await page.getByLabel('Name').fill('made-on-a-replica');
        await page.getByRole('button', { name: 'Create token' }).click();
        await page.getByText('made-on-a-replica').first().waitFor();

        const cookie = await sessionCookie(page.context());
        const value = cookie.value;
        const flipped = value.slice(0, -3) + (value.at(-3) === 'A' ? 'B' : 'A') + value.slice(-2);
        await page.context().addCookies([{ ...cookie, value: flipped }]);
        assert.equal(await landsOnSignIn(page, server.url, '/ui/runs'), true, 'a tampered cookie');
        assert.match(await page.getByRole('button', { name: 'Sign in' }).innerText(), /Sign in/);
        assert.ok(!(await page.context().cookies()).some((c) => c.name === SESSION_COOKIE), 'the bad cookie is dropped');
        await expectAccessible(page);
      } finally {
        await restarted.close();
      }
    });

    it('after a key rotation an old cookie gets the sign-in page, and a new sign-in works on every server', async () => {
      const page = await browser.newPage();
      await signIn(page, server.url, admin);
      const old = await sessionCookie(page.context());
      await rotateUiSessionKey(server.db);
      // A server started after the rotation holds only the new key.
      const fresh = await otherServer();
      try {
        assert.equal(await landsOnSignIn(page, fresh.url, `/ui/runs`), true, 'a cookie of a rotated-away key');
        await expectAccessible(page);
        await signIn(page, fresh.url, admin);
        const renewed = await sessionCookie(page.context());
        assert.notEqual(renewed.value.split('.')[0], old.value.split('.')[0], 'the new cookie names the new key');
        // The long-running server had not re-read its keys yet: a cookie of a newer key makes it read them at once.
        assert.equal(await landsOnSignIn(page, server.url, '/ui/runs'), false);
        // And the old cookie is refused there too now that it has the new keys.
        await page.context().addCookies([old]);
        assert.equal(await landsOnSignIn(page, server.url, '/ui/runs'), true);
        expectNoCspViolations(page);
      } finally {
        await fresh.close();
      }
    });
  });
}
