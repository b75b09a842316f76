import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../runlog/db.ts';
import { findLiveTokens, scopeAllows, touchToken, type TokenRow, type TokenScope } from '../runlog/sql/tokens.ts';
import { Coalescer } from '../util/coalescer.ts';
import { ApiError } from './errors.ts';
import { runTokenAuthenticator, type RunnerAuthenticator, type RunnerIdentity } from './runner-auth.ts';

/**
 * The scope a route needs; `public` routes need no token; `runner` routes take an admin API token or
 * a runner credential (runner-auth.ts). Set per route in `config.scope`.
 */
export type RouteScope = TokenScope | 'public' | 'runner';

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: RouteScope;
    /**
     * The handler checks the token itself, in the statement that writes (POST /runs/trigger): the
     * hook only reads the header. Any answer other than the handler's own success checks it first.
     */
    tokenCheckedByHandler?: boolean;
  }
  interface FastifyRequest {
    /** Who is calling: `token:<name>`; recorded in run events. Empty until the token was checked. */
    actor: string;
    /** The bearer token of a route whose handler checks it (tokenCheckedByHandler), else null. */
    bearer: string | null;
    /** On a `runner` route: what the caller's credential may do. Null elsewhere. */
    runner: RunnerIdentity | null;
    /** Checks the request's token now, unless it was: sets `actor`, or throws 401/403. */
    authenticate(): Promise<void>;
  }
}

/**
 * Bearer-token authentication for every route that does not declare `scope: 'public'`: 401 without a
 * valid token, 403 when the token's scope is too small. Routes without a declared scope need `admin`,
 * so a route someone forgets to annotate is closed rather than open.
 */
export function registerAuth(app: FastifyInstance, db: Db, runnerAuthenticators: readonly RunnerAuthenticator[] = []): void {
  // Run tokens first (a prefix check, then one lookup), then the ones the server was given.
  const authenticators = [runTokenAuthenticator(db), ...runnerAuthenticators];
  // Every request looks its token up (nothing is cached, so a revoked token is refused on its next
  // request), but lookups that arrive together share one statement.
  const lookups = new Coalescer<string, TokenRow | null>((tokens) => findLiveTokens(db, tokens), { maxInFlight: 1, maxBatch: 64 });
  app.decorateRequest('actor', '');
  app.decorateRequest('bearer', null);
  app.decorateRequest('runner', null);
  app.decorateRequest('authenticate', async function authenticate(this: FastifyRequest): Promise<void> {
    if (this.actor) return;
    const needed = neededScope(this);
    if (needed === 'public') return;
    const value = this.bearer ?? bearerOf(this);
    const token = await lookups.submit(value);
    if (needed === 'runner') {
      this.runner = await runnerIdentityOf(value, token, authenticators);
      this.actor = this.runner.actor;
      if (token) await touchToken(db, token);
      return;
    }
    if (!token) throw new ApiError(401, 'unauthorized', 'the API token is unknown, revoked or expired');
    if (!scopeAllows(token.scope, needed as TokenScope)) {
      throw new ApiError(403, 'forbidden', `token ${token.name} has scope ${token.scope}; this endpoint needs ${needed}`, {
        token: token.name,
        scope: token.scope,
        required: needed,
      });
    }
    this.actor = `token:${token.name}`;
    await touchToken(db, token);
  });
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (neededScope(request) === 'public' || request.routeOptions.url === undefined) return;
    if (request.routeOptions.config?.tokenCheckedByHandler) {
      request.bearer = bearerOf(request);
      return;
    }
    await request.authenticate();
  });
}

/** The runner identity of a bearer credential: an admin API token, or what an authenticator maps it to. */
async function runnerIdentityOf(value: string, token: TokenRow | null, authenticators: readonly RunnerAuthenticator[]): Promise<RunnerIdentity> {
  if (token) {
    if (token.scope !== 'admin') {
      throw new ApiError(403, 'forbidden', `token ${token.name} has scope ${token.scope}; runner endpoints need an admin token or a runner credential`, {
        token: token.name,
        scope: token.scope,
        required: 'admin',
      });
    }
    return { actor: `token:${token.name}`, runId: null, job: null };
  }
  for (const authenticate of authenticators) {
    const identity = await authenticate(value);
    if (identity) return identity;
  }
  throw new ApiError(401, 'unauthorized', 'the credential is not an admin API token nor a live runner credential');
}

function neededScope(request: FastifyRequest): RouteScope {
  return request.routeOptions.config?.scope ?? 'admin';
}

function bearerOf(request: FastifyRequest): string {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  if (!match) throw new ApiError(401, 'unauthorized', 'this endpoint needs an API token: send "Authorization: Bearer <token>"');
  return match[1]!;
}
