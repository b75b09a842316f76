// Running a client command against the KubeScribe API: picking the server and turning API and
// network failures into one line that says what to fix, and an exit code.
import { ApiClient, ApiClientError, ApiUnreachableError } from '../api-client/api-client.ts';
import type { CliContext } from './context.ts';
import { resolveServer, serverFilePath, tokenFilePath, type ServerTarget } from './server-file.ts';

/** `--server` / `--token` as commander parses them. */
export interface ServerFlags {
  server?: string;
  token?: string;
}

const say = (ctx: CliContext, line: string) => ctx.stderr.write(`kubescribe: ${line}\n`);

/** Runs `fn` against the configured API; API and network failures become one line and an exit code. */
export async function withApi(ctx: CliContext, target: ServerTarget, fn: (client: ApiClient) => Promise<number>): Promise<number> {
  try {
    return await fn(new ApiClient(target.url, target.token));
  } catch (error) {
    if (error instanceof ApiUnreachableError) {
      const hint = target.source === 'local' ? ` (named in ${serverFilePath(ctx.env.home)}; is kubescribe dev still running?)` : target.source === 'env' ? ' (from KUBESCRIBE_SERVER)' : '';
      say(ctx, error.message + hint);
      return 1;
    }
    if (!(error instanceof ApiClientError)) throw error;
    const [line, code] = explain(ctx, error, target);
    say(ctx, line);
    return code;
  }
}

function explain(ctx: CliContext, error: ApiClientError, target: ServerTarget): [string, number] {
  if (error.status === 401 && !target.token) {
    return [`the KubeScribe API at ${target.url} needs a token: give --token or set KUBESCRIBE_TOKEN (an admin makes one with: kubescribe tokens create --name NAME --scope read|trigger|admin; the first one, straight in the RunLog: kubescribe tokens create --name admin --scope admin --runlog)`, 1];
  }
  if (error.status === 401) {
    const from = { flag: '--token', env: 'KUBESCRIBE_TOKEN', file: tokenFilePath(ctx.env.home) }[target.tokenSource ?? 'flag'];
    return [`the KubeScribe API at ${target.url} refused the token from ${from}: ${error.message}; give a valid token with --token or KUBESCRIBE_TOKEN`, 1];
  }
  if (error.status === 403) {
    const required = (error.details as { required?: unknown } | null)?.required;
    return [`${error.message}; use a token with scope ${typeof required === 'string' ? required : 'that allows it'} (--token or KUBESCRIBE_TOKEN)`, 1];
  }
  // Bad params and unknown runs or jobs are the caller's to fix, like the CLI's own usage errors.
  return [error.message, error.status === 400 || error.status === 404 ? 2 : 1];
}

/** Runs `fn` over the API, or fails with one line when no server is configured. */
export async function overApi(ctx: CliContext, flags: ServerFlags, command: string, fn: (client: ApiClient) => Promise<number>): Promise<number> {
  const target = resolveServer(ctx.env, flags);
  if (!target) {
    say(ctx, `${command} talks to the KubeScribe API and none is configured: start one with \`kubescribe dev\`, or give --server URL (or set KUBESCRIBE_SERVER)`);
    return 1;
  }
  return withApi(ctx, target, fn);
}
