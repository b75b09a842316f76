// Sign in with an API token (a form), with a one-time code (`kubescribe dev`'s printed link), and out.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { findLiveToken } from '../../runlog/sql/tokens.ts';
import { formField } from '../form.ts';
import { cookieOptions, PRE_SESSION_COOKIE, safeNext, SESSION_COOKIE, SESSION_MAX_AGE_S } from '../session.ts';
import type { UiContext, UiPageModule } from '../ui-context.ts';

const NextQuery = {
  type: 'object',
  properties: { next: { type: 'string', maxLength: 2000 } },
  additionalProperties: false,
} as const;
const CodeQuery = {
  type: 'object',
  properties: { code: { type: 'string', maxLength: 200 } },
  additionalProperties: false,
} as const;

/** GET/POST /ui/sign-in, GET /ui/sign-in/once?code=…, POST /ui/sign-out. */
export const signInPages: UiPageModule = (app, ui) => {
  app.get('/ui/sign-in', { config: { uiAccess: 'anyone' }, schema: { hide: true, querystring: NextQuery } }, async (request, reply) => {
    const next = safeNext((request.query as { next?: string }).next);
    if (request.uiSession) return reply.redirect(next);
    return signInForm(ui, request, reply, { next });
  });

  app.post('/ui/sign-in', { config: { uiAccess: 'anyone' }, schema: { hide: true } }, async (request, reply) => {
    const next = safeNext(formField(request.body, 'next'));
    const token = formField(request.body, 'token')?.trim() ?? '';
    if (token === '') return signInForm(ui, request, reply, { next, error: 'Enter an API token.', status: 400 });
    const row = await findLiveToken(ui.deps.db, token);
    if (!row) return signInForm(ui, request, reply, { next, error: 'This token is unknown, revoked or expired.', status: 401 });
    await startSession(ui, request, reply, token);
    request.log.info({ actor: `token:${row.name}` }, 'UI sign-in');
    return reply.redirect(next, 303);
  });

  app.get('/ui/sign-in/once', { config: { uiAccess: 'anyone' }, schema: { hide: true, querystring: CodeQuery } }, async (request, reply) => {
    const code = (request.query as { code?: string }).code ?? '';
    const token = code === '' ? null : ui.signInCodes.redeem(code);
    const row = token === null ? null : await findLiveToken(ui.deps.db, token);
    if (!token || !row) {
      return signInForm(ui, request, reply, {
        next: '/ui/jobs',
        notice: 'This sign-in link was already used or has expired. Restart `kubescribe dev` for a new one, or paste the token from .kubescribe/token.',
        status: 400,
      });
    }
    await startSession(ui, request, reply, token);
    request.log.info({ actor: `token:${row.name}` }, 'UI sign-in with a one-time link');
    // The redirect takes the code out of the address bar and the history.
    return reply.redirect('/ui/jobs', 303);
  });

  app.post('/ui/sign-out', { schema: { hide: true } }, async (request, reply) => {
    reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
    return reply.redirect('/ui/sign-in', 303);
  });
};

async function startSession(ui: UiContext, request: FastifyRequest, reply: FastifyReply, token: string): Promise<void> {
  reply.setCookie(SESSION_COOKIE, (await ui.keys.current()).seal(token), cookieOptions(request, SESSION_MAX_AGE_S));
  reply.clearCookie(PRE_SESSION_COOKIE, cookieOptions(request));
}

async function signInForm(
  ui: UiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  { next, error = null, notice = null, status = 200 }: { next: string; error?: string | null; notice?: string | null; status?: number },
) {
  // The form's CSRF pair: a random cookie and its keyed digest in the form (there is no session yet).
  let presign = request.cookies[PRE_SESSION_COOKIE];
  if (!presign || !/^[A-Za-z0-9_-]{22,64}$/.test(presign)) {
    presign = randomBytes(18).toString('base64url');
    reply.setCookie(PRE_SESSION_COOKIE, presign, cookieOptions(request, 3600));
  }
  return ui.render(reply, 'sign-in', { next, error, notice, presignCsrf: (await ui.keys.current()).mac('presign', presign) }, { title: 'Sign in', status });
}
