// The UI's shared parts in a real browser: signing in (form and one-time link), the session cookie,
// security headers, CSRF on every POST, assets, error pages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/job-config.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { expectNoSeriousA11yViolations, fileBrowser, screenshot, signIn } from '../support/browser.ts';
import { startTestUi, type TestUi } from '../support/ui.ts';
import { rowCounts } from '../support/full-api.ts';

const CONFIG = parseConfig(`
jobs:
  nightly:
    command: ["true"]
    schedule: "0 3 * * *"
`, 'kubescribe.yaml');

// One Chromium for the file; each test's pages are closed after it.
const browser = fileBrowser();

describe('UI foundation', () => {
  let ui: TestUi;
  before(async () => {
    ui = await startTestUi(ENGINES[0]!, { config: CONFIG });
  });
  after(async () => {
    await ui?.close();
  });

  test('GET / leads to the jobs page; signed out, to the sign-in page, remembering where it was going', async () => {
    const root = await fetch(`${ui.url}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/ui/jobs');
    const runs = await fetch(`${ui.url}/ui/runs?status=failed`, { redirect: 'manual' });
    assert.equal(runs.status, 302);
    assert.equal(runs.headers.get('location'), `/ui/sign-in?next=${encodeURIComponent('/ui/runs?status=failed')}`);
  });

  test('sign-in goes back only to a local page: another site in `next` is ignored', async () => {
    const page = await browser.newPage();
    for (const next of ['//evil.example/ui', 'https://evil.example/', '/ui/../../etc', '/\\evil.example']) {
      await page.goto(`${ui.url}/ui/sign-in?next=${encodeURIComponent(next)}`);
      assert.equal(await page.locator('input[name=next]').inputValue(), '/ui/jobs', next);
    }
    await page.goto(`${ui.url}/ui/sign-in?next=${encodeURIComponent('/ui/tokens?x=1')}`);
    assert.equal(await page.locator('input[name=next]').inputValue(), '/ui/tokens?x=1');
  });

  test('a link from another site (no SameSite=Strict cookie) gets one same-site reload before the sign-in form', async () => {
    const response = await fetch(`${ui.url}/ui/runs/0190c1de-0000-7000-8000-000000000000`, { headers: { 'sec-fetch-site': 'cross-site' }, redirect: 'manual' });
    assert.equal(response.status, 200);
    const html = await response.text();
    assert.match(html, /<meta http-equiv="refresh" content="0;url=\/ui\/runs\/0190c1de-0000-7000-8000-000000000000">/);
    const sameSite = await fetch(`${ui.url}/ui/runs/0190c1de-0000-7000-8000-000000000000`, { headers: { 'sec-fetch-site': 'same-origin' }, redirect: 'manual' });
    assert.equal(sameSite.status, 302);
    assert.match(sameSite.headers.get('location')!, /^\/ui\/sign-in\?next=/);
  });

  test('every UI response carries the CSP and the other security headers', async () => {
    for (const path of ['/', '/ui/sign-in', '/ui/nowhere']) {
      const response = await fetch(`${ui.url}${path}`, { redirect: 'manual' });
      const csp = response.headers.get('content-security-policy') ?? '';
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.match(csp, /style-src 'self'(;|$)/, path);
      assert.doesNotMatch(csp, /unsafe-inline/, path);
      assert.equal(response.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(response.headers.get('referrer-policy'), 'same-origin', path);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
    }
  });

  test('signing in with a token sets an HttpOnly, SameSite=Strict cookie that is not the token', async () => {
    const page = await browser.newPage();
    await page.goto(`${ui.url}/ui/runs?status=failed`);
    await page.waitForURL(/\/ui\/sign-in\?next=/);
    await expectNoSeriousA11yViolations(page);
    await screenshot(page, 'sign-in');
    await page.getByLabel('API token').fill(ui.tokens.read);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/ui\/runs\?status=failed$/);
    const cookies = await page.context().cookies();
    const session = cookies.find((cookie) => cookie.name === 'ks_session');
    assert.ok(session);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.ok(!session.value.includes(ui.tokens.read) && !session.value.includes(ui.tokens.read.slice(4)));
    assert.match(await page.locator('header').innerText(), /Signed in as token:test-read \(read\)/);
    assert.ok(!page.url().includes(ui.tokens.read));
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/ui\/sign-in$/);
    assert.equal((await page.context().cookies()).find((cookie) => cookie.name === 'ks_session'), undefined);
    await page.goto(`${ui.url}/ui/jobs`);
    await page.waitForURL(/\/ui\/sign-in\?next=/);
  });

  test('a wrong token is refused at its field; a revoked token ends the sign-in at the next request', async () => {
    const page = await browser.newPage();
    await page.goto(`${ui.url}/ui/sign-in`);
    await page.getByLabel('API token').fill('ksk_not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await page.locator('#token-error').innerText(), /unknown, revoked or expired/);

    const created = await (await ui.call('POST', '/tokens', { body: { name: 'short-lived', scope: 'read' } })).json() as { token: string };
    await signIn(page, ui.url, created.token);
    assert.equal((await ui.call('DELETE', '/tokens/short-lived')).status, 200);
    await page.goto(`${ui.url}/ui/runs`);
    await page.waitForURL(/\/ui\/sign-in/);
  });

  test('the one-time link signs in once, then leaves the address bar', async () => {
    const code = ui.signInCodes.issue(ui.tokens.admin);
    const page = await browser.newPage();
    await page.goto(`${ui.url}/ui/sign-in/once?code=${code}`);
    await page.waitForURL(/\/ui\/jobs$/);
    assert.match(await page.locator('header').innerText(), /token:test-admin \(admin\)/);
    const again = await browser.newPage();
    const response = await again.goto(`${ui.url}/ui/sign-in/once?code=${code}`);
    assert.equal(response!.status(), 400);
    assert.match(await again.locator('main').innerText(), /already used or has expired/);
  });

  test('a POST without the CSRF token, or with another session\'s, is refused and changes nothing', async () => {
    const page = await browser.newPage();
    await signIn(page, ui.url, ui.tokens.admin);
    const before = await rowCounts(ui.db);
    // Cookies go with the request (the page's own context), but the form token does not.
    const forged = await page.request.post(`${ui.url}/ui/jobs/nightly/suspend`, { form: { reason: 'forged' } });
    assert.equal(forged.status(), 403);
    const wrong = await page.request.post(`${ui.url}/ui/jobs/nightly/suspend`, { form: { reason: 'forged', _csrf: 'x'.repeat(43) } });
    assert.equal(wrong.status(), 403);
    const foreign = await page.request.post(`${ui.url}/ui/tokens`, { form: { name: 'evil', scope: 'admin' }, headers: { origin: 'http://evil.example' } });
    assert.equal(foreign.status(), 403);
    assert.deepEqual(await rowCounts(ui.db), before);
  });

  test('a live runs stream ends soon after its token is revoked', async () => {
    const created = await (await ui.call('POST', '/tokens', { body: { name: 'streamer', scope: 'read' } })).json() as { token: string };
    const code = ui.signInCodes.issue(created.token);
    const signedIn = await fetch(`${ui.url}/ui/sign-in/once?code=${code}`, { redirect: 'manual' });
    const cookie = signedIn.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');
    // The first page's stream stays open (waiting for new runs) while the token is good. Its head comes
    // at once, before any event (no run is new) and well before the 15 s keep-alive.
    const opening = Date.now();
    const stream = await fetch(`${ui.url}/ui/runs/live?ids=&newest=0190c1de-0000-7000-8000-000000000000`, { headers: { cookie } });
    assert.equal(stream.status, 200);
    assert.ok(Date.now() - opening < 5_000, `the stream's head came ${Date.now() - opening} ms after the request`);
    assert.match(stream.headers.get('content-type')!, /^text\/event-stream/);
    assert.match(stream.headers.get('content-security-policy')!, /script-src 'self'/);
    assert.equal((await ui.call('DELETE', '/tokens/streamer')).status, 200);
    const started = Date.now();
    const body = await stream.text();
    assert.ok(Date.now() - started < 15_000, 'the stream ended within its token re-check');
    assert.match(body, /event: done/);
  });

  test('assets are served by hash with an immutable cache; a stale hash is a 404', async () => {
    const page = await browser.newPage();
    await signIn(page, ui.url, ui.tokens.read);
    const hrefs = await page.locator('link[rel=stylesheet], script[src]').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('href') ?? n.getAttribute('src')));
    assert.equal(hrefs.length, 4);
    for (const href of hrefs) {
      assert.match(href!, /^\/ui\/assets\/[0-9a-f]{12}\/[a-z.]+$/);
      const response = await fetch(`${ui.url}${href}`);
      assert.equal(response.status, 200, href!);
      assert.equal(response.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    }
    assert.equal((await fetch(`${ui.url}/ui/assets/000000000000/htmx.min.js`)).status, 404);
  });

  test('an unknown page is a readable 404 page, not JSON', async () => {
    const page = await browser.newPage();
    await signIn(page, ui.url, ui.tokens.read);
    const response = await page.goto(`${ui.url}/ui/no-such-page`);
    assert.equal(response!.status(), 404);
    assert.match(await page.locator('main').innerText(), /There is no page \/ui\/no-such-page/);
    await expectNoSeriousA11yViolations(page);
  });
});
