// API tokens over the API (scope admin), so that they can be managed while a server holds the RunLog
// (embedded PGlite admits one process). A token's value is returned once, by POST; only its hash is kept.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import type { ApiDeps } from '../app.ts';
import { ApiError, BadRequestError, ConflictError } from '../errors.ts';
import { DateTime, errorResponses, Nullable, StringEnum } from '../schemas.ts';
import { createToken, listTokens, parseTokenLifetime, revokeToken, TOKEN_SCOPES, type TokenRow } from '../../runlog/sql/tokens.ts';

// The name becomes the actor `token:<name>` in run events, so it is one plain word (the CLI checks the same).
const TOKEN_NAME = '^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$';
const TOKEN_STATES = ['active', 'expired', 'revoked'] as const;
const UNIQUE_VIOLATION = '23505';

const TokenProperties = {
  name: Type.String({ description: 'Unique; what run events record as the actor `token:<name>`.' }),
  scope: StringEnum(TOKEN_SCOPES, { description: 'read: runs, jobs, logs; trigger: also trigger, cancel, retry; admin: also suspend/resume and tokens.' }),
  status: StringEnum(TOKEN_STATES),
  created_at: DateTime,
  created_by: Nullable(Type.String(), { description: 'Who created it: `token:<name>` over the API, the OS user from the CLI.' }),
  expires_at: Nullable(DateTime, { description: 'Null: never expires.' }),
  last_used_at: Nullable(DateTime, { description: 'Last request with it (recorded at most once a minute).' }),
  revoked_at: Nullable(DateTime),
  revoked_by: Nullable(Type.String(), { description: 'Who revoked it: `token:<name>` over the API, the OS user from the CLI.' }),
};
const TokenSchema = Type.Object(TokenProperties, { title: 'Token', description: 'An API token; never its value or hash.' });
export type TokenView = Static<typeof TokenSchema>;

const CreatedTokenSchema = Type.Object(
  { ...TokenProperties, token: Type.String({ description: 'The token itself: shown this once, only its hash is stored.' }) },
  { title: 'CreatedToken' },
);

const CreateBody = Type.Object(
  {
    name: Type.String({ pattern: TOKEN_NAME, description: "Letters, digits, '.', '_', '@', '-'; at most 100; starting with a letter or digit." }),
    scope: StringEnum(TOKEN_SCOPES),
    expires_in: Type.Optional(Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'Lifetime such as "90d", "12h" or "1h30m": at least 1m, at most 3650d (10 years), with a unit. Absent: never expires.',
    })),
  },
  { additionalProperties: false },
);
const NameParams = Type.Object({ name: Type.String({ minLength: 1, description: 'The token name.' }) });

/** A token's state at `now`. */
function statusOf(token: TokenRow, now: Date): TokenView['status'] {
  if (token.revoked_at) return 'revoked';
  if (token.expires_at && new Date(token.expires_at) <= now) return 'expired';
  return 'active';
}

/**
 * A token's API view. A time JSON cannot show as RFC 3339 (an expiry in year 13434, written before
 * lifetimes were bounded) is shown as null rather than failing the response: one odd row must not
 * break GET /tokens for every token.
 */
function tokenView(token: TokenRow, now: Date = new Date()): TokenView {
  return {
    name: token.name,
    scope: token.scope,
    status: statusOf(token, now),
    created_at: showableTime(token.created_at) ?? new Date(0).toISOString(),
    created_by: token.created_by,
    expires_at: showableTime(token.expires_at),
    last_used_at: showableTime(token.last_used_at),
    revoked_at: showableTime(token.revoked_at),
    revoked_by: token.revoked_by,
  };
}

// toISOString renders years past 9999 as "+013434-…", which is not a date-time.
function showableTime(value: Date | string | null): string | null {
  if (value === null) return null;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) || time.getUTCFullYear() > 9999 || time.getUTCFullYear() < 1 ? null : time.toISOString();
}

function expiresAt(expiresIn: string | undefined, now: Date): Date | null {
  if (expiresIn === undefined) return null;
  try {
    return new Date(now.getTime() + parseTokenLifetime(expiresIn));
  } catch (error) {
    throw new BadRequestError(`body.expires_in: ${(error as Error).message}`, [{ field: 'body.expires_in', reason: (error as Error).message }]);
  }
}

const isNameTaken = (error: unknown): boolean =>
  (error as { code?: unknown }).code === UNIQUE_VIOLATION
  && /name/.test(String((error as { constraint?: unknown }).constraint ?? (error as Error).message));

/** Every token, oldest first, as GET /tokens (and the UI's tokens page) shows them. */
export async function listTokenViews(deps: Pick<ApiDeps, 'db'>): Promise<TokenView[]> {
  const now = new Date();
  return (await listTokens(deps.db)).map((token) => tokenView(token, now));
}

/**
 * Creates a token for `actor`: POST /tokens and the UI's form. The name and lifetime are checked
 * here too (the API's schema checks them first), so a form gets the same 400 naming the field.
 */
export async function createApiToken(
  deps: Pick<ApiDeps, 'db'>,
  input: { name: string; scope: TokenRow['scope']; expires_in?: string },
  actor: string,
): Promise<TokenView & { token: string }> {
  const { name, scope, expires_in } = input;
  if (!new RegExp(TOKEN_NAME).test(name)) {
    const reason = "must be letters, digits, '.', '_', '@', '-', at most 100, starting with a letter or digit";
    throw new BadRequestError(`body.name: ${reason}`, [{ field: 'body.name', reason }]);
  }
  if (!(TOKEN_SCOPES as readonly string[]).includes(scope)) {
    const reason = `must be one of ${JSON.stringify(TOKEN_SCOPES)}`;
    throw new BadRequestError(`body.scope: ${reason}`, [{ field: 'body.scope', reason }]);
  }
  const now = new Date();
  let created: Awaited<ReturnType<typeof createToken>>;
  try {
    created = await createToken(deps.db, { name, scope, expires_at: expiresAt(expires_in, now), created_by: actor });
  } catch (error) {
    if (!isNameTaken(error)) throw error;
    throw new ConflictError('token_name_taken', `a token named ${name} already exists (names stay taken after a revoke)`, { name });
  }
  return { ...tokenView(created.row, now), token: created.token };
}

/** Revokes a token by name (idempotent), recording `actor`: DELETE /tokens/{name} and the UI's button. */
export async function revokeApiToken(deps: Pick<ApiDeps, 'db'>, name: string, actor: string): Promise<TokenView & { revoked_now: boolean }> {
  const revokedNow = await revokeToken(deps.db, name, actor);
  const token = (await listTokens(deps.db)).find((row) => row.name === name);
  if (!token) throw new ApiError(404, 'token_not_found', `no token ${name}`, { token: name });
  return { ...tokenView(token), revoked_now: revokedNow };
}

/** POST /tokens, GET /tokens, DELETE /tokens/{name}: all scope admin; every call names its actor. */
export async function tokensRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.post(
    '/tokens',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token; its value is in this response only',
        description: 'The new token records the calling token as `created_by` (`token:<name>`). Names stay taken after a revoke, '
          + 'so that an actor name in run events always means one token.',
        body: CreateBody,
        response: { 201: CreatedTokenSchema, ...errorResponses(400, 401, 403, 409, 500) },
      },
    },
    async (request, reply) => {
      const created = await createApiToken(deps, request.body, request.actor);
      request.log.info({ token: created.name, scope: created.scope, actor: request.actor }, 'token created');
      return reply.code(201).send(created);
    },
  );

  api.get(
    '/tokens',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['tokens'],
        summary: 'Every API token, oldest first: name, scope, status and dates, never a value or hash',
        response: { 200: Type.Object({ tokens: Type.Array(TokenSchema) }), ...errorResponses(401, 403, 500) },
      },
    },
    async () => ({ tokens: await listTokenViews(deps) }),
  );

  api.delete(
    '/tokens/:name',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token (idempotent); requests with it get 401 from then on',
        description: '`revoked_now` is false when it was already revoked; the token is revoked either way.',
        params: NameParams,
        response: {
          200: Type.Object({ ...TokenProperties, revoked_now: Type.Boolean() }, { title: 'RevokedToken' }),
          ...errorResponses(401, 403, 404, 500),
        },
      },
    },
    async (request) => {
      const revoked = await revokeApiToken(deps, request.params.name, request.actor);
      request.log.info({ token: revoked.name, actor: request.actor, revoked_now: revoked.revoked_now }, 'token revoked');
      return revoked;
    },
  );
}
