import { relative } from 'node:path';
import { constants } from 'node:os';
import { localUrlOf, readLocalToken, removeServerFile, tokenFilePath, writeLocalToken, writeServerFile } from './server-file.ts';
import type { CliContext } from './context.ts';
import { loadCliConfig } from './context.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import { watchConfigFile } from '../server/config-file-watch.ts';
import type { KubescribeConfig } from '../config/job-definition.ts';
import { RotatingLogFile, scrubbingStream, secretsOf, serverLogPath } from '../server/server-log.ts';
import { formatDuration } from '../config/durations.ts';
import { defaultKubernetesSettings } from '../config/kubernetes-config.ts';
import { createToken, findLiveToken, listTokens } from '../runlog/sql/tokens.ts';
import type { Db } from '../runlog/db.ts';
import { runLogIdentity } from '../runlog/runlog-identity.ts';
import { ensureBootstrapToken } from '../runlog/sql/bootstrap-token.ts';
import { readAdminTokenFile } from './admin-token-file.ts';

export interface ServerCommandOptions {
  config?: string;
  host: string;
  port: number;
  /** Unset: the config's `local.max_concurrent_runs`. */
  maxConcurrentRuns?: number;
  scheduler: boolean;
  executor: 'local' | 'none';
  /** The --shutdown-grace flag; unset: the config's `api.shutdown_grace`, else 25 s. */
  shutdownGrace?: number;
}

// After the shutdown grace the server cuts connections and cancels runs; if even that has not
// finished this much later, the process exits anyway: within grace + 5 s, whatever is stuck.
const HARD_STOP_MS = 4_500;
// A second signal waits this long at most for live runs to be killed and recorded cancelled: a
// SIGKILLed process ends in milliseconds and the runner's last records take a few statements.
const STOP_NOW_MS = 3_000;
// A clean stop that leaves a handle open (a socket a peer never closes) must not keep the process.
const EXIT_LINGER_MS = 2_000;

/**
 * `kubescribe dev` and `kubescribe serve`: the API, the executor and the scheduler in one process.
 * Resolves when the server has stopped. The first SIGTERM/SIGINT drains within the shutdown grace
 * (exit 0; 1 if it had to give up grace + 5 s later); a second cancels live runs (killing their processes) and exits within 3 s with 128 + the signal's number.
 */
export async function serverCommand(ctx: CliContext, mode: 'dev' | 'serve', options: ServerCommandOptions): Promise<number> {
  const config = await loadCliConfig(ctx, options.config);
  // Read before listening: a malformed file stops the start with one line naming it.
  const adminToken = mode === 'serve' && ctx.env.adminTokenFile ? readAdminTokenFile(ctx.env.adminTokenFile) : null;
  // Secrets are scrubbed from every line, whoever wrote it (src/server/server-log.ts).
  const secrets = [...secretsOf(ctx.env.databaseUrl), ...(adminToken ? [adminToken] : [])];
  const logFile = mode === 'dev' ? new RotatingLogFile(serverLogPath(ctx.env.home)) : null;
  const stream = scrubbingStream(logFile ? (line) => logFile.write(line) : (line) => process.stdout.write(line), secrets);
  let localToken: string | null = null;
  const server = await startServer({
    env: ctx.env,
    config,
    host: options.host,
    port: options.port,
    executor: options.executor,
    scheduler: options.scheduler,
    maxConcurrentRuns: options.maxConcurrentRuns,
    cwd: process.cwd(),
    logger: { level: 'info', stream },
    shutdownGraceMs: options.shutdownGrace,
    // The local admin token is this machine's own: `kubescribe dev` does not rate-limit it.
    rateLimitExempt: () => (localToken ? [localToken] : []),
  }).catch((error: unknown) => {
    logFile?.close();
    throw error;
  });
  const say = (line: string) => ctx.stderr.write(`${line}\n`);
  // The banner goes out in one write, so whoever reads it (a person, a test, a supervisor's log)
  // never sees the first line without the rest.
  const banner: string[] = [];
  // What the server chose, not the flag: `executor: kubernetes` in the config wins over `--executor local`.
  const executor = server.executor.name === 'kubernetes'
    ? `kubernetes, namespace ${config.kubernetes?.namespace ?? defaultKubernetesSettings().namespace}`
    : server.executor.name;
  if (mode === 'dev') {
    const tokenFile = await ensureLocalToken(server.db, ctx.env.home);
    localToken = readLocalToken(ctx.env.home);
    writeServerFile(ctx.env.home, { url: localUrlOf(server.url), pid: process.pid, runlog: runLogIdentity(ctx.env), kind: 'dev' });
    banner.push(`KubeScribe dev server on ${server.url} (RunLog: ${server.db.location}, executor: ${executor}, ${config.jobs.size} jobs from ${config.file ?? 'no config file'})`);
    // A one-time link (Jupyter's token URL): it opens the UI signed in with the local admin token,
    // which itself never appears in a URL.
    if (localToken) banner.push(`  web UI:      ${server.url}/ui/sign-in/once?code=${server.signInCodes.issue(localToken)} (one-time sign-in link, valid 15 minutes)`);
    banner.push(`  API docs:    ${server.url}/docs`);
    const shown = relative(process.cwd(), tokenFile);
    banner.push(`  admin token: ${shown && !shown.startsWith('..') ? shown : tokenFile} (the CLI uses it: npx kubescribe trigger <job> --wait)`);
    const logShown = relative(process.cwd(), serverLogPath(ctx.env.home));
    banner.push(`  server log:  ${logShown && !logShown.startsWith('..') ? logShown : serverLogPath(ctx.env.home)}`);
    banner.push(`  Ctrl-C stops it after running runs finish (at most ${formatDuration(server.settings.shutdownGraceMs)}); press it twice to stop now.`);
  } else {
    banner.push(`KubeScribe API on ${server.url} (RunLog: ${server.db.location}, executor: ${executor})`);
    banner.push(`  web UI:      ${server.url}/ui (sign in with an API token; docs/ui.md)`);
    if (adminToken) {
      const outcome = await ensureBootstrapToken(server.db, adminToken).catch(async (error: unknown) => {
        await server.close({ drain: false }).catch(() => {});
        logFile?.close();
        throw error;
      });
      const file = ctx.env.adminTokenFile;
      if (outcome.status === 'created') banner.push(`  admin token: created "${outcome.name}" from ${file}`);
      else if (outcome.status === 'present') banner.push(`  admin token: "${outcome.name}" from ${file} exists`);
      else banner.push(`kubescribe: warning: the admin token in ${file} ("${outcome.name}") is ${outcome.status}; it stays so: put a new token in the Secret to make another`);
    } else if (ctx.env.adminTokenFile) {
      banner.push(`  admin token: ${ctx.env.adminTokenFile} does not exist (its Secret is optional); no token made from it`);
    }
    if (!(await hasLiveToken(server.db))) banner.push(FIRST_TOKEN_HINT);
    // So that `kubescribe run` (and client commands) on this machine, given a token, go through this
    // server instead of opening its RunLog beside it: the embedded one would wait on its lock. A
    // convenience only: a home serve cannot write (a read-only container) costs a warning, not the start.
    try {
      writeServerFile(ctx.env.home, { url: localUrlOf(server.url), pid: process.pid, runlog: runLogIdentity(ctx.env), kind: 'serve' });
    } catch (error) {
      banner.push(`kubescribe: warning: no server file for local commands (${(error as NodeJS.ErrnoException).code ?? (error as Error).message} in ${ctx.env.home}); they need KUBESCRIBE_SERVER or KUBESCRIBE_API_URL`);
    }
  }
  for (const warning of server.warnings) banner.push(`kubescribe: warning: ${warning}`);
  // dev follows its file; serve reloads when told (SIGHUP), as a production server should not change
  // under an editor's half-saved file.
  const reload = config.file ? configReloader(ctx, server, config.file, say) : null;
  const stopWatching = reload && mode === 'dev' ? watchConfigFile(config.file!, () => reload('the file changed')) : null;
  let shuttingDown = false;
  // Kept (and ignoring the signal) while stopping: without a listener, SIGHUP would kill the process.
  const onHangup = () => {
    if (shuttingDown) return;
    if (reload) reload('SIGHUP');
    else say('kubescribe: SIGHUP: no config file to reload');
  };
  if (mode === 'serve') process.on('SIGHUP', onHangup);
  const grace = server.settings.shutdownGraceMs;
  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    let stoppingNow = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        if (stoppingNow) return;
        stoppingNow = true;
        // "Now": no waiting on jobs' grace periods or on clients. Live runs are killed and recorded
        // cancelled; if even that takes longer than STOP_NOW_MS (a RunLog that does not answer), the
        // process goes anyway and the next start settles what is left.
        say(`kubescribe: ${signal} again: stopping now (live runs are cancelled)`);
        const exit = () => {
          removeServerFileQuietly(ctx.env.home);
          logFile?.close();
          process.exit(128 + (constants.signals[signal] ?? 15));
        };
        setTimeout(exit, STOP_NOW_MS).unref();
        void server.stopNow().catch(() => {}).then(exit);
        return;
      }
      stopping = true;
      // A reload now would sync into a RunLog that is about to close.
      shuttingDown = true;
      stopWatching?.();
      say(`kubescribe: ${signal}: finishing running runs, then stopping (at most ${formatDuration(grace)} for runs and requests; send it again to stop now)`);
      const hardStop = setTimeout(() => {
        say(`kubescribe: still not stopped ${formatDuration(HARD_STOP_MS)} after the shutdown grace: exiting anyway (the next start settles the runs left running)`);
        resolve(1);
      }, grace + HARD_STOP_MS);
      void server.close({ drain: true }).then(
        () => resolve(0),
        (error: unknown) => {
          say(`kubescribe: stopping failed: ${(error as Error).message}`);
          resolve(1);
        },
      ).finally(() => clearTimeout(hardStop));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  // Only now, with every handler in place: whoever waits for the banner (a supervisor, a test) may
  // signal the moment it reads it. Written before them, a SIGTERM that came while this process had
  // not yet run the next line (a loaded machine runs the reader first) killed it undrained.
  ctx.stderr.write(`${banner.join('\n')}\n`);
  const code = await stopped;
  stopWatching?.();
  process.off('SIGHUP', onHangup);
  removeServerFileQuietly(ctx.env.home);
  logFile?.close();
  // The process normally exits by itself now; this only fires if something still holds it open.
  setTimeout(() => process.exit(code), code === 0 ? EXIT_LINGER_MS : 0).unref();
  return code;
}

// At exit: a file serve could not write (or can no longer read) must not change how it exits.
function removeServerFileQuietly(home: string): void {
  try {
    removeServerFile(home, process.pid);
  } catch {
    // Nothing to remove, or nothing this process may remove.
  }
}

/**
 * Reloads the config file into the running server, one reload at a time. A file with an error is
 * reported (file:line) and the previous config keeps running; a good one is synced, and the jobs
 * whose revision changed are named.
 */
function configReloader(ctx: CliContext, server: RunningServer, file: string, say: (line: string) => void): (why: string) => void {
  const shown = relative(process.cwd(), file) || file;
  let revisions = new Map(server.revisions.map((job) => [job.name, job.revision]));
  let reloads = Promise.resolve();
  const reloadOnce = async (why: string) => {
    let next: KubescribeConfig;
    try {
      next = await loadCliConfig(ctx, file);
    } catch (error) {
      say(`kubescribe: ${shown} not reloaded (${why}); the previous config keeps running:\n${(error as Error).message}`);
      return;
    }
    let synced: { name: string; revision: number }[];
    try {
      synced = await server.reload(next);
    } catch (error) {
      say(`kubescribe: ${shown} not reloaded (${why}): ${(error as Error).message}; the previous config keeps running`);
      return;
    }
    const changed = synced.filter((job) => revisions.get(job.name) !== job.revision).map((job) => `${job.name} (revision ${job.revision})`);
    const removed = [...revisions.keys()].filter((name) => !next.jobs.has(name));
    revisions = new Map(synced.map((job) => [job.name, job.revision]));
    const what = [
      changed.length > 0 ? `new or changed: ${changed.join(', ')}` : 'no job changed',
      ...(removed.length > 0 ? [`removed: ${removed.join(', ')}`] : []),
    ];
    say(`kubescribe: reloaded ${shown} (${why}): ${next.jobs.size} jobs; ${what.join('; ')}`);
  };
  return (why) => {
    reloads = reloads.then(() => reloadOnce(why));
  };
}

// serve makes no token of its own (unlike dev): the first one is made straight in the RunLog.
const FIRST_TOKEN_HINT = 'kubescribe: no API token yet: every route but the health checks and the docs needs one; create the first with '
  + '`kubescribe tokens create --name admin --scope admin --runlog` (same DATABASE_URL; it prints the token once), '
  + 'or put one in the file KUBESCRIBE_ADMIN_TOKEN_FILE names (docs/kubernetes.md, "The first admin token")';

async function hasLiveToken(db: Db): Promise<boolean> {
  const now = Date.now();
  return (await listTokens(db)).some((token) => !token.revoked_at && (!token.expires_at || token.expires_at.getTime() > now));
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
