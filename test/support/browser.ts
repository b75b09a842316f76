// A real headless browser for UI tests: Debian's chromium driven by playwright-core (no browser
// download), a sign-in helper, an axe-core accessibility check, and screenshots for docs/ that are
// only written when KUBESCRIBE_SCREENSHOTS=1 (so an ordinary test run leaves tracked files alone).
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from './cli.ts';

const require = createRequire(import.meta.url);

export const CHROMIUM = '/usr/bin/chromium';
// Chromium takes the last --disable-features it is given, so this list repeats playwright-core's own
// (chromiumSwitches.ts, 1.65) before adding the omnibox popup's WebUI: headless Chromium 156 opens a
// window per context, each with that popup preloaded in a renderer of its own, which kept using CPU
// (up to a fifth of a core each) while the tests' pages sat idle.
const PLAYWRIGHT_DISABLED_FEATURES = [
  'AvoidUnnecessaryBeforeUnloadCheckSync', 'DestroyProfileOnBrowserClose', 'HttpsUpgrades', 'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay', 'MediaRouter', 'PaintHolding', 'ThirdPartyStoragePartitioning', 'AvoidCorsURLLoaderRestartOnRedirect',
  'TcpPortRandomizationWin', 'OptimizationHints', 'NetworkTimeServiceQuerying', 'AimEnabled', 'PreconnectToSearch',
];
const OMNIBOX_WEBUI_FEATURES = ['OmniboxPopupWebUIContent', 'OmniboxAimPopupWebUIContent', 'OmniboxFullPopupWebUIContent', 'WebUIOmniboxPopup'];
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  `--disable-features=${[...PLAYWRIGHT_DISABLED_FEATURES, ...OMNIBOX_WEBUI_FEATURES].join(',')}`,
];

export interface TestBrowser {
  browser: Browser;
  /** A fresh context (own cookies), optionally in dark mode or at a phone's width. */
  newPage(options?: { colorScheme?: 'light' | 'dark'; viewport?: { width: number; height: number }; timezoneId?: string }): Promise<Page>;
  /** Closes the pages (and their contexts) opened so far, signedInPage()'s pages included (not its contexts); the browser stays. */
  closePages(): Promise<void>;
  /**
   * A page signed in with `token` on `baseUrl` through the sign-in form, showing the jobs page, as
   * newPage() and signIn() leave one. The first call per server and token signs in; later calls
   * (later tests) get a new page in the same context (its cookie signs them in) on the jobs page: a
   * context and a sign-in cost ~2 s of CPU, a page a fraction of that. closePages() closes the pages
   * and keeps the contexts; closeSignedInPages() closes those.
   */
  signedInPage(baseUrl: string, token: string): Promise<Page>;
  /** Closes the contexts signedInPage() keeps. */
  closeSignedInPages(): Promise<void>;
  close(): Promise<void>;
}

/** Launches chromium; playwright gives each launch a fresh user-data directory of its own and removes it on close. */
export async function launchBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const contexts: BrowserContext[] = [];
  const signedIn = new Map<string, BrowserContext>();
  // signedInPage()'s pages, closed after each test. A page kept from test to test could still be on a
  // run page whose own end-of-run reload then interrupted the next test's navigation (seen under load,
  // three times in a row); a new page in the kept context has no such past.
  const keptContextPages: Page[] = [];
  const closePages = async () => {
    for (const context of contexts.splice(0)) await context.close().catch(() => {});
    for (const page of keptContextPages.splice(0)) await page.close().catch(() => {});
  };
  const closeSignedInPages = async () => {
    const kept = [...signedIn.values()];
    signedIn.clear();
    keptContextPages.length = 0;
    for (const context of kept) await context.close().catch(() => {});
  };
  /** Collects what the browser refused to run or load: a page relying on inline script or style shows up here. */
  const watch = (page: Page) => {
    const refused: string[] = [];
    refusals.set(page, refused);
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) refused.push(message.text());
    });
    page.on('pageerror', (error) => refused.push(`page error: ${error.message}`));
    return page;
  };
  const openPage = async (
    { colorScheme = 'light', viewport = { width: 1280, height: 800 }, timezoneId = 'Europe/Berlin' }: Parameters<TestBrowser['newPage']>[0] = {},
    kept = false,
  ) => {
    const context = await browser.newContext({ colorScheme, viewport, timezoneId, locale: 'en-GB' });
    if (!kept) contexts.push(context);
    return watch(await context.newPage());
  };
  return {
    browser,
    newPage: (options) => openPage(options),
    closePages,
    async signedInPage(baseUrl, token) {
      const key = `${baseUrl} ${token}`;
      const context = signedIn.get(key);
      if (context) {
        const page = watch(await context.newPage());
        keptContextPages.push(page);
        await page.goto(`${baseUrl}/ui/jobs`);
        return page;
      }
      const page = await openPage({}, true);
      keptContextPages.push(page);
      await signIn(page, baseUrl, token);
      signedIn.set(key, page.context());
      return page;
    },
    closeSignedInPages,
    async close() {
      await closePages();
      await closeSignedInPages();
      await browser.close();
    },
  };
}

/**
 * One Chromium for every suite of a test file (a launch costs ~2 s of CPU): call at the file's top
 * level; it launches before the file's first test and closes after its last. Suites take pages from
 * it as from launchBrowser's. Each test's pages (and their contexts) are closed after it: an open
 * context keeps a window and its renderers using CPU, and a live page keeps its stream reading the
 * RunLog, through every later test of the file.
 */
export function fileBrowser(): TestBrowser {
  let launched: TestBrowser | null = null;
  const shared = () => {
    if (!launched) throw new Error('fileBrowser() is used before its file\'s first test: call it at the top level of the test file');
    return launched;
  };
  before(async () => {
    launched = await launchBrowser();
  });
  afterEach(async () => {
    await launched?.closePages();
  });
  after(async () => {
    await launched?.close();
  });
  return {
    get browser() {
      return shared().browser;
    },
    newPage: (options) => shared().newPage(options),
    closePages: () => shared().closePages(),
    signedInPage: (baseUrl, token) => shared().signedInPage(baseUrl, token),
    closeSignedInPages: () => shared().closeSignedInPages(),
    close: () => shared().close(),
  };
}

const refusals = new WeakMap<Page, string[]>();

/** Fails when the page has broken its Content-Security-Policy (an inline script or style) or thrown. */
export function expectNoCspViolations(page: Page): void {
  assert.deepEqual(refusals.get(page) ?? [], [], `the browser refused parts of ${page.url()}`);
}

/** Signs in through the sign-in form with `token` and waits for the jobs page. */
export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/ui/sign-in`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/ui\/jobs/);
}

let axeSource: string | null = null;

/** Runs axe-core in the page; fails listing each serious or critical violation with its nodes. */
export async function expectNoSeriousA11yViolations(page: Page): Promise<void> {
  axeSource ??= (require('axe-core') as { source: string }).source;
  // Injected through the DevTools protocol (addScriptTag would be blocked by the page's CSP).
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[]; failureSummary?: string }[] }[] }> } }).axe;
    const outcome = await axe.run(document, { resultTypes: ['violations'] });
    return outcome.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => `${JSON.stringify(n.target)}: ${n.failureSummary ?? ''}`) }));
  });
  const serious = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `accessibility violations on ${page.url()}:\n${serious.map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.join('\n  ')}`).join('\n')}`);
}

/**
 * Writes docs/screenshots/ui-<name>-light.png and -dark.png of the page as it is, when
 * KUBESCRIBE_SCREENSHOTS=1; otherwise does nothing.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.KUBESCRIBE_SCREENSHOTS !== '1') return;
  const dir = join(REPO_ROOT, 'docs/screenshots');
  mkdirSync(dir, { recursive: true });
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    await page.screenshot({ path: join(dir, `ui-${name}-${colorScheme}.png`) });
  }
  await page.emulateMedia({ colorScheme: 'light' });
}
