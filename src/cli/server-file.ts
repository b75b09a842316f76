// How client commands find the API and its token: flags, then the environment, then the files
// `kubescribe dev` leaves in KubeScribe's home (`server.json` and `token`, both mode 0600).
import { processExists } from '../util/process-exists.ts';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Environment } from '../config/environment.ts';
import { UsageError } from './errors.ts';

/** What `kubescribe dev` records about itself while it runs. */
export interface ServerFile {
  url: string;
  pid: number;
  /** The RunLog it serves (src/runlog/runlog-identity.ts); absent in files of older versions. */
  runlog?: string;
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

/** Records the running dev server (`kubescribe dev` calls this once it listens). */
export function writeServerFile(home: string, server: ServerFile): void {
  mkdirSync(home, { recursive: true });
  writePrivate(serverFilePath(home), JSON.stringify({ url: server.url, pid: server.pid, ...(server.runlog ? { runlog: server.runlog } : {}) }) + '\n');
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

/** The local dev server and its token, or null when no server file exists or its process is gone. */
export function readLocalServer(home: string): { url: string; token: string | null } | null {
  const server = parseServerFile(readOptional(serverFilePath(home)));
  if (!server || !processExists(server.pid)) return null;
  return { url: server.url, token: readLocalToken(home) };
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
    return { url: value.url, pid: value.pid as number, ...(typeof value.runlog === 'string' ? { runlog: value.runlog } : {}) };
  } catch {
    // A file cut short by a crash means no usable server, not a broken CLI.
    return null;
  }
}


/**
 * Resolves the API for a client command: `--server`, else KUBESCRIBE_SERVER, else the running local
 * dev server; the token: `--token`, else KUBESCRIBE_TOKEN, else the local token file. Null: no server.
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
    url = normalizeServerUrl(local.url, serverFilePath(env.home));
    source = 'local';
  }
  const flagToken = flags.token?.trim() || null;
  if (flagToken) return { url, source, token: flagToken, tokenSource: 'flag' };
  if (env.token) return { url, source, token: env.token, tokenSource: 'env' };
  // The dev server's admin token goes only to the dev server: never to some other URL a flag names.
  const local = source === 'local' ? null : readLocalServer(env.home);
  const isLocal = source === 'local' || (local !== null && normalizeServerUrl(local.url, serverFilePath(env.home)) === url);
  const fileToken = isLocal ? readLocalToken(env.home) : null;
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
