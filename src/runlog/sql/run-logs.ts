import type { Queryable } from '../db.ts';
import type { LogChunk, LogStream, RunEvent } from '../types.ts';

export interface LogRow {
  seq: number;
  stream: LogStream;
  at: string;
  text: string;
}

/**
 * Inserts log chunks in one statement; chunks already stored (same run_id and seq) are skipped.
 * Columns as arrays, not one jsonb document: a runner storing a fast child's output spends its own
 * thread on this, and arrays cost less on both sides — 10 MB of chunks measured 55 ms of the client's
 * CPU and 110 ms of PostgreSQL's as arrays against 75 and 120 as jsonb (JSON.stringify, then jsonb
 * parsing); through threaded PGlite the arrays are serialised on its thread, not the runner's.
 */
export async function insertLogChunks(db: Queryable, runId: string, rows: LogRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO run_logs (run_id, seq, stream, at, text)
     SELECT $1, x.seq, x.stream, x.at, x.text
     FROM unnest($2::integer[], $3::text[], $4::timestamptz[], $5::text[]) AS x (seq, stream, at, text)
     ON CONFLICT (run_id, seq) DO NOTHING`,
    [runId, rows.map((row) => row.seq), rows.map((row) => row.stream), rows.map((row) => row.at), rows.map((row) => row.text)],
  );
}

/** Writes or rewrites one chunk (the truncation marker, whose count grows while a run goes on). */
export async function upsertLogChunk(db: Queryable, runId: string, row: LogRow): Promise<void> {
  await db.query(
    `INSERT INTO run_logs (run_id, seq, stream, at, text) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (run_id, seq) DO UPDATE SET text = EXCLUDED.text, at = EXCLUDED.at`,
    [runId, row.seq, row.stream, row.at, row.text],
  );
}

/** Deletes the chunks in [fromSeq, toSeq]: the middle of a log that outgrew its cap. */
export async function deleteLogChunks(db: Queryable, runId: string, fromSeq: number, toSeq: number): Promise<void> {
  await db.query('DELETE FROM run_logs WHERE run_id = $1 AND seq BETWEEN $2 AND $3', [runId, fromSeq, toSeq]);
}

/** Reads a run's log chunks in order, from `afterSeq` (exclusive). */
export async function readLogChunks(db: Queryable, runId: string, afterSeq = 0, limit = 10_000): Promise<LogChunk[]> {
  return db.query<LogChunk & Record<string, unknown>>(
    'SELECT seq, stream, at, text FROM run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
    [runId, afterSeq, limit],
  );
}

/**
 * Reads the chunks after `afterSeq` in order, at most `maxChunks` of them and no more than `maxBytes`
 * of text, except that the first chunk always comes: a page in memory is bounded by bytes, not only
 * by rows (a chunk holds up to 64 KiB). octet_length reads a stored value's size without decompressing it.
 */
export async function readLogPage(db: Queryable, runId: string, afterSeq: number, maxChunks: number, maxBytes: number): Promise<LogChunk[]> {
  return db.query<LogChunk & Record<string, unknown>>(
    `SELECT seq, stream, at, text FROM (
       SELECT seq, stream, at, text, sum(octet_length(text)) OVER (ORDER BY seq) - octet_length(text) AS bytes_before
       FROM (SELECT seq, stream, at, text FROM run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) AS head
     ) AS page
     WHERE bytes_before < $4 ORDER BY seq`,
    [runId, afterSeq, maxChunks, maxBytes],
  );
}

/** The highest seq stored for a run, 0 when it has no log yet. */
export async function lastLogSeq(db: Queryable, runId: string): Promise<number> {
  const rows = await db.query<{ seq: number | null }>('SELECT max(seq) AS seq FROM run_logs WHERE run_id = $1', [runId]);
  return Number(rows[0]?.seq ?? 0);
}

/** Reads a run's events in order. */
export async function readRunEvents(db: Queryable, runId: string): Promise<RunEvent[]> {
  return db.query<RunEvent & Record<string, unknown>>(
    `SELECT event_id::text AS event_id, run_id::text AS run_id, at, type, from_status, to_status, actor, detail
     FROM run_events WHERE run_id = $1 ORDER BY at, event_id`,
    [runId],
  );
}

/** The last `lines` lines of a run's stored output (from its last 64 chunks). */
export async function readLogTail(db: Queryable, runId: string, lines: number): Promise<string[]> {
  const rows = await db.query<{ text: string }>(
    'SELECT text FROM run_logs WHERE run_id = $1 AND stream <> $2 ORDER BY seq DESC LIMIT 64',
    [runId, 'system'],
  );
  const text = rows.reverse().map((row) => row.text).join('');
  return text.replace(/\n+$/, '').split('\n').slice(-lines).filter((line, i, all) => all.length > 1 || line !== '');
}

/**
 * The last chunks of a run's log after `afterSeq`, in order: at most `maxChunks` and no more than
 * `maxBytes` of text counted from the end, except that the last chunk always comes. The tail of a
 * long log for a reader that shows its head and tail first (the admin UI's run page).
 */
export async function readLogTailPage(db: Queryable, runId: string, afterSeq: number, maxChunks: number, maxBytes: number): Promise<LogChunk[]> {
  return db.query<LogChunk & Record<string, unknown>>(
    `SELECT seq, stream, at, text FROM (
       SELECT seq, stream, at, text, sum(octet_length(text)) OVER (ORDER BY seq DESC) - octet_length(text) AS bytes_after
       FROM (SELECT seq, stream, at, text FROM run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq DESC LIMIT $3) AS tail
     ) AS page
     WHERE bytes_after < $4 ORDER BY seq`,
    [runId, afterSeq, maxChunks, maxBytes],
  );
}

/** How many chunks, and bytes of text, a run's log holds strictly between two seqs. */
export async function measureLogBetween(db: Queryable, runId: string, afterSeq: number, beforeSeq: number): Promise<{ chunks: number; bytes: number }> {
  const [row] = await db.query<{ chunks: string | number; bytes: string | number }>(
    `SELECT count(*) AS chunks, coalesce(sum(octet_length(text)), 0) AS bytes
     FROM run_logs WHERE run_id = $1 AND seq > $2 AND seq < $3`,
    [runId, afterSeq, beforeSeq],
  );
  return { chunks: Number(row?.chunks ?? 0), bytes: Number(row?.bytes ?? 0) };
}

/**
 * The chunks of a run's log whose text contains `needle` (case-insensitive), in order, at most
 * `limit`: the stored log searched where it is, so a reader need not download it to search it.
 */
export async function searchLogChunks(db: Queryable, runId: string, needle: string, limit: number): Promise<LogChunk[]> {
  return db.query<LogChunk & Record<string, unknown>>(
    `SELECT seq, stream, at, text FROM run_logs
     WHERE run_id = $1 AND strpos(lower(text), lower($2)) > 0 ORDER BY seq LIMIT $3`,
    [runId, needle, limit],
  );
}
