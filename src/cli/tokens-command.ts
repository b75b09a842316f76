// `kubescribe tokens`: API tokens, managed straight in the RunLog by whoever can reach the database
// (like `kubescribe migrate`), so the first token needs no token.
import type { Command } from 'commander';
import { parseDuration } from '../config/durations.ts';
import { createToken, listTokens, revokeToken, TOKEN_SCOPES, type TokenRow, type TokenScope } from '../runlog/sql/tokens.ts';
import { withRunLog, type CliContext } from './context.ts';
import { UsageError } from './errors.ts';
import { json, table, when } from './format.ts';

// The name becomes the actor `token:<name>` in run events, so keep it to one plain word.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/;
const UNIQUE_VIOLATION = '23505';

interface CreateOptions {
  name: string;
  scope: string;
  expires?: string;
  json?: boolean;
}

/** A token's state at `now`: what `tokens list` shows instead of its value. */
export function tokenStatus(token: Pick<TokenRow, 'expires_at' | 'revoked_at'>, now: Date = new Date()): 'active' | 'expired' | 'revoked' {
  if (token.revoked_at) return 'revoked';
  if (token.expires_at && new Date(token.expires_at) <= now) return 'expired';
  return 'active';
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
      expiresAt = new Date(Date.now() + parseDuration(options.expires));
    } catch (error) {
      throw new UsageError(`--expires ${options.expires}: ${(error as Error).message}`);
    }
  }
  const created = await withRunLog(ctx, async (db) => {
    try {
      return await createToken(db, { name: options.name, scope: options.scope as TokenScope, expires_at: expiresAt, created_by: ctx.env.user });
    } catch (error) {
      // Names stay taken after a revoke: the name is what run events record, so it must keep meaning one token.
      if ((error as { code?: unknown }).code === UNIQUE_VIOLATION && /name/.test(String((error as { constraint?: unknown }).constraint ?? (error as Error).message))) {
        throw new UsageError(`a token named ${options.name} already exists (see: kubescribe tokens list)`);
      }
      throw error;
    }
  });
  const { token, row } = created;
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
}

async function listCommand(ctx: CliContext, options: { json?: boolean }): Promise<number> {
  const tokens = await withRunLog(ctx, (db) => listTokens(db));
  const now = new Date();
  if (options.json) {
    ctx.stdout.write(json(tokens.map((token) => ({
      name: token.name,
      scope: token.scope,
      status: tokenStatus(token, now),
      created_at: token.created_at,
      created_by: token.created_by,
      expires_at: token.expires_at,
      last_used_at: token.last_used_at,
      revoked_at: token.revoked_at,
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
      token.name, token.scope, tokenStatus(token, now), when(token.created_at), token.created_by ?? '-',
      token.expires_at ? when(token.expires_at) : 'never', when(token.last_used_at), when(token.revoked_at),
    ]),
  ));
  return 0;
}

async function revokeCommand(ctx: CliContext, name: string): Promise<number> {
  const outcome = await withRunLog(ctx, async (db) => {
    if (await revokeToken(db, name)) return 'revoked';
    const existing = (await listTokens(db)).find((token) => token.name === name);
    return existing ? `already revoked on ${when(existing.revoked_at)}` : null;
  });
  if (!outcome) throw new UsageError(`no token named ${name} (see: kubescribe tokens list)`);
  // Revoking twice is not an error: the token is dead either way, which is what was asked.
  ctx.stdout.write(outcome === 'revoked' ? `token ${name} revoked; requests with it now get 401\n` : `token ${name} was ${outcome}\n`);
  return 0;
}

/** Registers `tokens create | list | revoke` on the program. */
export function registerTokensCommand(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const tokens = program
    .command('tokens')
    .description('create, list and revoke API tokens (straight in the RunLog; needs DATABASE_URL or the local RunLog)');
  tokens
    .command('create')
    .description('create an API token and print it, once: kubescribe tokens create --name ci --scope trigger --expires 90d')
    .requiredOption('--name <name>', 'a unique name; recorded as the actor of what the token does')
    .requiredOption('--scope <scope>', `what it may do: ${TOKEN_SCOPES.join(', ')} (each includes the ones before)`)
    .option('--expires <duration>', 'lifetime, e.g. 90d or 12h (default: never expires)')
    .option('--json', 'print JSON: {name, scope, token, expires_at}')
    .action(async (options: CreateOptions) => setExit(await createCommand(ctx, options)));
  tokens
    .command('list')
    .description('list API tokens: name, scope, status, dates; never their values')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => setExit(await listCommand(ctx, options)));
  tokens
    .command('revoke')
    .description('revoke an API token by name; it stops working at once')
    .argument('<name>', 'the token name')
    .action(async (name: string) => setExit(await revokeCommand(ctx, name)));
}
