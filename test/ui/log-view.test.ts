import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../src/runlog/db.ts';
import { deleteLogChunks, insertLogChunks, upsertLogChunk, type LogRow } from '../../src/runlog/sql/run-logs.ts';
import { getRunLink, lastSucceededRun, listRetriesOf } from '../../src/runlog/sql/run-links.ts';
import type { LogChunk } from '../../src/runlog/types.ts';
import { LogCapture } from '../../src/runner/log-capture.ts';
import { HEAD_BYTES, logLines, openLog, readGap, searchLog, TAIL_BYTES } from '../../src/ui/log-view.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { openSharedRunLog, seedRun, type SharedRunLog } from '../runlog/shared-runlog.ts';

const chunk = (seq: number, stream: LogChunk['stream'], text: string): LogChunk => ({ seq, stream, at: new Date(), text });

describe('logLines', () => {
  it('joins a line split over chunks of one stream, and ends a line where the stream changes', () => {
    const lines = logLines([
      chunk(1, 'stdout', 'first li'),
      chunk(2, 'stdout', 'ne\nsecond\nthi'),
      chunk(3, 'stderr', 'oops\n'),
      chunk(4, 'stdout', 'rd\n'),
      chunk(5, 'system', '[kubescribe] 1 MB (1000000 bytes) of output dropped here\n'),
      chunk(6, 'stdout', '<script>alert(1)</script>'),
    ]);
    assert.deepEqual(lines.map((l) => [l.seq, l.stream, l.text]), [
      [1, 'stdout', 'first line'],
      [2, 'stdout', 'second'],
      [2, 'stdout', 'thi'],
      [3, 'stderr', 'oops'],
      [4, 'stdout', 'rd'],
      [5, 'system', '[kubescribe] 1 MB (1000000 bytes) of output dropped here'],
      [6, 'stdout', '<script>alert(1)</script>'],
    ]);
  });

  it('keeps empty lines inside the output', () => {
    assert.deepEqual(logLines([chunk(1, 'stdout', 'a\n\nb\n')]).map((l) => l.text), ['a', '', 'b']);
  });
});

for (const engine of ENGINES) {
  describe(`the run page's log (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
    });
    after(() => shared?.close());

    /** Stores what a real LogCapture makes of `lines` lines of output under a cap of `cap` bytes. */
    async function capturedRun(lines: number, cap: number): Promise<{ runId: string; dropped: number }> {
      const runId = (await seedRun(db, { job: 'logs' })).run_id;
      const capture = new LogCapture(cap);
      for (let i = 1; i <= lines; i++) {
        capture.push(i % 10 === 0 ? 'stderr' : 'stdout', Buffer.from(`line ${String(i).padStart(6, '0')} ${'x'.repeat(80)}\n`));
        if (i % 500 === 0) {
          const flush = capture.flush();
          await insertLogChunks(db, runId, flush.rows);
          if (flush.deleteRange) await deleteLogChunks(db, runId, ...flush.deleteRange);
          if (flush.marker) await upsertLogChunk(db, runId, flush.marker);
        }
      }
      capture.end();
      const flush = capture.flush();
      await insertLogChunks(db, runId, flush.rows);
      if (flush.deleteRange) await deleteLogChunks(db, runId, ...flush.deleteRange);
      if (flush.marker) await upsertLogChunk(db, runId, flush.marker);
      return { runId, dropped: capture.droppedBytes };
    }

    it('opens a small log whole, with no gap', async () => {
      const { runId } = await capturedRun(50, 10 * 1024 * 1024);
      const opening = await openLog(db, runId);
      assert.equal(opening.gap, null);
      const all = [...opening.head.lines, ...(opening.tail?.lines ?? [])];
      assert.equal(all.length, 50);
      assert.match(all[0]!.text, /^line 000001 /);
      assert.match(all.at(-1)!.text, /^line 000050 /);
      assert.equal(all[9]!.stream, 'stderr');
    });

    it('opens a 10 MB log with its head and tail only, the marker in the gap it leaves, and loads the rest a page at a time', async () => {
      // ~14 MB of output into a 10 MB cap: 5 MB head, marker, 5 MB tail.
      const { runId, dropped } = await capturedRun(160_000, 10 * 1024 * 1024);
      assert.ok(dropped > 0);
      const opening = await openLog(db, runId);
      assert.ok(opening.bytes <= HEAD_BYTES + TAIL_BYTES + 2 * 64 * 1024, `opened ${opening.bytes} bytes`);
      assert.match(opening.head.lines[0]!.text, /^line 000001 /);
      assert.match(opening.tail!.lines.at(-1)!.text, /^line 160000 /);
      assert.ok(opening.gap);
      assert.ok(opening.gap.bytes > 9 * 1024 * 1024, `gap of ${opening.gap.bytes} bytes`);

      let gap = opening.gap;
      let pages = 0;
      let marker = null;
      let loaded = opening.bytes;
      const seen: number[] = [];
      while (gap) {
        const page = await readGap(db, runId, gap.afterSeq, gap.beforeSeq);
        pages++;
        loaded += page.bytes;
        marker ??= page.section.lines.find((line) => line.stream === 'system') ?? null;
        for (const line of page.section.lines) {
          const number = /^line (\d{6}) x+$/.exec(line.text)?.[1];
          if (number) seen.push(Number(number));
        }
        assert.ok(page.section.lastSeq > gap.afterSeq);
        gap = page.gap!;
      }
      assert.ok(pages > 10, `${pages} pages`);
      assert.ok(marker, 'the cap marker is in the log');
      assert.match(marker.text, new RegExp(`\\(${dropped} bytes\\) of output dropped here`));
      // The lines come in order, each once (but a line a page boundary cuts in two).
      assert.ok(seen.length > 50_000, `${seen.length} whole lines`);
      assert.ok(seen.every((n, i) => i === 0 || n > seen[i - 1]!), 'in order, none twice');
    });

    it('searches the whole stored log, case-insensitively, and finds text the page has not loaded', async () => {
      const runId = (await seedRun(db, { job: 'logs' })).run_id;
      const rows: LogRow[] = [];
      for (let seq = 1; seq <= 300; seq++) {
        rows.push({ seq, stream: seq === 150 ? 'stderr' : 'stdout', at: new Date().toISOString(), text: seq === 150 ? 'ok\nNeedle in the MIDDLE\nok\n' : `filler ${seq}\n` });
      }
      await insertLogChunks(db, runId, rows);
      const found = await searchLog(db, runId, 'needle in the middle');
      assert.deepEqual(found, { matches: [{ seq: 150, stream: 'stderr', text: 'Needle in the MIDDLE' }], truncated: false });
      assert.equal((await searchLog(db, runId, 'filler')).matches.length, 200);
      assert.equal((await searchLog(db, runId, 'filler')).truncated, true);
      assert.deepEqual((await searchLog(db, runId, '%')).matches, []);
    });

    it('links a run to its retries and finds the job\'s last successful run', async () => {
      const job = `links-${engine}`;
      const ok = await seedRun(db, { job, status: 'succeeded', params: { n: 1 }, created_at: new Date(Date.now() - 5000) });
      const failed = await seedRun(db, { job, status: 'failed', params: { n: 2 } });
      const retry = await seedRun(db, { job, status: 'queued', retry_of: failed.run_id, attempt: 2, trigger: 'retry' });
      assert.deepEqual((await listRetriesOf(db, failed.run_id)).map((r) => [r.run_id, r.attempt]), [[retry.run_id, 2]]);
      assert.equal((await getRunLink(db, retry.run_id))?.status, 'queued');
      const last = await lastSucceededRun(db, job);
      assert.equal(last?.run_id, ok.run_id);
      assert.deepEqual(last?.params, { n: 1 });
      assert.equal(await lastSucceededRun(db, 'no-such-job'), null);
    });
  });
}
