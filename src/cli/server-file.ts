// How client commands find the API and its token: flags, then the environment, then the files
// `kubescribe dev` leaves in KubeScribe's home (`server.json` and `token`, both mode 0600).
// `kubescribe serve` writes `server.json` too, but no token: beside it, a command uses the server
// only with a token of its own (KUBESCRIBE_TOKEN; docs/runner.md, "Where records go").
import { processExists } from '../util/process-exists.ts';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Environment } from '../config/environment.ts';
import { UsageError } from './errors.ts';

/** What `kubescribe dev` or `serve` records about itself while it runs. */
export interface ServerFile {
  /** Where a client on this machine reaches it (a loopback address for a server on every interface). */
  url: string;
  pid: number;
  /** The RunLog it serves (src/runlog/runlog-identity.ts); absent in files of older versions. */
  runlog?: string;
  /** Which command wrote it: only `dev` keeps a local admin token for it (absent in older files: dev). */
  kind: 'dev' | 'serve';
}

/** Where a client command sends its requests, and with which token. */
export interface ServerTarget {
  url: string;
  token: string | null;
  /** Where the URL came from, so error messages can say what to fix. */
  source: 'flag' | 'env' | 'local';
  tokenSource: 'flag' | 'env' | 'file' | null;
}

/** Path of the file naming the running local dev server. */
export function serverFilePath(home: string): string {
  return join(home, 'server.json');
}

/** Path of the local admin token `kubescribe dev` creates on first start. */
export function tokenFilePath(home: string): string {
  return join(home, 'token');
}

// Write-then-rename: a reader never sees half a file, and the new file is created 0600 from the
// start, so the token is never readable by others, not even for a moment.
function writePrivate(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

function readOptional(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Records the running server (`kubescribe dev` and `serve` call this once they listen). */
export function writeServerFile(home: string, server: ServerFile): void {
  mkdirSync(home, { recursive: true });
  writePrivate(serverFilePath(home), JSON.stringify({ url: server.url, pid: server.pid, kind: server.kind, ...(server.runlog ? { runlog: server.runlog } : {}) }) + '\n');
}

/**
 * The URL a client on this machine uses for a server listening at `url`: a server bound to every
 * interface (0.0.0.0, ::) is reached on loopback, which needs no route and no firewall opening.
 */
export function localUrlOf(url: string): string {
  const parsed = new URL(url);
  if (parsed.hostname === '0.0.0.0') parsed.hostname = '127.0.0.1';
  else if (parsed.hostname === '[::]') parsed.hostname = '[::1]';
  return parsed.href.replace(/\/+$/, '');
}

/** Removes the server file if it still names `pid` (a newer server's file is left alone). */
export function removeServerFile(home: string, pid: number): void {
  const current = parseServerFile(readOptional(serverFilePath(home)));
  if (current?.pid === pid) rmSync(serverFilePath(home), { force: true });
}

/** Writes the local admin token, readable by this user only. */
export function writeLocalToken(home: string, token: string): void {
  mkdirSync(home, { recursive: true });
  writePrivate(tokenFilePath(home), `${token}\n`);
}

/** The local admin token, or null when `kubescribe dev` has not created one. */
export function readLocalToken(home: string): string | null {
  const text = readOptional(tokenFilePath(home))?.trim();
  return text ? text : null;
}

/**
 * The local server and, for `dev`, its token; null when no server file exists or its process is gone.
 * A `serve` comes without a token: dev's token file is not its own.
 */
export function readLocalServer(home: string): { url: string; token: string | null; kind: ServerFile['kind'] } | null {
  const server = parseServerFile(readOptional(serverFilePath(home)));
  if (!server || !processExists(server.pid)) return null;
  return { url: server.url, token: server.kind === 'dev' ? readLocalToken(home) : null, kind: server.kind };
}

/** The running local server's file (its process alive), or null. */
export function readLiveServerFile(home: string): ServerFile | null {
  const server = parseServerFile(readOptional(serverFilePath(home)));
  return server && processExists(server.pid) ? server : null;
}

function parseServerFile(text: string | null): ServerFile | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Partial<ServerFile>;
    if (typeof value.url !== 'string' || !Number.isSafeInteger(value.pid) || (value.pid as number) <= 0) return null;
    const kind = value.kind === 'serve' ? 'serve' : 'dev';
    return { url: value.url, pid: value.pid as number, kind, ...(typeof value.runlog === 'string' ? { runlog: value.runlog } : {}) };
  } catch {
    // A file cut short by a crash means no usable server, not a broken CLI.
    return null;
  }
}


/**
 * Resolves the API for a client command: `--server`, else KUBESCRIBE_SERVER, else the running local
 * dev server (or serve, given a token); the token: `--token`, else KUBESCRIBE_TOKEN, else the local token file. Null: no server.
 */
export function resolveServer(
  env: Pick<Environment, 'server' | 'token' | 'home'>,
  flags: { server?: string; token?: string },
): ServerTarget | null {
  const flagServer = flags.server?.trim() || null;
  let url: string;
  let source: ServerTarget['source'];
  if (flagServer) {
    url = normalizeServerUrl(flagServer, '--server');
    source = 'flag';
  } else if (env.server) {
    url = normalizeServerUrl(env.server, 'KUBESCRIBE_SERVER');
    source = 'env';
  } else {
    const local = readLocalServer(env.home);
    if (!local) return null;
    // A serve makes no token for this machine: without one of the caller's own, the command reads
    // the RunLog itself, as it did before serve wrote a server file.
    if (local.kind === 'serve' && !flags.token?.trim() && !env.token) return null;
    url = normalizeServerUrl(local.url, serverFilePath(env.home));
    source = 'local';
  }
  const flagToken = flags.token?.trim() || null;
  if (flagToken) return { url, source, token: flagToken, tokenSource: 'flag' };
  if (env.token) return { url, source, token: env.token, tokenSource: 'env' };
  // The dev server's admin token goes only to the dev server: never to some other URL a flag names.
  const local = readLocalServer(env.home);
  const isLocalDev = local?.kind === 'dev' && (source === 'local' || normalizeServerUrl(local.url, serverFilePath(env.home)) === url);
  const fileToken = isLocalDev ? readLocalToken(env.home) : null;
  return { url, source, token: fileToken, tokenSource: fileToken ? 'file' : null };
}

/** Accepts `host:port` or an http(s) URL; returns the URL without a trailing slash. */
export function normalizeServerUrl(value: string, origin: string): string {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${origin} ${value}: expected the API's URL, such as http://127.0.0.1:8080`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${origin} ${value}: expected an http:// or https:// URL`);
  }
  if (url.username || url.password) {
    throw new UsageError(`${origin}: put the API token in --token or KUBESCRIBE_TOKEN, not in the URL`);
  }
  return url.href.replace(/\/+$/, '');
}
