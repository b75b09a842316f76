// Where `kubescribe run` (and `kubescribe flush`) records: through the KubeScribe API or straight
// into the RunLog (docs/runner.md, "Where records go"). Reads no database module: the API path must
// start without loading a database engine.
import { readFileSync } from 'node:fs';
import type { Environment } from '../config/environment.ts';
import { runLogIdentity } from '../runlog/runlog-identity.ts';
import type { RunnerCredential } from '../runner/api-sink.ts';
import { UsageError } from './errors.ts';
import { normalizeServerUrl, readLiveServerFile, tokenFilePath } from './server-file.ts';

export type RunnerSinkChoice =
  | { kind: 'direct' }
  | { kind: 'api'; url: string; credential: RunnerCredential; why: 'KUBESCRIBE_API_URL' | 'local server' };

type SinkEnv = Pick<Environment, 'apiUrl' | 'token' | 'tokenFile' | 'runlogMode' | 'home' | 'databaseUrl' | 'databaseSchema'>;

/**
 * KUBESCRIBE_RUNLOG=direct: the RunLog. KUBESCRIBE_API_URL (with KUBESCRIBE_TOKEN or
 * KUBESCRIBE_TOKEN_FILE): that API. Else a running `kubescribe dev` for this same RunLog (its server
 * file, its pid alive) with its local admin token, or a `serve` for it with the caller's token. Else the RunLog (KUBESCRIBE_RUNLOG=api makes that an error).
 */
export function chooseRunnerSink(env: SinkEnv): RunnerSinkChoice {
  const mode = env.runlogMode;
  if (mode !== null && mode !== 'direct' && mode !== 'api') {
    throw new UsageError(`KUBESCRIBE_RUNLOG=${mode}: expected direct (straight into the RunLog) or api (through the KubeScribe API)`);
  }
  if (mode === 'direct') return { kind: 'direct' };
  if (env.apiUrl) {
    const url = normalizeServerUrl(env.apiUrl, 'KUBESCRIBE_API_URL');
    if (env.tokenFile) return { kind: 'api', url, credential: fileCredential(env.tokenFile, 'KUBESCRIBE_TOKEN_FILE'), why: 'KUBESCRIBE_API_URL' };
    if (env.token) {
      const token = env.token;
      return { kind: 'api', url, credential: { read: () => token, source: 'KUBESCRIBE_TOKEN', rereadable: false }, why: 'KUBESCRIBE_API_URL' };
    }
    throw new UsageError('KUBESCRIBE_API_URL is set but no credential is: set KUBESCRIBE_TOKEN or KUBESCRIBE_TOKEN_FILE (or KUBESCRIBE_RUNLOG=direct to write the RunLog itself)');
  }
  const server = readLiveServerFile(env.home);
  // Only a server for this very RunLog: a run with another DATABASE_URL must not land in dev's.
  if (server?.runlog !== undefined && server.runlog === runLogIdentity(env)) {
    const credential = localServerCredential(env, server.kind);
    if (credential) return { kind: 'api', url: normalizeServerUrl(server.url, 'the server file'), credential, why: 'local server' };
  }
  if (mode === 'api') {
    throw new UsageError('KUBESCRIBE_RUNLOG=api but no API is known: set KUBESCRIBE_API_URL and KUBESCRIBE_TOKEN (or start kubescribe dev for this RunLog)');
  }
  return { kind: 'direct' };
}

/**
 * The credential for the local server: dev's own admin token file; for a serve, which writes no token,
 * the caller's KUBESCRIBE_TOKEN_FILE or KUBESCRIBE_TOKEN (a token of that RunLog, as its tokens live
 * there). Null: none, and the run records straight in the RunLog as before.
 */
function localServerCredential(env: SinkEnv, kind: 'dev' | 'serve'): RunnerCredential | null {
  if (kind === 'serve') {
    if (env.tokenFile) return fileCredential(env.tokenFile, 'KUBESCRIBE_TOKEN_FILE');
    const token = env.token;
    return token ? { read: () => token, source: 'KUBESCRIBE_TOKEN', rereadable: false } : null;
  }
  const file = tokenFilePath(env.home);
  try {
    readFileSync(file, 'utf8');
    return fileCredential(file, file);
  } catch {
    // No token file: the server cannot be used.
    return null;
  }
}

/** A credential kept in a file: read now and again whenever the API refuses it. */
export function fileCredential(path: string, source: string): RunnerCredential {
  return {
    source,
    rereadable: true,
    read: () => {
      let text: string;
      try {
        text = readFileSync(path, 'utf8').trim();
      } catch (error) {
        throw new UsageError(`${source}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      if (!text) throw new UsageError(`${source}: ${path} is empty`);
      return text;
    },
  };
}
