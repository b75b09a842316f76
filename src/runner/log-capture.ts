import { StringDecoder } from 'node:string_decoder';
import type { LogRow } from '../runlog/sql/run-logs.ts';

type Stream = 'stdout' | 'stderr';

interface Chunk {
  seq: number;
  stream: Stream;
  at: string;
  text: string;
  /**
   * A tail chunk's bytes (the first `bytes` of a buffer of the capture's own, reused by later chunks),
   * decoded into `text` only when it is handed out (null once decoded or dropped, and for head chunks).
   */
  raw: Buffer | null;
  bytes: number;
  tail: boolean;
  emitted: boolean;
  dropped: boolean;
}

/** What a flush must write: new chunks, a range of tail chunks to delete, and the marker if it changed. */
export interface LogFlush {
  rows: LogRow[];
  deleteRange: [number, number] | null;
  marker: LogRow | null;
}

const MAX_CHUNK_BYTES = 64 * 1024;

/**
 * Cuts a run's output into ordered chunks for the RunLog and enforces the per-run cap: the first half
 * of the cap is kept as written, the last half as a sliding window, and a marker chunk between them
 * says how many bytes were dropped. Tail chunks are written as they come (so a live log stays live
 * and a killed runner loses nothing below the cap) and deleted from the middle as newer ones arrive.
 *
 * Past the head, bytes are kept as they were read and decoded only when a chunk is handed out: output
 * the window drops before a flush is never turned into text, so beyond the cap a byte costs its
 * counting and little else (50 MB into a 10 MB cap: 40 MB never decoded nor concatenated). Each
 * stream's decoder still sees its bytes in order, a dropped chunk's unfinished UTF-8 sequence
 * included, so the stored text is what eager decoding stored.
 *
 * `push()` copies what it keeps: the caller's bytes may be overwritten once it returns (the runner
 * reads into one reused buffer). Tail bytes go into buffers of one chunk's size, taken from a free
 * list and given back when their chunk is decoded or dropped: past the first window, the tail reuses
 * memory it has touched already instead of allocating a new buffer for every read.
 */
export class LogCapture {
  private seq = 0;
  /** Bytes of output kept as written, before the marker: half the cap. */
  readonly headLimit: number;
  private readonly tailLimit: number;
  private readonly chunkLimit: number;
  private headBytes = 0;
  /** headBytes when the head was last handed out. */
  private headBytesOut = 0;
  private tailBytes = 0;
  private markerSeq: number | null = null;
  private markerDirty = false;
  private pending: Chunk[] = [];
  private tailChunks: Chunk[] = [];
  private deleteFrom: number | null = null;
  private deleteTo: number | null = null;
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  /** Tail chunk buffers no chunk holds: at most as many as the window and the unflushed chunks ever held at once. */
  private readonly freeBuffers: Buffer[] = [];
  /** Bytes the child wrote, stored or not. */
  totalBytes = 0;
  droppedBytes = 0;

  constructor(readonly capBytes: number) {
    this.headLimit = Math.floor(capBytes / 2);
    this.tailLimit = capBytes - this.headLimit;
    this.chunkLimit = Math.max(1, Math.min(MAX_CHUNK_BYTES, Math.floor(this.tailLimit / 4)));
  }

  /** True once the head is full: new output only replaces older tail output. */
  get capped(): boolean {
    return this.markerSeq !== null;
  }

  /** Chunks not yet handed out by `flush()`. */
  get pendingChunks(): number {
    return this.pending.length;
  }

  /** Bytes of the head not yet handed out by `flush()`. */
  get pendingHeadBytes(): number {
    return this.headBytes - this.headBytesOut;
  }

  /** Takes bytes the child wrote on one stream. */
  push(stream: Stream, data: Buffer, at?: Date): void {
    this.totalBytes += data.length;
    const iso = (at ?? new Date()).toISOString();
    if (this.markerSeq === null && this.headBytes + data.length > this.headLimit) {
      const room = this.headLimit - this.headBytes;
      if (room > 0) this.append(stream, data.subarray(0, room), iso, false);
      // The marker's place in the order is fixed when the head fills up, between head and tail.
      this.markerSeq = ++this.seq;
      data = data.subarray(Math.max(room, 0));
    }
    // Cut large reads into chunk-sized pieces so that the tail window can drop part of one write.
    for (let offset = 0; offset < data.length; offset += this.chunkLimit) {
      this.append(stream, data.subarray(offset, offset + this.chunkLimit), iso, this.markerSeq !== null);
    }
  }

  /** Flushes the UTF-8 decoders: call once when the child's streams have ended. */
  end(at: Date = new Date()): void {
    // The decoders' last words come after every byte before them.
    for (const chunk of this.pending) if (!chunk.dropped) this.decode(chunk);
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.decoders[stream].end();
      if (rest) this.appendText(stream, rest, 0, at.toISOString(), this.markerSeq !== null);
    }
  }

  /**
   * Hands out what is new since the last flush; with `headOnly`, only the head's new chunks (the tail's
   * stay for a later flush, and may be dropped before it: the window slides in memory meanwhile).
   */
  flush(options: { headOnly?: boolean } = {}): LogFlush {
    this.headBytesOut = this.headBytes;
    const out = options.headOnly ? this.pending.filter((chunk) => !chunk.tail) : this.pending.filter((chunk) => !chunk.dropped);
    this.pending = options.headOnly ? this.pending.filter((chunk) => chunk.tail) : [];
    const rows = out
      .map((chunk) => {
        this.decode(chunk);
        chunk.emitted = true;
        // PostgreSQL text cannot hold NUL; everything else a decoder produces is storable.
        return { seq: chunk.seq, stream: chunk.stream, at: chunk.at, text: chunk.text.replaceAll('\u0000', '\uFFFD') };
      });
    const deleteRange: [number, number] | null =
      this.deleteFrom !== null && this.deleteTo !== null ? [this.deleteFrom, this.deleteTo] : null;
    this.deleteFrom = this.deleteTo = null;
    let marker: LogRow | null = null;
    if (this.markerDirty && this.markerSeq !== null) {
      marker = { seq: this.markerSeq, stream: 'system', at: new Date().toISOString(), text: this.markerText() };
      this.markerDirty = false;
    }
    return { rows, deleteRange, marker };
  }

  private markerText(): string {
    return (
      `[kubescribe] ${formatBytes(this.droppedBytes)} (${this.droppedBytes} bytes) of output dropped here: ` +
      `the log cap of ${formatBytes(this.capBytes)} keeps the first ${formatBytes(this.headLimit)} and the last ` +
      `${formatBytes(this.tailLimit)}.\n`
    );
  }

  private append(stream: Stream, data: Buffer, at: string, tail: boolean): void {
    if (!tail) {
      this.appendText(stream, this.decoders[stream].write(data), data.length, at, false);
      return;
    }
    // A tail chunk holds at most chunkLimit bytes, its buffer's size: what does not fit starts the next.
    for (let offset = 0; offset < data.length; ) {
      const last = this.pending.at(-1);
      const room = last && last.raw && last.stream === stream && !last.dropped ? this.chunkLimit - last.bytes : 0;
      const size = Math.min(room > 0 ? room : this.chunkLimit, data.length - offset);
      const chunk = this.appendChunk(stream, at, true, size);
      data.copy(chunk.raw!, chunk.bytes - size, offset, offset + size);
      offset += size;
    }
  }

  private appendText(stream: Stream, text: string, bytes: number, at: string, tail: boolean): void {
    const chunk = this.appendChunk(stream, at, tail, bytes);
    if (chunk.raw) {
      // Text after raw bytes (the decoder's last word at the end): decode what came before it first.
      this.decode(chunk);
    }
    chunk.text += text;
  }

  /** Decodes a tail chunk's bytes in the stream's order: every earlier chunk of its stream is decoded or dropped. */
  private decode(chunk: Chunk): void {
    if (!chunk.raw) return;
    chunk.text += this.decoders[chunk.stream].write(chunk.raw.subarray(0, chunk.bytes));
    this.freeBuffers.push(chunk.raw);
    chunk.raw = null;
  }

  /** The chunk `bytes` more of `stream` go into, counted in; older tail chunks the window no longer holds are dropped. */
  private appendChunk(stream: Stream, at: string, tail: boolean, bytes: number): Chunk {
    let last = this.pending.at(-1);
    // A tail chunk decoded early (end()'s last word) takes no more bytes.
    if (!last || last.stream !== stream || last.tail !== tail || last.bytes >= this.chunkLimit || last.dropped || (tail && !last.raw)) {
      const raw = tail ? (this.freeBuffers.pop() ?? Buffer.allocUnsafeSlow(this.chunkLimit)) : null;
      last = { seq: ++this.seq, stream, at, text: '', raw, bytes: 0, tail, emitted: false, dropped: false };
      this.pending.push(last);
      if (tail) this.tailChunks.push(last);
    }
    last.bytes += bytes;
    this.account(last, bytes);
    return last;
  }

  private account(last: Chunk, bytes: number): void {
    const { tail } = last;
    if (!tail) {
      this.headBytes += bytes;
      return;
    }
    this.tailBytes += bytes;
    while (this.tailBytes > this.tailLimit && this.tailChunks.length > 1) {
      const oldest = this.tailChunks.shift()!;
      if (oldest.raw) this.skip(oldest);
      oldest.dropped = true;
      this.tailBytes -= oldest.bytes;
      this.droppedBytes += oldest.bytes;
      this.markerDirty = true;
      if (oldest.emitted) {
        this.deleteFrom ??= oldest.seq;
        this.deleteTo = oldest.seq;
      }
    }
    if (this.pending.length > 64) this.pending = this.pending.filter((chunk) => !chunk.dropped);
  }

  /**
   * Drops an undecoded chunk's text but carries its stream's decoder past it: what matters of its
   * bytes is an unfinished UTF-8 sequence at its end (at most 3 bytes), which the next chunk completes.
   */
  private skip(chunk: Chunk): void {
    const decoder = this.decoders[chunk.stream];
    const raw = chunk.raw!;
    if (chunk.bytes < 3) {
      decoder.write(raw.subarray(0, chunk.bytes));
    } else {
      // A fresh decoder fed the last 3 bytes holds exactly the sequence they leave unfinished (a
      // continuation byte with its lead further back ends nothing unfinished, and is dropped anyway).
      // The decoder copies what it holds, so the buffer can be reused at once.
      decoder.end();
      decoder.write(raw.subarray(chunk.bytes - 3, chunk.bytes));
    }
    this.freeBuffers.push(raw);
    chunk.raw = null;
  }
}

/** Formats a byte count for people: 10 MB, 512 KB. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${+(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}
