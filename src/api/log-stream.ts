// Live log followers: GET /runs/{run_id}/logs?follow=true as Server-Sent Events.
//
// One LogFeed per followed run polls the RunLog (the run's status, then its chunks after the last seq
// seen) every 250 ms and keeps the newest events, encoded once, in a window of at most 1 MiB that
// every follower of the run sends from: 1,000 followers of one run cost two small queries a tick, not
// 2,000. A follower behind the window (it started at seq 0 of a long log, or fell behind) reads its own
// pages of at most 256 KiB until it reaches the window; followers starting together share those reads.
//
// What one follower holds is bounded in bytes: the socket's buffer (Node stops at its 16 KiB high-water
// mark, plus the event being written, at most ~400 KiB for a 64 KiB chunk of control characters), and
// a page for at most 1 s while its socket is blocked, after which the page is dropped and read again
// once the socket drains. A follower that takes nothing for the server's idle timeout (60 s by default)
// is closed by that timeout; it resumes with Last-Event-ID. Shutdown ends every stream at once.
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import type { Db } from '../runlog/db.ts';
import { lastLogSeq, readLogPage } from '../runlog/sql/run-logs.ts';
import { getRunStatus } from '../runlog/sql/run-queries.ts';
import { isTerminal, type LogChunk, type RunStatus } from '../runlog/types.ts';

const POLL_MS = 250;
// Proxies drop connections that stay silent; an SSE comment line every so often keeps it open.
const KEEPALIVE_MS = 15_000;
const PAGE_CHUNKS = 256;
const PAGE_BYTES = 256 * 1024;
const WINDOW_BYTES = 1024 * 1024;
// A feed reads at most this many pages a tick, so one burst of output does not stall the others.
const PAGES_PER_TICK = 4;
// How long a blocked socket may keep its page in memory before the page is released.
const HOLD_PAGE_MS = 1000;
// How long a stream stopped by shutdown gives its socket to take what is still buffered (the `end`
// event, the last page) before cutting it: a client that stopped reading never takes it.
const STOPPED_FLUSH_MS = 1000;

/** One SSE `log` event, encoded once and shared by every follower that sends it. */
interface LogEvent { seq: number; text: string; bytes: number }

/** Tuning of the streams; the server derives it from its idle timeout. */
export interface LogStreamOptions {
  /** Silence after which a `: keep-alive` comment is sent (default 15 s). */
  keepAliveMs?: number;
}

/** What one stream sends besides the log. */
export interface FollowOptions {
  /**
   * Also send `status` events (`{"run_id","status"}`) when the run's live status changes, the first one
   * at once: the run page shows queued → starting → running without output (the final status comes with
   * `end`). The feed reads the status every tick anyway, so this costs no query. Off for the API's
   * stream, whose events are documented.
   */
  statusEvents?: boolean;
}

/** The live log streams of one API instance: a feed per followed run, and every open stream. */
export class LogFollowers {
  private readonly feeds = new Map<string, LogFeed>();
  private readonly streams = new Map<LogFollower, Promise<void>>();
  private readonly keepAliveMs: number;

  constructor(private readonly db: Db, private readonly log: FastifyBaseLogger, options: LogStreamOptions = {}) {
    this.keepAliveMs = options.keepAliveMs ?? KEEPALIVE_MS;
  }

  /** Open streams and followed runs, for tests and diagnostics. */
  get counts(): { streams: number; feeds: number } {
    return { streams: this.streams.size, feeds: this.feeds.size };
  }

  /** Streams run `runId`'s log after `afterSeq` to `reply` until the run ends, the client leaves or close(). */
  async follow(runId: string, afterSeq: number, reply: FastifyReply, options: FollowOptions = {}): Promise<void> {
    let feed = this.feeds.get(runId);
    if (!feed) {
      const created = new LogFeed(this.db, runId, this.log, () => {
        if (this.feeds.get(runId) === created) this.feeds.delete(runId);
      });
      this.feeds.set(runId, created);
      feed = created;
    }
    const follower = new LogFollower(feed, afterSeq, reply, this.keepAliveMs, options.statusEvents ?? false);
    feed.join();
    const running = follower.run();
    this.streams.set(follower, running);
    try {
      await running;
    } finally {
      this.streams.delete(follower);
      feed.leave();
    }
  }

  /** Ends every open stream now, without waiting for slow clients (server shutdown). */
  async close(): Promise<void> {
    for (const follower of this.streams.keys()) follower.stop();
    await Promise.all(this.streams.values());
  }
}

function encode(chunk: LogChunk): LogEvent {
  const view = { seq: chunk.seq, stream: chunk.stream, at: new Date(chunk.at).toISOString(), text: chunk.text };
  const text = `event: log\nid: ${chunk.seq}\ndata: ${JSON.stringify(view)}\n\n`;
  return { seq: chunk.seq, text, bytes: Buffer.byteLength(text) };
}

/** The shared poll of one run: its status and the newest events, for every follower of the run. */
class LogFeed {
  /** Highest seq the feed has read (the log's last seq when it started). */
  head = 0;
  /** The window holds the events with seq > windowFrom that the feed read. */
  private windowFrom = 0;
  private window: LogEvent[] = [];
  private windowBytes = 0;
  private ready = false;
  /** True once the run ended and every chunk up to `head` was read after its final status. */
  finished = false;
  status: RunStatus | null = null;
  error: unknown = null;
  private members = 0;
  private polling = false;
  private waiters = new Set<() => void>();
  private wakePoll: (() => void) | null = null;
  private readonly pages = new Map<number, Promise<LogEvent[]>>();

  constructor(
    private readonly db: Db,
    readonly runId: string,
    private readonly log: FastifyBaseLogger,
    private readonly onIdle: () => void,
  ) {}

  join(): void {
    this.members++;
    if (!this.polling) {
      this.polling = true;
      void this.poll();
    }
  }

  leave(): void {
    this.members--;
    if (this.members === 0) {
      this.onIdle();
      this.wakePoll?.();
    }
  }

  /** Events after `afterSeq` from the window; null when the window does not reach back that far. */
  eventsAfter(afterSeq: number): LogEvent[] | null {
    if (!this.ready || afterSeq < this.windowFrom) return null;
    let low = 0;
    let high = this.window.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.window[mid]!.seq <= afterSeq) low = mid + 1;
      else high = mid;
    }
    return this.window.slice(low, low + PAGE_CHUNKS);
  }

  /** A page of events after `afterSeq` from the RunLog; concurrent reads of the same page share one query. */
  readPage(afterSeq: number): Promise<LogEvent[]> {
    let page = this.pages.get(afterSeq);
    if (!page) {
      page = readLogPage(this.db, this.runId, afterSeq, PAGE_CHUNKS, PAGE_BYTES).then((chunks) => chunks.map(encode));
      this.pages.set(afterSeq, page);
      const forget = () => this.pages.delete(afterSeq);
      page.then(forget, forget);
    }
    return page;
  }

  /** The seq a reader behind the window may skip to when the RunLog has nothing between. */
  get windowStart(): number {
    return this.ready ? this.windowFrom : 0;
  }

  /** Resolves at the feed's next tick, or after `ms`. */
  changed(ms: number): { promise: Promise<void>; cancel: () => void } {
    let cancel = () => {};
    const promise = new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      cancel = done;
    });
    return { promise, cancel };
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private async poll(): Promise<void> {
    try {
      this.head = await lastLogSeq(this.db, this.runId);
      this.windowFrom = this.head;
      this.ready = true;
      this.notify();
      while (this.members > 0 && !this.finished) {
        const caughtUp = await this.tick();
        this.notify();
        if (caughtUp && !this.finished) await this.sleep(POLL_MS);
      }
    } catch (error) {
      this.log.error({ err: error, run_id: this.runId }, 'log stream poll failed');
      this.error = error;
      // Its followers end (and reconnect with Last-Event-ID); a new follower gets a new feed.
      this.onIdle();
      this.notify();
    } finally {
      this.polling = false;
    }
  }

  // The status is read before the chunks: a run seen finished has all its chunks in the reads after it.
  private async tick(): Promise<boolean> {
    const status = await getRunStatus(this.db, this.runId);
    for (let pages = 0; pages < PAGES_PER_TICK; pages++) {
      const chunks = await readLogPage(this.db, this.runId, this.head, PAGE_CHUNKS, PAGE_BYTES);
      if (chunks.length === 0) {
        this.status = status;
        if (status === null || isTerminal(status)) this.finished = true;
        return true;
      }
      for (const chunk of chunks) this.append(encode(chunk));
    }
    return false;
  }

  private append(event: LogEvent): void {
    this.window.push(event);
    this.windowBytes += event.bytes;
    this.head = event.seq;
    let drop = 0;
    while (this.windowBytes > WINDOW_BYTES && drop < this.window.length - 1) {
      this.windowBytes -= this.window[drop]!.bytes;
      this.windowFrom = this.window[drop]!.seq;
      drop++;
    }
    if (drop > 0) this.window = this.window.slice(drop);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakePoll = null;
        resolve();
      }, ms);
      this.wakePoll = () => {
        clearTimeout(timer);
        this.wakePoll = null;
        resolve();
      };
    });
  }
}

/** One follow=true stream: sends the feed's events after its seq until the run ends, the client leaves or stop(). */
class LogFollower {
  private stopped = false;
  private lastWrite = Date.now();
  /** The status the last `status` event said (statusEvents only). */
  private sentStatus: RunStatus | null = null;
  private readonly wakers = new Set<() => void>();

  constructor(
    private readonly feed: LogFeed,
    private afterSeq: number,
    private readonly reply: FastifyReply,
    private readonly keepAliveMs: number,
    private readonly statusEvents: boolean,
  ) {}

  /** Ends the stream at once (client gone, server closing), even while it waits for a blocked socket. */
  stop(): void {
    this.stopped = true;
    for (const wake of [...this.wakers]) wake();
  }

  async run(): Promise<void> {
    const reply = this.reply;
    reply.hijack();
    const raw = reply.raw;
    raw.on('close', () => this.stop());
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Nginx buffers responses by default, which would hold the events back.
      'x-accel-buffering': 'no',
    });
    try {
      this.write('retry: 2000\n\n');
      while (!this.stopped) {
        if (this.feed.error) throw this.feed.error;
        let events = this.feed.eventsAfter(this.afterSeq);
        if (events === null) {
          events = await this.feed.readPage(this.afterSeq);
          // Nothing stored between here and the window (the log cap dropped it): skip to the window.
          if (events.length === 0) this.afterSeq = Math.max(this.afterSeq, this.feed.windowStart);
        }
        if (this.stopped) break;
        if (events.length > 0) {
          const blocked = await this.send(events);
          events = null;
          if (blocked) await this.drained(Infinity);
          continue;
        }
        // The feed's status is the one it read before its last look for chunks, so it is never ahead of
        // them. A final status is not sent this way: `end` carries it, once every chunk is out.
        const status = this.feed.status;
        if (this.statusEvents && status !== null && !isTerminal(status) && status !== this.sentStatus) {
          this.sentStatus = status;
          this.write(`event: status\ndata: ${JSON.stringify({ run_id: this.feed.runId, status })}\n\n`);
        }
        if (this.feed.finished && this.afterSeq >= this.feed.head) {
          this.write(`event: end\ndata: ${JSON.stringify({ run_id: this.feed.runId, status: this.feed.status })}\n\n`);
          return;
        }
        const wait = this.feed.changed(Math.max(0, this.keepAliveMs - (Date.now() - this.lastWrite)));
        this.wakers.add(wait.cancel);
        await wait.promise;
        this.wakers.delete(wait.cancel);
        if (!this.stopped && Date.now() - this.lastWrite >= this.keepAliveMs) this.write(': keep-alive\n\n');
      }
    } catch (error) {
      // Headers are gone already: the only thing left to do for the client is to end the stream.
      reply.log.error({ err: error }, 'log stream failed');
    } finally {
      // A stream stopped while its socket is blocked would hold the server's close until the idle
      // timeout: cut it. Otherwise what is buffered (the `end` event) still goes out.
      if (this.stopped && raw.writableNeedDrain) raw.destroy();
      else {
        if (!raw.writableEnded) raw.end();
        // A last write can be taken while the socket still holds up to its high-water mark of earlier
        // ones: writableNeedDrain is false, yet a stalled client never lets the response finish, and the
        // server's close waited for the idle timeout (seen once in ~10 runs of the followers' shutdown test).
        if (this.stopped && !raw.writableFinished) {
          const cut = setTimeout(() => raw.destroy(), STOPPED_FLUSH_MS);
          raw.once('close', () => clearTimeout(cut));
        }
      }
      this.stopped = true;
    }
  }

  /** Writes events in order; true when the socket stayed blocked past HOLD_PAGE_MS (the rest is read again later). */
  private async send(events: LogEvent[]): Promise<boolean> {
    for (const event of events) {
      if (this.stopped) return false;
      const more = this.write(event.text);
      this.afterSeq = event.seq;
      if (!more && !(await this.drained(HOLD_PAGE_MS))) return true;
    }
    return false;
  }

  private write(text: string): boolean {
    if (this.stopped || this.reply.raw.writableEnded) return true;
    this.lastWrite = Date.now();
    return this.reply.raw.write(text);
  }

  /** Waits for the socket to take what it holds: true on drain, false after `ms`; stop() and close end the wait. */
  private drained(ms: number): Promise<boolean> {
    const raw = this.reply.raw;
    if (this.stopped || !raw.writableNeedDrain) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const finish = (value: boolean) => {
        clearTimeout(timer);
        raw.off('drain', onDrain);
        this.wakers.delete(onStop);
        resolve(value);
      };
      const onDrain = () => finish(true);
      const onStop = () => finish(true);
      const timer = ms === Infinity ? undefined : setTimeout(() => finish(false), ms);
      raw.on('drain', onDrain);
      this.wakers.add(onStop);
    });
  }
}
