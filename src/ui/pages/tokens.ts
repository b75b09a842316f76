// The tokens page (scope admin, like the API's /tokens): list, create (the secret shown once, in the
// response to the form, never in a URL or cookie), revoke: the same functions as src/api/routes/tokens.ts.
import { createApiToken, listTokenViews, revokeApiToken } from '../../api/routes/tokens.ts';
import { ApiError } from '../../api/errors.ts';
import { TOKEN_SCOPES, type TokenScope } from '../../runlog/sql/tokens.ts';
import { flash } from '../flash.ts';
import { formField } from '../form.ts';
import { requireScope } from '../session.ts';
import type { UiContext, UiPageModule } from '../ui-context.ts';
import type { FastifyReply } from 'fastify';

interface FormState {
  values: { name: string; scope: string; expires_in: string };
  errors: Partial<Record<'name' | 'scope' | 'expires_in', string>>;
  created: { name: string; scope: string; token: string } | null;
}

const EMPTY: FormState = { values: { name: '', scope: 'read', expires_in: '90d' }, errors: {}, created: null };

/** GET/POST /ui/tokens, POST /ui/tokens/:name/revoke. */
export const tokensPages: UiPageModule = (app, ui) => {
  app.get('/ui/tokens', { schema: { hide: true } }, async (request, reply) => {
    requireScope(request, 'admin');
    return tokensPage(ui, reply, EMPTY);
  });

  app.post('/ui/tokens', { schema: { hide: true } }, async (request, reply) => {
    const session = requireScope(request, 'admin');
    const values = {
      name: formField(request.body, 'name')?.trim() ?? '',
      scope: formField(request.body, 'scope') ?? '',
      expires_in: formField(request.body, 'expires_in')?.trim() ?? '',
    };
    try {
      const created = await createApiToken(ui.deps, {
        name: values.name,
        scope: values.scope as TokenScope,
        ...(values.expires_in === '' ? {} : { expires_in: values.expires_in }),
      }, session.actor);
      request.log.info({ token: created.name, scope: created.scope, actor: session.actor }, 'token created');
      return tokensPage(ui, reply, { values: EMPTY.values, errors: {}, created: { name: created.name, scope: created.scope, token: created.token } }, 201);
    } catch (error) {
      if (!(error instanceof ApiError) || (error.statusCode !== 400 && error.statusCode !== 409)) throw error;
      // The API's error names its field (body.name, body.expires_in): shown at that field.
      const details = Array.isArray(error.details) ? (error.details as { field: string; reason: string }[]) : [];
      const errors: FormState['errors'] = {};
      for (const detail of details) errors[detail.field.replace(/^body\./, '') as keyof FormState['errors']] = detail.reason;
      if (error.statusCode === 409) errors.name = 'is taken (names stay taken after a revoke)';
      if (Object.keys(errors).length === 0) errors.name = error.message;
      return tokensPage(ui, reply, { values, errors, created: null }, error.statusCode);
    }
  });

  app.post('/ui/tokens/:name/revoke', { schema: { hide: true } }, async (request, reply) => {
    const session = requireScope(request, 'admin');
    const { name } = request.params as { name: string };
    const revoked = await revokeApiToken(ui.deps, name, session.actor);
    request.log.info({ token: name, actor: session.actor, revoked_now: revoked.revoked_now }, 'token revoked');
    flash(reply, revoked.revoked_now ? `Token ${name} revoked: requests with it are refused from now on.` : `Token ${name} was already revoked.`);
    return reply.redirect('/ui/tokens', 303);
  });
};

async function tokensPage(ui: UiContext, reply: FastifyReply, state: FormState, status = 200) {
  const tokens = await listTokenViews(ui.deps);
  return ui.render(reply, 'tokens', { tokens, scopes: TOKEN_SCOPES, ...state, self: reply.request.uiSession?.actor }, { title: 'Tokens', status });
}
