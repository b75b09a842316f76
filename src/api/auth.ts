import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../runlog/db.ts';
import { findLiveTokens, scopeAllows, touchToken, type TokenRow, type TokenScope } from '../runlog/sql/tokens.ts';
import { Coalescer } from '../util/coalescer.ts';
import { ApiError } from './errors.ts';

/** The scope a route needs; `public` routes need no token. Set per route in `config.scope`. */
export type RouteScope = TokenScope | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: RouteScope;
  }
  interface FastifyRequest {
    /** Who is calling: `token:<name>`; recorded in run events. */
    actor: string;
  }
}

/**
 * Bearer-token authentication for every route that does not declare `scope: 'public'`: 401 without a
 * valid token, 403 when the token's scope is too small. Routes without a declared scope need `admin`,
 * so a route someone forgets to annotate is closed rather than open.
 */
export function registerAuth(app: FastifyInstance, db: Db): void {
  // Every request looks its token up (nothing is cached, so a revoked token is refused on its next
  // request), but lookups that arrive together share one statement.
  const lookups = new Coalescer<string, TokenRow | null>((tokens) => findLiveTokens(db, tokens), { maxInFlight: 1, maxBatch: 64 });
  app.decorateRequest('actor', '');
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const needed: RouteScope = request.routeOptions.config?.scope ?? 'admin';
    if (needed === 'public' || request.routeOptions.url === undefined) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      throw new ApiError(401, 'unauthorized', 'this endpoint needs an API token: send "Authorization: Bearer <token>"');
    }
    const token = await lookups.submit(match[1]!);
    if (!token) throw new ApiError(401, 'unauthorized', 'the API token is unknown, revoked or expired');
    if (!scopeAllows(token.scope, needed)) {
      throw new ApiError(403, 'forbidden', `token ${token.name} has scope ${token.scope}; this endpoint needs ${needed}`, {
        token: token.name,
        scope: token.scope,
        required: needed,
      });
    }
    request.actor = `token:${token.name}`;
    await touchToken(db, token);
  });
}
