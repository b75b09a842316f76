// Reading a run's log through the API, page by page or followed live (`kubescribe logs`, `trigger --wait`).
import { TERMINAL_STATUSES, type RunStatus } from '../runlog/types.ts';
import { ApiClientError, type ApiClient } from '../api-client/api-client.ts';

/** One stored chunk of a run's log as the API sends it. */
export interface ApiLogChunk {
  seq: number;
  stream: 'stdout' | 'stderr' | 'system';
  at: string;
  text: string;
}

const RECONNECT_MS = 500;

/** Reads a run's stored log page by page from `afterSeq`; returns the last seq read. */
export async function readLogs(
  client: ApiClient,
  runId: string,
  afterSeq: number,
  onChunk: (chunk: ApiLogChunk) => unknown,
): Promise<number> {
  let after = afterSeq;
  for (;;) {
    const page = await client.get<{ chunks: ApiLogChunk[]; next_after_seq?: number | null; complete?: boolean }>(
      `/runs/${encodeURIComponent(runId)}/logs`,
      { after_seq: after, limit: 1000 },
    );
    for (const chunk of page.chunks) {
      if (chunk.seq <= after) continue;
      await onChunk(chunk);
      after = chunk.seq;
    }
    if (page.chunks.length === 0 || page.complete) return after;
    after = Math.max(after, page.next_after_seq ?? after);
  }
}

/**
 * Streams a run's log (SSE, `follow=true`) from `afterSeq` until the run ends and returns its final
 * status. A stream that drops before its `end` event is resumed from the last seq received.
 */
export async function followLogs(
  client: ApiClient,
  runId: string,
  afterSeq: number,
  onChunk: (chunk: ApiLogChunk) => unknown,
): Promise<string> {
  const path = `/runs/${encodeURIComponent(runId)}/logs`;
  let after = afterSeq;
  for (;;) {
    let handlerFailed = false;
    try {
      for await (const event of client.events(path, { follow: true, after_seq: after })) {
        if (event.event === 'end') return (JSON.parse(event.data) as { status: string }).status;
        if (event.event !== 'log') continue;
        const chunk = JSON.parse(event.data) as ApiLogChunk;
        // A resumed stream may repeat what was already printed.
        if (chunk.seq <= after) continue;
        handlerFailed = true;
        await onChunk(chunk);
        handlerFailed = false;
        after = chunk.seq;
      }
    } catch (error) {
      if (handlerFailed || error instanceof ApiClientError || error instanceof SyntaxError) throw error;
      // Otherwise the connection dropped (server restart, proxy idle timeout): ask where the run is.
    }
    const run = await client.get<{ status: string }>(`/runs/${encodeURIComponent(runId)}`);
    if (TERMINAL_STATUSES.includes(run.status as RunStatus)) {
      await readLogs(client, runId, after, onChunk);
      return run.status;
    }
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  }
}
