// Helpers of the server-lifecycle tests: raw socket clients that can stop reading, log seeding, and a
// real `kubescribe dev|serve` process.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Db } from '../../src/runlog/db.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { insertLogChunks } from '../../src/runlog/sql/run-logs.ts';
import { insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { BIN, waitFor } from '../support/cli.ts';

/** Inserts a `running` run of `job` (no runner behind it: nothing changes it but the test). */
export async function seedRunningRun(db: Db, job: string): Promise<string> {
  const runId = uuidv7();
  await ensureUndeclaredJob(db, job);
  await insertRun(db, {
    run_id: runId, job, job_content_hash: null, trigger: 'manual', triggered_by: 'test', params: {}, status: 'running',
    executor: 'local', labels: {}, created_at: new Date(),
  }, { event_id: uuidv7(), at: new Date(), type: 'created', actor: 'test' });
  return runId;
}

/** Moves a seeded run to `succeeded`. */
export async function finishSeededRun(db: Db, runId: string): Promise<void> {
  await transitionRun(db, runId, ['running'], 'succeeded', { started_at: new Date(), finished_at: new Date(), exit_code: 0 },
    { event_id: uuidv7(), at: new Date(), type: 'succeeded', actor: 'test' });
}

/** Appends chunks of `chunkBytes` ASCII text after `afterSeq` until `totalBytes` are stored; returns the last seq. */
export async function appendLog(db: Db, runId: string, afterSeq: number, totalBytes: number, chunkBytes = 64 * 1024): Promise<number> {
  let seq = afterSeq;
  const line = `${'x'.repeat(99)}\n`;
  const text = line.repeat(Math.ceil(chunkBytes / line.length)).slice(0, chunkBytes);
  for (let written = 0; written < totalBytes;) {
    const rows = [];
    for (let i = 0; i < 16 && written < totalBytes; i++, written += chunkBytes) {
      seq++;
      rows.push({ seq, stream: 'stdout' as const, at: new Date().toISOString(), text: `${seq} ${text}` });
    }
    await insertLogChunks(db, runId, rows);
  }
  return seq;
}

export interface SseEvent { event: string; id: string | null; data: string }

/** A follower on a raw socket (HTTP/1.0, so the body is the bare event stream) that reads only when told to. */
export class RawFollower {
  readonly socket: Socket;
  readonly events: SseEvent[] = [];
  status = 0;
  bytes = 0;
  closed = false;
  private buffer = '';
  private headersDone = false;
  private readonly listeners = new Set<() => void>();

  constructor(baseUrl: string, path: string, headers: Record<string, string>, options: { read: boolean; localAddress?: string; keepEvents?: boolean }) {
    const url = new URL(baseUrl);
    this.socket = connect({ host: url.hostname, port: Number(url.port), localAddress: options.localAddress });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    const head = Object.entries({ host: url.host, ...headers }).map(([name, value]) => `${name}: ${value}\r\n`).join('');
    this.socket.write(`GET ${path} HTTP/1.0\r\n${head}\r\n`);
    if (options.read) this.read(options.keepEvents ?? true);
  }

  /** Starts (or resumes) reading; events are parsed and kept unless keepEvents is false (only counted). */
  read(keepEvents = true): void {
    this.socket.setEncoding('utf8');
    this.socket.on('data', (text: string) => {
      this.bytes += Buffer.byteLength(text);
      this.buffer += text;
      if (!this.headersDone) {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        this.status = Number(/^HTTP\/1\.\d (\d{3})/.exec(this.buffer)?.[1] ?? 0);
        this.buffer = this.buffer.slice(end + 4);
        this.headersDone = true;
      }
      let split: number;
      while ((split = this.buffer.indexOf('\n\n')) !== -1) {
        const block = this.buffer.slice(0, split);
        this.buffer = this.buffer.slice(split + 2);
        const event: SseEvent = { event: '', id: null, data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event.event = line.slice(7);
          else if (line.startsWith('id: ')) event.id = line.slice(4);
          else if (line.startsWith('data: ')) event.data = line.slice(6);
        }
        if (event.event && (keepEvents || event.event === 'end')) this.events.push(event);
        else if (event.event) this.events.push({ event: event.event, id: event.id, data: '' });
      }
      this.notify();
    });
    this.socket.resume();
  }

  /** The seqs of the `log` events received so far. */
  get seqs(): number[] {
    return this.events.filter((event) => event.event === 'log').map((event) => Number(event.id));
  }

  get ended(): boolean {
    return this.events.some((event) => event.event === 'end');
  }

  /** Resolves once `check` holds (re-checked on every read and on close). */
  async until(check: () => boolean, timeoutMs = 30_000, what = 'the stream'): Promise<void> {
    if (check()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`timed out waiting for ${what} (${this.events.length} events, closed: ${this.closed})`));
      }, timeoutMs);
      const listener = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve();
      };
      this.listeners.add(listener);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

export interface SpawnedServer {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  /** Resolves with the exit code (or signal name) and when it came. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resident set size of the server process, from /proc. */
  rssBytes(): number;
  kill(): Promise<void>;
}

/** Spawns `kubescribe <args>` (dev or serve) and waits for its start line. */
export async function spawnServer(args: string[], options: { cwd: string; env: Record<string, string> }): Promise<SpawnedServer> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = await waitFor(() => {
    if (gone) throw new Error(`the server exited: ${stderr}`);
    return /(?:dev server|API) on (http:\/\/\S+)/.exec(stderr)?.[1];
  }, 60_000, `the server to start (${args.join(' ')})`);
  return {
    child,
    url,
    stderr: () => stderr,
    exited,
    rssBytes() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
