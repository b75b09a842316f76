// The admin web UI, served by the API server itself: server-rendered pages (Eta through
// @fastify/view), htmx for progressive enhancement, our own CSS, no build step (docs/ui.md). This
// route group registers what every page shares (cookies, form bodies, session, CSRF, security
// headers, assets, errors) and then each page module. It lives in its own Fastify scope: the API's
// JSON error handler, bearer auth and JSON-only body parsing stay as they are for the API's routes.
import { fileURLToPath } from 'node:url';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import view from '@fastify/view';
import { Eta } from 'eta';
import type { RouteGroup } from '../api/app.ts';
import { ApiError } from '../api/errors.ts';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../runlog/connectivity.ts';
import { LockTimeoutError } from '../runlog/sql/lock-wait.ts';
import { scopeAllows, type TokenScope } from '../runlog/sql/tokens.ts';
import { assetPath, loadAssets } from './assets.ts';
import { takeFlash } from './flash.ts';
import { fmt } from './format.ts';
import { setSecurityHeaders } from './security-headers.ts';
import { loadSession, overHttps, PRE_SESSION_COOKIE, sameSecret } from './session.ts';
import { SessionKeyring } from './session-keyring.ts';
import { SignInCodes } from './sign-in-codes.ts';
import type { RenderOptions, UiContext, UiPageModule } from './ui-context.ts';
import { UiError } from './ui-errors.ts';
import { signInPages } from './pages/sign-in.ts';
import { jobsPages } from './pages/jobs.ts';
import { jobPages } from './pages/job.ts';
import { reportsPages } from './pages/reports.ts';
import { runsPages } from './pages/runs.ts';
import { tokensPages } from './pages/tokens.ts';
import { runPages } from './pages/run.ts';
import { triggerPages } from './pages/trigger.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may open a UI route: a signed-in person (the default) or anyone (sign-in pages, assets). */
    uiAccess?: 'signed-in' | 'anyone';
  }
}

/** The page modules, in order; each registers its own routes under /ui. */
const pageModules: UiPageModule[] = [signInPages, jobsPages, jobPages, runsPages, reportsPages, tokensPages, runPages, triggerPages];

/** The navigation bar: later pages (tenants) add an entry here. */
const NAV: { href: string; label: string; scope: TokenScope }[] = [
  { href: '/ui/jobs', label: 'Jobs', scope: 'read' },
  { href: '/ui/runs', label: 'Runs', scope: 'read' },
  { href: '/ui/reports', label: 'Reports', scope: 'read' },
  { href: '/ui/tokens', label: 'Tokens', scope: 'admin' },
];

const VIEWS = fileURLToPath(new URL('./views/', import.meta.url));

/** GET / and everything under /ui. */
export const uiRoutes: RouteGroup = async (app, deps) => {
  // Loaded on the first request that needs a key: a server starts while the RunLog is away too.
  const keys = new SessionKeyring(deps.db);
  const signInCodes = deps.signInCodes ?? new SignInCodes();
  const assets = loadAssets();
  const assetUrl = (name: string): string => {
    const asset = assets.get(name);
    if (!asset) throw new Error(`no UI asset ${name}`);
    return assetPath(asset);
  };

  // Every UI route is open to the API's bearer check: the session cookie decides here instead.
  app.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), scope: 'public' };
  });
  await app.register(cookie);
  await app.register(formbody, { bodyLimit: 64 * 1024 });
  await app.register(view, {
    engine: { eta: new Eta({ autoEscape: true, autoTrim: [false, 'nl'], cache: true }) },
    root: VIEWS,
    production: true,
  });
  app.decorateRequest('uiSession', null);

  app.addHook('onRequest', async (request, reply) => {
    setSecurityHeaders(reply);
    if (request.url.startsWith('/ui/assets/')) return;
    await loadSession(request, reply, deps.db, keys);
  });

  // Access and CSRF, for every UI route in one place: a page module cannot forget them.
  app.addHook('preHandler', async (request, reply) => {
    const access = request.routeOptions.config?.uiAccess ?? 'signed-in';
    if (request.method === 'POST') {
      if (!sameOrigin(request)) throw new UiError(403, 'Refused', 'This form was sent from another site.');
      const sent = csrfSent(request);
      if (access === 'anyone') {
        // The sign-in form: double submit, the field matching its cookie's keyed digest.
        const presign = request.cookies[PRE_SESSION_COOKIE];
        if (!presign || !sent || !sameSecret(sent, (await keys.current()).mac('presign', presign))) {
          throw new UiError(403, 'Refused', 'The form is missing its security token (CSRF); reload the page and send it again.');
        }
        return;
      }
      if (!request.uiSession) throw new UiError(403, 'Signed out', 'Your sign-in has ended (or the token was revoked); sign in again.');
      if (!sent || !sameSecret(sent, request.uiSession.csrfToken)) {
        throw new UiError(403, 'Refused', 'The form is missing its security token (CSRF) or it does not match your sign-in; reload the page and send it again.');
      }
      return;
    }
    if (access === 'anyone' || request.uiSession) return;
    return sendToSignIn(request, reply);
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error instanceof UiError && error.statusCode === 401 && request.method === 'GET') return sendToSignIn(request, reply);
    const { status, title, message } = describeError(error, request);
    if (status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    try {
      return await render(reply, 'error', { heading: title, message, status, retryAfter: status === 503 ? RETRY_AFTER_SECONDS : null }, { title, status });
    } catch (renderError) {
      request.log.error({ err: renderError }, 'rendering the error page failed');
      return reply.code(status).type('text/plain; charset=utf-8').send(`${title}: ${message}`);
    }
  });

  async function render(reply: FastifyReply, page: string, data: object, opts: RenderOptions): Promise<FastifyReply> {
    const request = reply.request;
    const session = request.uiSession;
    const common = commonData(request);
    const body = await app.view(page, { ...common, ...data });
    const html = await app.view('layout', {
      ...common,
      title: opts.title,
      body,
      flash: takeFlash(request, reply),
      nav: NAV.filter((item) => session && scopeAllows(session.scope, item.scope))
        .map((item) => ({ ...item, current: request.url === item.href || request.url.startsWith(`${item.href}/`) || request.url.startsWith(`${item.href}?`) })),
      assets: { css: assetUrl('kubescribe.css'), js: assetUrl('kubescribe.js'), htmx: assetUrl('htmx.min.js'), sse: assetUrl('sse.min.js') },
    });
    return reply.code(opts.status ?? 200).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  }

  function commonData(request: FastifyRequest) {
    return { fmt, session: request.uiSession, csrf: request.uiSession?.csrfToken ?? '', now: new Date() };
  }

  const ui: UiContext = {
    deps,
    keys,
    signInCodes,
    render,
    renderFragment: (reply, page, data) => app.view(page, { ...commonData(reply.request), ...data }),
    assetUrl,
  };

  app.get('/ui/assets/:hash/:name', { config: { uiAccess: 'anyone' }, schema: { hide: true } }, async (request, reply) => {
    const { hash, name } = request.params as { hash: string; name: string };
    const asset = assets.get(name);
    if (!asset || asset.hash !== hash) throw new UiError(404, 'Not found', `No asset ${name} with this hash (the page that linked it is older than this server).`);
    return reply.type(asset.contentType).header('cache-control', 'public, max-age=31536000, immutable').send(asset.body);
  });
  app.get('/', { config: { uiAccess: 'anyone' }, schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/jobs'));
  app.get('/ui', { config: { uiAccess: 'anyone' }, schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/jobs'));

  for (const pages of pageModules) await pages(app, ui);

  // Below every page (a wildcard loses to any real route): an unknown /ui path is a page, not JSON.
  app.get('/ui/*', { schema: { hide: true } }, async (request) => {
    throw new UiError(404, 'Not found', `There is no page ${request.url.split('?')[0]}.`);
  });
};

/** Where a signed-out GET goes: the sign-in page, remembering the page it asked for. */
function sendToSignIn(request: FastifyRequest, reply: FastifyReply) {
  // A link followed from another site (an alert e-mail, Slack) carries no SameSite=Strict cookie.
  // Reloading the same URL from our own page is a same-site navigation, which does carry it: one hop
  // through a refresh page, then the sign-in form only if there truly is no session.
  if (request.headers['sec-fetch-site'] === 'cross-site' && request.method === 'GET') {
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(refreshPage(request.url));
  }
  return reply.redirect(`/ui/sign-in?next=${encodeURIComponent(request.url)}`);
}

function refreshPage(url: string): string {
  const href = url.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${href}">`
    + `<title>KubeScribe</title></head><body><p><a href="${href}">Continue to KubeScribe</a></p></body></html>`;
}

function csrfSent(request: FastifyRequest): string | undefined {
  const header = request.headers['x-csrf-token'];
  if (typeof header === 'string') return header;
  const body = request.body as Record<string, unknown> | undefined;
  return typeof body?._csrf === 'string' ? body._csrf : undefined;
}

/** A browser's POST names the page's origin; one from another site is refused whatever it carries. */
function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  const host = request.headers['x-forwarded-host'] ?? request.headers.host;
  return origin === `${overHttps(request) ? 'https' : 'http'}://${host}` || origin === `${request.protocol}://${request.headers.host}`;
}

/** The status and words of an error page; never a stack trace. */
function describeError(error: FastifyError, request: FastifyRequest): { status: number; title: string; message: string } {
  if (error instanceof UiError) return { status: error.statusCode, title: error.title, message: error.message };
  if (error instanceof ApiError) {
    const title = error.statusCode === 404 ? 'Not found' : error.statusCode === 403 ? 'Not allowed' : error.statusCode === 409 ? 'Conflict' : 'Cannot do that';
    return { status: error.statusCode, title, message: error.message };
  }
  if (error.validation) {
    const message = error.validation.map((issue) => `${error.validationContext ?? 'request'}${issue.instancePath.replaceAll('/', '.')}${issue.params && 'additionalProperty' in issue.params ? `.${String(issue.params.additionalProperty)} is not a known field` : ` ${issue.message ?? 'is invalid'}`}`).join('; ');
    return { status: 400, title: 'Bad request', message };
  }
  if (error instanceof LockTimeoutError || isDatabaseUnavailable(error)) {
    request.log.warn({ err: { message: error.message, code: error.code } }, 'RunLog unavailable');
    return { status: 503, title: 'RunLog unavailable', message: `The RunLog database cannot be reached right now. Retry in ${RETRY_AFTER_SECONDS} seconds.` };
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return { status: error.statusCode, title: 'Bad request', message: error.message };
  }
  request.log.error({ err: error }, 'UI request failed');
  return { status: 500, title: 'Something went wrong', message: 'An internal error happened; the server log has the details.' };
}


