import { relative } from 'node:path';
import { readLocalToken, removeServerFile, tokenFilePath, writeLocalToken, writeServerFile } from './server-file.ts';
import type { CliContext } from './context.ts';
import { loadCliConfig } from './context.ts';
import { startServer } from '../server/server.ts';
import { defaultKubernetesSettings } from '../config/kubernetes-config.ts';
import { createToken, findLiveToken, listTokens } from '../runlog/sql/tokens.ts';
import type { Db } from '../runlog/db.ts';

export interface ServerCommandOptions {
  config?: string;
  host: string;
  port: number;
  /** Unset: the config's `local.max_concurrent_runs`. */
  maxConcurrentRuns?: number;
  scheduler: boolean;
  executor: 'local' | 'none';
}

/**
 * `kubescribe dev` and `kubescribe serve`: the API, the executor and the scheduler in one process.
 * Resolves when the server has stopped; the first SIGTERM/SIGINT drains, a second forces exit.
 */
export async function serverCommand(ctx: CliContext, mode: 'dev' | 'serve', options: ServerCommandOptions): Promise<number> {
  const config = await loadCliConfig(ctx, options.config);
  const server = await startServer({
    env: ctx.env,
    config,
    host: options.host,
    port: options.port,
    executor: options.executor,
    scheduler: options.scheduler,
    maxConcurrentRuns: options.maxConcurrentRuns,
    cwd: process.cwd(),
    logger: mode === 'serve' ? { level: 'info' } : false,
  });
  const say = (line: string) => ctx.stderr.write(`${line}\n`);
  // What the server chose, not the flag: `executor: kubernetes` in the config wins over `--executor local`.
  const executor = server.executor.name === 'kubernetes'
    ? `kubernetes, namespace ${config.kubernetes?.namespace ?? defaultKubernetesSettings().namespace}`
    : server.executor.name;
  if (mode === 'dev') {
    const tokenFile = await ensureLocalToken(server.db, ctx.env.home);
    writeServerFile(ctx.env.home, { url: server.url, pid: process.pid });
    say(`KubeScribe dev server on ${server.url} (RunLog: ${server.db.location}, executor: ${executor}, ${config.jobs.size} jobs from ${config.file ?? 'no config file'})`);
    say(`  API docs:    ${server.url}/docs`);
    const shown = relative(process.cwd(), tokenFile);
    say(`  admin token: ${shown && !shown.startsWith('..') ? shown : tokenFile} (the CLI uses it: npx kubescribe trigger <job> --wait)`);
    say('  Ctrl-C stops it after running runs finish; press it twice to stop now.');
  } else {
    say(`KubeScribe API on ${server.url} (RunLog: ${server.db.location}, executor: ${executor})`);
  }
  for (const warning of server.warnings) say(`kubescribe: warning: ${warning}`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        say(`kubescribe: ${signal} again: stopping now`);
        void server.close({ drain: false }).finally(() => process.exit(130));
        return;
      }
      stopping = true;
      say(`kubescribe: ${signal}: finishing running runs, then stopping (send it again to stop now)`);
      void server.close({ drain: true }).then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  if (mode === 'dev') removeServerFile(ctx.env.home, process.pid);
  return 0;
}

// The local admin token is created on first start and kept in .kubescribe/token (0600); a token file
// whose token no longer works (database reset, revoked) is replaced.
async function ensureLocalToken(db: Db, home: string): Promise<string> {
  const existing = readLocalToken(home);
  if (existing && (await findLiveToken(db, existing))) return tokenFilePath(home);
  const names = new Set((await listTokens(db)).map((token) => token.name));
  let name = 'local-admin';
  for (let i = 2; names.has(name); i++) name = `local-admin-${i}`;
  const { token } = await createToken(db, { name, scope: 'admin', expires_at: null, created_by: 'kubescribe dev' });
  writeLocalToken(home, token);
  return tokenFilePath(home);
}
