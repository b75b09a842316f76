// `kubescribe dev` (the built binary, as a child process) prints a one-time link that opens the web
// UI signed in with the local admin token; the link works once, the token never appears in it, and
// the pages are served from the build (dist/ui/views and assets).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { BIN, waitFor } from '../support/cli.ts';
import { expectNoCspViolations, expectNoSeriousA11yViolations, launchBrowser, type TestBrowser } from '../support/browser.ts';

describe('kubescribe dev: sign in to the web UI with the printed link', () => {
  let t: TestRunLog;
  let server: ChildProcess;
  let browser: TestBrowser;
  let stderr = '';
  let link = '';

  before(async () => {
    t = await createTestRunLog(ENGINES[0]!);
    const dir = mkdtempSync(join(tmpdir(), 'ks-ui-dev-'));
    writeFileSync(join(dir, 'kubescribe.yaml'), [
      'jobs:',
      '  greet:',
      '    description: "Greets <script>window.__xss = 1</script> everyone"',
      '    command: ["true"]',
      '    schedule: "0 7 * * *"',
      '    time_zone: America/New_York',
      '',
    ].join('\n'));
    server = spawn(process.execPath, [BIN, 'dev', '--port', '0'], { cwd: dir, env: { ...process.env, ...t.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    server.stderr!.on('data', (data: Buffer) => {
      stderr += data.toString();
    });
    link = await waitFor(() => (/press it twice to stop now/.test(stderr) ? /web UI: +(http:\/\/\S+)/.exec(stderr)?.[1] : undefined), 60_000, `the dev server to start; it said: ${stderr}`);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
    await t?.cleanup();
  });

  test('the banner prints a one-time link that is not the admin token', () => {
    const token = readFileSync(join(t.home, 'token'), 'utf8').trim();
    assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/ui\/sign-in\/once\?code=[A-Za-z0-9_-]{32}$/);
    assert.ok(!link.includes(token) && !stderr.includes(token));
  });

  test('opening it signs in as the local admin and takes the code out of the address bar; it works once', async () => {
    const page = await browser.newPage();
    await page.goto(link);
    await page.waitForURL(/\/ui\/jobs$/);
    assert.ok(!page.url().includes('code='));
    assert.match(await page.locator('header').innerText(), /Signed in as token:local-admin \(admin\)/);
    const greet = await page.locator('#job-greet').innerText();
    assert.ok(greet.includes('Greets <script>window.__xss = 1</script> everyone'));
    assert.match(greet, /at 07:00 every day \(America\/New_York\)/);
    assert.equal(await page.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined);
    expectNoCspViolations(page);
    await expectNoSeriousA11yViolations(page);

    const other = await browser.newPage();
    const again = await other.goto(link);
    assert.equal(again!.status(), 400);
    assert.match(await other.locator('main').innerText(), /already used or has expired/);
    // The server log names the request without the code.
    const log = readFileSync(join(t.home, 'server.log'), 'utf8');
    assert.match(log, /sign-in\/once\?code=\*\*\*/);
    assert.ok(!log.includes(new URL(link).searchParams.get('code')!));
  });
});
