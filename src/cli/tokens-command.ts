// `kubescribe tokens`: API tokens, managed over the API when a server is given or running (the only
// way while `kubescribe dev` holds the embedded RunLog; needs an admin token), and otherwise straight
// in the RunLog by whoever can reach the database (like `kubescribe migrate`), so the first token
// needs no token.
import type { Command } from 'commander';
import type { Db } from '../runlog/db.ts';
import { createToken, listTokens, parseTokenLifetime, revokeToken, TOKEN_SCOPES, type TokenRow, type TokenScope } from '../runlog/sql/tokens.ts';
import { ApiClientError, type ApiClient } from '../api-client/api-client.ts';
import { withApi, type ServerFlags } from './api-target.ts';
import { SERVER_HELP, TOKEN_HELP } from './client-commands.ts';
import { withRunLog, type CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import { json, table, when } from './format.ts';
import { resolveServer } from './server-file.ts';

// The name becomes the actor `token:<name>` in run events, so keep it to one plain word (POST /tokens checks the same).
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/;
const UNIQUE_VIOLATION = '23505';

type TokenState = 'active' | 'expired' | 'revoked';
type When = Date | string | null;

/** A token as both paths report it: the RunLog's row or the API's view. */
interface TokenListing {
  name: string;
  scope: TokenScope;
  status: TokenState;
  created_at: Date | string;
  created_by: string | null;
  expires_at: When;
  last_used_at: When;
  revoked_at: When;
  revoked_by: string | null;
}

/** Where the tokens are: the API or the RunLog. Same answers either way. */
interface TokenStore {
  create(input: { name: string; scope: TokenScope; expires: string | undefined; expiresAt: Date | null }): Promise<{ token: string; row: TokenListing }>;
  list(): Promise<TokenListing[]>;
  /** 'revoked' now, or when it was already revoked; null: no such token. */
  revoke(name: string): Promise<{ revokedNow: boolean; revokedAt: When } | null>;
}

interface StoreFlags extends ServerFlags {
  runlog?: boolean;
}

interface CreateOptions extends StoreFlags {
  name: string;
  scope: string;
  expires?: string;
  json?: boolean;
}

/** A token's state at `now`: what `tokens list` shows instead of its value. */
export function tokenStatus(token: Pick<TokenRow, 'expires_at' | 'revoked_at'>, now: Date = new Date()): TokenState {
  if (token.revoked_at) return 'revoked';
  if (token.expires_at && new Date(token.expires_at) <= now) return 'expired';
  return 'active';
}

const takenError = (name: string) => new UsageError(`a token named ${name} already exists (see: kubescribe tokens list)`);

function runLogStore(ctx: CliContext, db: Db): TokenStore {
  const listing = (token: TokenRow, now = new Date()): TokenListing => ({ ...token, status: tokenStatus(token, now) });
  return {
    async create({ name, scope, expiresAt }) {
      try {
        const { token, row } = await createToken(db, { name, scope, expires_at: expiresAt, created_by: ctx.env.user });
        return { token, row: listing(row) };
      } catch (error) {
        // Names stay taken after a revoke: the name is what run events record, so it must keep meaning one token.
        if ((error as { code?: unknown }).code === UNIQUE_VIOLATION && /name/.test(String((error as { constraint?: unknown }).constraint ?? (error as Error).message))) {
          throw takenError(name);
        }
        throw error;
      }
    },
    async list() {
      const now = new Date();
      return (await listTokens(db)).map((token) => listing(token, now));
    },
    async revoke(name) {
      const revokedNow = await revokeToken(db, name, ctx.env.user);
      const token = (await listTokens(db)).find((row) => row.name === name);
      return token ? { revokedNow, revokedAt: token.revoked_at } : null;
    },
  };
}

function apiStore(client: ApiClient): TokenStore {
  return {
    async create({ name, scope, expires }) {
      try {
        const created = await client.post<TokenListing & { token: string }>('/tokens', { name, scope, expires_in: expires });
        const { token, ...row } = created;
        return { token, row };
      } catch (error) {
        if (error instanceof ApiClientError && error.code === 'token_name_taken') throw takenError(name);
        throw error;
      }
    },
    async list() {
      return (await client.get<{ tokens: TokenListing[] }>('/tokens')).tokens;
    },
    async revoke(name) {
      try {
        const revoked = await client.delete<TokenListing & { revoked_now: boolean }>(`/tokens/${encodeURIComponent(name)}`);
        return { revokedNow: revoked.revoked_now, revokedAt: revoked.revoked_at };
      } catch (error) {
        if (error instanceof ApiClientError && error.code === 'token_not_found') return null;
        throw error;
      }
    },
  };
}

/** Runs `fn` over the API when a server is given or running (unless --runlog), else on the RunLog. */
async function withTokenStore(ctx: CliContext, flags: StoreFlags, fn: (store: TokenStore) => Promise<number>): Promise<number> {
  if (flags.runlog && (flags.server || flags.token)) throw new UsageError('--runlog writes straight in the RunLog: it takes no --server or --token');
  const target = flags.runlog ? null : resolveServer(ctx.env, flags);
  if (target) return withApi(ctx, target, (client) => fn(apiStore(client)));
  return withRunLog(ctx, (db) => fn(runLogStore(ctx, db)));
}

async function createCommand(ctx: CliContext, options: CreateOptions): Promise<number> {
  if (!NAME.test(options.name)) {
    throw new UsageError(`--name ${JSON.stringify(options.name)}: expected letters, digits, '.', '_', '@' or '-' (at most 100, starting with a letter or digit)`);
  }
  if (!TOKEN_SCOPES.includes(options.scope as TokenScope)) {
    throw new UsageError(`--scope ${options.scope}: expected one of ${TOKEN_SCOPES.join(', ')}`);
  }
  let expiresAt: Date | null = null;
  if (options.expires !== undefined) {
    try {
      expiresAt = new Date(Date.now() + parseTokenLifetime(options.expires, { minMs: 1000 }));
    } catch (error) {
      throw new UsageError(`--expires ${options.expires}: ${(error as Error).message}`);
    }
  }
  return withTokenStore(ctx, options, async (store) => {
    const { token, row } = await store.create({ name: options.name, scope: options.scope as TokenScope, expires: options.expires, expiresAt });
    if (options.json) {
      ctx.stdout.write(json({ name: row.name, scope: row.scope, token, expires_at: row.expires_at }));
      return 0;
    }
    // The token alone on stdout, so `token=$(kubescribe tokens create ...)` captures just it.
    ctx.stdout.write(`${token}\n`);
    const expires = row.expires_at ? `expires ${when(row.expires_at)}` : 'never expires';
    ctx.stderr.write(
      `created token ${row.name}: scope ${row.scope}, ${expires}.\n` +
        'This is the only time it is shown: store it now (only its hash is kept). Use it with --token or KUBESCRIBE_TOKEN.\n',
    );
    return 0;
  });
}

async function listCommand(ctx: CliContext, options: { json?: boolean } & StoreFlags): Promise<number> {
  return withTokenStore(ctx, options, async (store) => {
    const tokens = await store.list();
    if (options.json) {
      ctx.stdout.write(json(tokens.map((token) => ({
        name: token.name,
        scope: token.scope,
        status: token.status,
        created_at: token.created_at,
        created_by: token.created_by,
        expires_at: token.expires_at,
        last_used_at: token.last_used_at,
        revoked_at: token.revoked_at,
        revoked_by: token.revoked_by,
      }))));
      return 0;
    }
    if (tokens.length === 0) {
      ctx.stdout.write(`No API tokens. Create one with: kubescribe tokens create --name NAME --scope ${TOKEN_SCOPES.join('|')}\n`);
      return 0;
    }
    ctx.stdout.write(table(
      ['NAME', 'SCOPE', 'STATUS', 'CREATED', 'CREATED BY', 'EXPIRES', 'LAST USED', 'REVOKED'],
      tokens.map((token) => [
        token.name, token.scope, token.status, when(token.created_at), token.created_by ?? '-',
        token.expires_at ? when(token.expires_at) : 'never', when(token.last_used_at),
        token.revoked_at ? `${when(token.revoked_at)}${token.revoked_by ? ` by ${token.revoked_by}` : ''}` : when(token.revoked_at),
      ]),
    ));
    return 0;
  });
}

async function revokeCommand(ctx: CliContext, name: string, options: StoreFlags): Promise<number> {
  return withTokenStore(ctx, options, async (store) => {
    const outcome = await store.revoke(name);
    if (!outcome) throw new UsageError(`no token named ${name} (see: kubescribe tokens list)`);
    // Revoking twice is not an error: the token is dead either way, which is what was asked.
    ctx.stdout.write(outcome.revokedNow
      ? `token ${name} revoked; requests with it now get 401\n`
      : `token ${name} was already revoked on ${when(outcome.revokedAt)}\n`);
    return 0;
  });
}

const RUNLOG_HELP = 'straight in the RunLog even when a server is running or KUBESCRIBE_SERVER is set (e.g. the first token of a deployment)';

/** Registers `tokens create | list | revoke` on the program. */
export function registerTokensCommand(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const tokens = program
    .command('tokens')
    .description('create, list and revoke API tokens (over the API when a server is given or running, with an admin token; else straight in the RunLog)');
  const target = (command: Command) => command
    .option('--server <url>', SERVER_HELP)
    .option('--token <token>', `${TOKEN_HELP}; needs scope admin`)
    .option('--runlog', RUNLOG_HELP);
  target(tokens
    .command('create')
    .description('create an API token and print it, once: kubescribe tokens create --name ci --scope trigger --expires 90d')
    .requiredOption('--name <name>', 'a unique name; recorded as the actor of what the token does')
    .requiredOption('--scope <scope>', `what it may do: ${TOKEN_SCOPES.join(', ')} (each includes the ones before)`)
    .option('--expires <duration>', 'lifetime, e.g. 90d or 12h (default: never expires)')
    .option('--json', 'print JSON: {name, scope, token, expires_at}'))
    .action(async (options: CreateOptions) => setExit(await createCommand(ctx, options)));
  target(tokens
    .command('list')
    .description('list API tokens: name, scope, status, dates; never their values')
    .option('--json', 'print JSON'))
    .action(async (options: { json?: boolean } & StoreFlags) => setExit(await listCommand(ctx, options)));
  target(tokens
    .command('revoke')
    .description('revoke an API token by name; it stops working at once')
    .argument('<name>', 'the token name'))
    .action(async (name: string, options: StoreFlags) => setExit(await revokeCommand(ctx, name, options)));
}
