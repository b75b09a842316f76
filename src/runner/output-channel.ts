// How the runner reads the command's stdout and stderr (docs/runner.md, "How output is read").
//
// A stdio 'pipe' from spawn() is read by libuv into a new 64 KB buffer at every read: fresh memory
// each time, which is what bounded a 50 MB burst to ~0.1 of its pace into `cat` (docs/benchmarks.md,
// "Capture off the main thread"). A connected Unix socket made here is read with `onread` into ONE
// buffer per stream, reused for every read. The child gets the other end as its fd 1 or 2: a stream
// socket, as libuv's stdio 'pipe' already is (libuv makes those with socketpair()).
import { mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Reused for every read of one stream. A socket pair holds ~220 KB of a writer ahead of its reader (the
// sender's 208 KB SO_SNDBUF, net.core.wmem_default): a 256 KB buffer takes it in one read, where 64 KB
// (libuv's size for a pipe) took four reads, four wake-ups of the event loop and four callbacks. A
// 50 MB burst: ~230 reads of ~220 KB instead of ~850 of ~60 KB; larger buffers read no more at once.
const READ_BUFFER_BYTES = 256 * 1024;
// sun_path holds 108 bytes with its NUL. Node 20's libuv cuts a longer path short without a word, and
// would listen on a name outside the private directory: such a path is refused here instead.
const MAX_SOCKET_PATH_BYTES = 107;

/** Called with the bytes of one read: `bytes` is only valid during the call (its memory is reused). */
export type OnBytes = (bytes: Buffer) => void;

/** One of the command's output streams, before the command starts. */
export interface OutputChannel {
  /** Gets every read; set it before the child starts (nothing can arrive before: nobody else writes). */
  onBytes: OnBytes;
  /** The end the reader reads: pause()/resume() hold and release reading; 'close' once it reached EOF. */
  reader: net.Socket;
  /** The end the child gets as its stdio entry; the parent closes it once the child has it. */
  childEnd: net.Socket;
}

// Tests only: read the command's output from spawn()'s pipes, the path taken when the socket pairs
// cannot be made.
const FORCE_PIPES_ENV = 'KUBESCRIBE_TEST_OUTPUT_PIPES';

/**
 * The channels for the command's stdout and stderr, or null where they cannot be made (the runner
 * then reads spawn()'s pipes). Started early: a runner that waits for its RunLog before the command
 * starts (adopting a queued run) makes them meanwhile.
 */
export function prepareOutputChannels(): Promise<OutputChannel[] | null> {
  if (process.env[FORCE_PIPES_ENV] === '1') return Promise.resolve(null);
  // No private socket pair here (a read-only temporary directory, a path too long for a socket): pipes.
  return openOutputChannels(2).catch(() => null);
}

/** Closes channels that will not be used (the command is not started after all). */
export function discardOutputChannels(channels: Promise<OutputChannel[] | null>): void {
  void channels.then((made) => made && closeOutputChannels(made));
}

/**
 * Makes a connected pair of Unix stream sockets for each of `count` streams, read into a reused
 * buffer each. Made in a private directory (mode 0700, so no other user can connect) whose socket
 * paths are removed as soon as both ends are connected. Rejects when the system does not allow it
 * (no writable temporary directory, a path too long for a socket): the caller falls back to pipes.
 */
export async function openOutputChannels(count: number): Promise<OutputChannel[]> {
  const dir = mkdtempSync(join(tmpdir(), 'kubescribe-out-'));
  try {
    const paths = Array.from({ length: count }, (_, i) => join(dir, String(i)));
    if (paths.some((path) => Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES)) {
      throw new Error(`the temporary directory's path is too long for a socket: ${dir}`);
    }
    const made = await Promise.allSettled(paths.map((path) => connectPair(path)));
    const failed = made.find((result) => result.status === 'rejected');
    const channels = made.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    if (failed) {
      closeOutputChannels(channels);
      throw failed.reason;
    }
    return channels;
  } finally {
    // Closing each server removed its socket's path; the connected sockets do not need it.
    try {
      rmdirSync(dir);
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

async function connectPair(path: string): Promise<OutputChannel> {
  // The child's end is never read here (only the child writes to it): it must not start reading.
  const server = net.createServer({ pauseOnConnect: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    const channel = { onBytes: (() => {}) as OnBytes };
    const reader = net.connect({
      path,
      onread: {
        buffer,
        callback: (n: number) => {
          channel.onBytes(buffer.subarray(0, n));
          return true;
        },
      },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        reader.once('error', reject);
        reader.once('connect', () => {
          reader.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      reader.destroy();
      throw error;
    }
    return Object.assign(channel, { reader, childEnd: await accepted });
  } finally {
    // Closing the server unlinks its path: nobody else can connect from here on.
    server.close();
  }
}

/** Closes what `openOutputChannels` made, for a command that never started. */
export function closeOutputChannels(channels: OutputChannel[]): void {
  for (const { reader, childEnd } of channels) {
    reader.destroy();
    childEnd.destroy();
  }
}
