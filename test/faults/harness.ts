// Shared pieces of the fault tests: a real `kubescribe serve` process, a trigger load that counts
// every answer, and the durations of the short (CI) and full (KUBESCRIBE_HOSTILE_FULL=1) modes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BIN, REPO_ROOT, runCli, waitFor } from '../support/cli.ts';

/** KUBESCRIBE_HOSTILE_FULL=1 (`npm run test:hostile`): the full durations instead of CI's short ones. */
export const FULL = process.env.KUBESCRIBE_HOSTILE_FULL === '1';

/** A request that has not answered within this is counted as a hang. */
export const HANG_MS = 30_000;

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  stderr(): string;
  /** Resolves with the exit code or signal when the process ends. */
  exited: Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<string>;
}

/** Spawns `kubescribe serve` from bin/kubescribe.js and waits until it listens. */
export async function startServe(env: Record<string, string>, args: string[]): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? String(code))));
  // 60 s: at load 25 a serve on a busy PostgreSQL was seen to need more than 30. One that never
  // listens is killed, or it would outlive the test and keep the test file's process from exiting.
  const url = await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`serve exited at start: ${stderr}`);
    return /KubeScribe API on (http:\/\/\S+)/.exec(stderr)?.[1];
  }, 60_000, 'serve to listen').catch(async (error: unknown) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    throw new Error(`${(error as Error).message}; its stderr: ${stderr}`);
  });
  return {
    child, url, exited,
    stderr: () => stderr,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** An admin token written straight into the RunLog (no server needed). */
export async function adminToken(env: Record<string, string>): Promise<string> {
  const created = await runCli(['tokens', 'create', '--name', `faults-${Date.now()}`, '--scope', 'admin', '--runlog'], { env });
  if (created.code !== 0) throw new Error(created.err);
  return created.out.trim();
}

/** Every answer the load got, by kind. */
export class Tally {
  sent = 0;
  ok = 0;
  status503 = 0;
  status503WithoutRetryAfter = 0;
  status500 = 0;
  otherStatus: number[] = [];
  hangs = 0;
  /** The connection to the server failed (the server died, or was killed by the test). */
  networkErrors = 0;

  line(): string {
    return `sent ${this.sent}, 2xx ${this.ok}, 503 ${this.status503} (without Retry-After ${this.status503WithoutRetryAfter}), ` +
      `500 ${this.status500}, other ${JSON.stringify(this.otherStatus)}, hangs ${this.hangs}, connection errors ${this.networkErrors}`;
  }
}

export interface Answer {
  status: number;
  body: unknown;
  ms: number;
}

/** One request, counted in `tally`; null for a hang or a connection error. */
export async function request(tally: Tally, url: string, init: RequestInit = {}): Promise<Answer | null> {
  tally.sent++;
  const started = Date.now();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(HANG_MS) });
    const text = await response.text();
    const body = text ? (JSON.parse(text) as unknown) : null;
    if (response.status < 300) tally.ok++;
    else if (response.status === 503) {
      tally.status503++;
      if (!response.headers.get('retry-after')) tally.status503WithoutRetryAfter++;
    } else if (response.status >= 500) tally.status500++;
    else tally.otherStatus.push(response.status);
    return { status: response.status, body, ms: Date.now() - started };
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') tally.hangs++;
    else tally.networkErrors++;
    return null;
  }
}

/** The outcome of every trigger by idempotency key: the run id when accepted (2xx). */
export type Accepted = Map<string, string | null>;

/**
 * Workers that trigger `pickJob()` with a fresh idempotency key each, until `stop()`: what a busy
 * client does while the database fails underneath the server.
 */
export function triggerLoad(options: {
  url: () => string;
  token: string;
  workers: number;
  pauseMs: number;
  pickJob: (n: number) => string;
  tally: Tally;
  accepted: Accepted;
  /** Makes keys unique across loads in one test. */
  prefix?: string;
}): { stop(): Promise<void> } {
  let running = true;
  let n = 0;
  const worker = async (w: number) => {
    while (running) {
      const i = n++;
      const job = options.pickJob(i);
      const key = `fault-${job}-${process.pid}${options.prefix ?? ''}-${w}-${i}`;
      const answer = await trigger(options.url(), options.token, job, key, options.tally);
      options.accepted.set(key, answer && answer.status < 300 ? runIdOf(answer.body) : (options.accepted.get(key) ?? null));
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
  };
  const done = Promise.all(Array.from({ length: options.workers }, (_, w) => worker(w)));
  return {
    async stop() {
      running = false;
      await done;
    },
  };
}

/** The job a key of {@link triggerLoad} was triggered with. */
export const jobOfKey = (key: string) => key.split('-')[1]!;

/** POST /runs/trigger with an idempotency key. */
export function trigger(url: string, token: string, job: string, key: string, tally: Tally): Promise<Answer | null> {
  return request(tally, `${url}/runs/trigger`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ job, idempotency_key: key }),
  });
}

/** The run id of a 202 from POST /runs/trigger. */
export function runIdOf(body: unknown): string {
  const value = body as { run_id?: string; run?: { run_id: string } };
  return value.run_id ?? value.run!.run_id;
}

/** Sleeps. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A webhook receiver counting the runs it heard about. */
export async function startWebhook(): Promise<{ url: string; bodies: string[]; close(): Promise<void> }> {
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    bodies,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
