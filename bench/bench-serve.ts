/**
 * A `kubescribe serve` for a benchmark (no executor, no scheduler) on a PostgreSQL schema the caller
 * owns, with a bootstrap admin token: the runner benches record through it as a job pod does
 * (KUBESCRIBE_API_URL and a token, no DATABASE_URL). Shared by bench/runner-overhead.ts and
 * bench/runner-executable.ts.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/kubescribe.js', import.meta.url));

export interface BenchServe {
  url: string;
  token: string;
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts the server with `env` (DATABASE_URL, KUBESCRIBE_DB_SCHEMA, …) under `workDir`; a string says why it could not. */
export async function startBenchServe(workDir: string, env: NodeJS.ProcessEnv): Promise<BenchServe | string> {
  const home = join(workDir, 'api-home');
  mkdirSync(home, { recursive: true });
  const tokenFile = join(workDir, 'admin-token');
  const token = `ksk_${randomBytes(24).toString('hex')}`;
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const serverEnv: NodeJS.ProcessEnv = { ...env, KUBESCRIBE_HOME: home, KUBESCRIBE_ADMIN_TOKEN_FILE: tokenFile };
  const server = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--executor', 'none', '--no-scheduler'], { cwd: workDir, env: serverEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let serverErr = '';
  server.stderr!.on('data', (data: Buffer) => {
    serverErr = (serverErr + data.toString('utf8')).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
    await exited;
  };
  // serve writes its URL to the server file once it listens.
  const serverFile = join(home, 'server.json');
  const deadline = performance.now() + 60_000;
  let url: string | null = null;
  while (url === null) {
    if (server.exitCode !== null || performance.now() > deadline) {
      await stop();
      return `kubescribe serve did not start: ${serverErr.trim() || 'no server file within 60 s'}`;
    }
    if (existsSync(serverFile)) {
      try {
        url = (JSON.parse(readFileSync(serverFile, 'utf8')) as { url: string }).url;
      } catch {
        // Being written.
      }
    }
    if (url === null) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, token, stop };
}
