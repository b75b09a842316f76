// A run's stored log as the run page shows it: lines told apart by stream (stdout, stderr, and the
// `system` marker the log cap writes where it dropped output), built from the RunLog's chunks.
//
// A long log is never sent whole: the page gets its head and tail (HEAD_BYTES and TAIL_BYTES of text)
// and a gap between them that the reader opens a page (PAGE_BYTES) at a time. The text is escaped by
// the template that prints it, never here.
import type { Queryable } from '../runlog/db.ts';
import { measureLogBetween, readLogPage, readLogTailPage, searchLogChunks } from '../runlog/sql/run-logs.ts';
import type { LogChunk, LogStream } from '../runlog/types.ts';

/** What the page shows first of a long log: its first and last 64 KiB (a 10 MB log sends ~128 KiB). */
export const HEAD_BYTES = 64 * 1024;
export const TAIL_BYTES = 64 * 1024;
/** What one "load more" adds. */
export const PAGE_BYTES = 256 * 1024;
// Chunks are at most 64 KiB but usually far smaller (one flush of output): a row bound besides the bytes.
const MAX_CHUNKS = 2000;

/** One line of output, or the cap's marker (stream `system`). */
export interface LogLine {
  /** The chunk the line starts in. */
  seq: number;
  stream: LogStream;
  /** Without its newline. */
  text: string;
}

/** Part of the log the page has not loaded: chunks with after < seq < before. */
export interface LogGap { afterSeq: number; beforeSeq: number; chunks: number; bytes: number }

/** A stretch of the log as the page shows it: lines, and where the stretch leaves off. */
export interface LogSection {
  lines: LogLine[];
  /** The last seq the section holds (its `after_seq` for what follows); the request's own when empty. */
  lastSeq: number;
}

/** The log's lines: consecutive chunks of a stream join (a line may span chunks); another stream or the marker ends a line. */
export function logLines(chunks: readonly LogChunk[]): LogLine[] {
  const lines: LogLine[] = [];
  let pending: LogLine | null = null;
  const flush = () => {
    if (pending && pending.text !== '') lines.push(pending);
    pending = null;
  };
  for (const chunk of chunks) {
    if (chunk.stream === 'system') {
      flush();
      lines.push({ seq: chunk.seq, stream: 'system', text: chunk.text.replace(/\n+$/, '') });
      continue;
    }
    if (pending && (pending as LogLine).stream !== chunk.stream) flush();
    const start: LogLine = pending ?? { seq: chunk.seq, stream: chunk.stream, text: '' };
    const parts = (start.text + chunk.text).split('\n');
    const rest = parts.pop()!;
    parts.forEach((text, i) => lines.push({ seq: i === 0 ? start.seq : chunk.seq, stream: chunk.stream, text }));
    pending = rest === '' ? null : { seq: parts.length > 0 ? chunk.seq : start.seq, stream: chunk.stream, text: rest };
  }
  flush();
  return lines;
}

/** The page's first view of a log: its head, its tail, and the gap between them when there is one. */
export interface LogOpening {
  head: LogSection;
  gap: LogGap | null;
  tail: LogSection | null;
  /** Bytes of log text this view holds. */
  bytes: number;
}

const textBytes = (chunks: readonly LogChunk[]) => chunks.reduce((sum, chunk) => sum + Buffer.byteLength(chunk.text), 0);

/** Reads the head and tail of a run's log (three small queries), never the whole of a long one. */
export async function openLog(db: Queryable, runId: string): Promise<LogOpening> {
  const head = await readLogPage(db, runId, 0, MAX_CHUNKS, HEAD_BYTES);
  const headLast = head.at(-1)?.seq ?? 0;
  const tail = head.length === 0 ? [] : await readLogTailPage(db, runId, headLast, MAX_CHUNKS, TAIL_BYTES);
  const tailFirst = tail[0]?.seq;
  const between = tailFirst === undefined ? { chunks: 0, bytes: 0 } : await measureLogBetween(db, runId, headLast, tailFirst);
  return {
    head: { lines: logLines(head), lastSeq: headLast },
    gap: between.chunks > 0 ? { afterSeq: headLast, beforeSeq: tailFirst!, ...between } : null,
    tail: tail.length > 0 ? { lines: logLines(tail), lastSeq: tail.at(-1)!.seq } : null,
    bytes: textBytes(head) + textBytes(tail),
  };
}

/** The next page of a gap (chunks after `afterSeq` and before `beforeSeq`), and the gap that remains. */
export async function readGap(db: Queryable, runId: string, afterSeq: number, beforeSeq: number): Promise<{ section: LogSection; gap: LogGap | null; bytes: number }> {
  const page = (await readLogPage(db, runId, afterSeq, MAX_CHUNKS, PAGE_BYTES)).filter((chunk) => chunk.seq < beforeSeq);
  const lastSeq = page.at(-1)?.seq ?? afterSeq;
  const rest = page.length === 0 ? { chunks: 0, bytes: 0 } : await measureLogBetween(db, runId, lastSeq, beforeSeq);
  return {
    section: { lines: logLines(page), lastSeq },
    gap: rest.chunks > 0 ? { afterSeq: lastSeq, beforeSeq, ...rest } : null,
    bytes: textBytes(page),
  };
}

/** One line of the stored log that holds what was searched for. */
export interface LogMatch { seq: number; stream: LogStream; text: string }

/** Longest search the page takes; searches are substring matches, not patterns. */
export const MAX_SEARCH_LENGTH = 200;
const MAX_MATCH_CHUNKS = 200;
const MAX_MATCH_LINES = 500;
const MAX_LINE_CHARS = 2000;

/**
 * The lines of the whole stored log that contain `needle` (case-insensitive), searched in the RunLog:
 * at most 500 lines, each cut at 2,000 characters; `truncated` when there were more.
 */
export async function searchLog(db: Queryable, runId: string, needle: string): Promise<{ matches: LogMatch[]; truncated: boolean }> {
  const chunks = await searchLogChunks(db, runId, needle, MAX_MATCH_CHUNKS + 1);
  const lower = needle.toLowerCase();
  const matches: LogMatch[] = [];
  let truncated = chunks.length > MAX_MATCH_CHUNKS;
  for (const chunk of chunks.slice(0, MAX_MATCH_CHUNKS)) {
    for (const line of chunk.text.split('\n')) {
      if (!line.toLowerCase().includes(lower)) continue;
      if (matches.length === MAX_MATCH_LINES) {
        truncated = true;
        break;
      }
      matches.push({ seq: chunk.seq, stream: chunk.stream, text: line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line });
    }
  }
  return { matches, truncated };
}
