import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../src/runlog/db.ts';
import { deleteLogChunks, insertLogChunks, readLogChunks, readRunEvents, upsertLogChunk, type LogRow } from '../../src/runlog/sql/run-logs.ts';
import { LogCapture } from '../../src/runner/log-capture.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { openSharedRunLog, seedRun, type SharedRunLog } from './shared-runlog.ts';

const at = (s: number) => new Date(Date.UTC(2024, 4, 1, 12, 0, s)).toISOString();
const row = (seq: number, text: string, stream: LogRow['stream'] = 'stdout'): LogRow => ({ seq, stream, at: at(seq), text });

for (const engine of ENGINES) {
  describe(`run logs (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
    });
    after(() => shared?.close());

    const newRun = async () => (await seedRun(db, { job: 'logs' })).run_id;
    const texts = async (runId: string) => (await readLogChunks(db, runId)).map((c) => [c.seq, c.stream, c.text]);

    it('stores chunks exactly: emoji, other scripts, quotes, backslashes, JSON-looking text, control characters', async () => {
      const runId = await newRun();
      const samples = [
        'plain line\n',
        'emoji 🚀🔥 and a family 👨‍👩‍👧 and a flag 🇩🇪\n',
        'Grüße, 日本語, العربية, עברית\n',
        'quotes \' " ` and backslashes \\ \\n \\u0000 literally\n',
        '{"metric": "rows", "value": 1}\n',
        'tab\there\r\nbell\u0007 escape\u001b[31mred\u001b[0m\n',
        'x'.repeat(64 * 1024),
        // What an array literal must quote (the chunks travel as text[]): braces, commas, NULL, blanks.
        '{a,"b"},{}\n',
        'NULL',
        '',
        '  padded  ',
        '"\\"',
      ];
      await insertLogChunks(db, runId, samples.map((text, i) => row(i + 1, text, i % 2 ? 'stderr' : 'stdout')));
      const chunks = await readLogChunks(db, runId);
      assert.deepEqual(chunks.map((c) => c.text), samples);
      assert.deepEqual(chunks.map((c) => c.seq), samples.map((_, i) => i + 1));
      assert.deepEqual(chunks.map((c) => c.stream), samples.map((_, i) => (i % 2 ? 'stderr' : 'stdout')));
      for (const [i, chunk] of chunks.entries()) {
        assert.ok(chunk.at instanceof Date);
        assert.equal(chunk.at.toISOString(), at(i + 1));
      }
      await insertLogChunks(db, runId, []);
      assert.equal((await readLogChunks(db, runId)).length, samples.length);
    });

    it('cannot store NUL (why LogCapture replaces it), and stores what LogCapture produces from it', async () => {
      const runId = await newRun();
      await assert.rejects(insertLogChunks(db, runId, [row(1, 'a\u0000b')]));
      assert.deepEqual(await readLogChunks(db, runId), []);

      const capture = new LogCapture(1024 * 1024);
      capture.push('stdout', Buffer.from([0x61, 0x00, 0x62, 0x0a]));
      capture.push('stderr', Buffer.from('binary \u0000\u0000 end 🚀\n'));
      capture.end();
      const flush = capture.flush();
      await insertLogChunks(db, runId, flush.rows);
      assert.deepEqual(await texts(runId), [
        [1, 'stdout', 'a\uFFFDb\n'],
        [2, 'stderr', 'binary \uFFFD\uFFFD end 🚀\n'],
      ]);
    });

    it('skips chunks already stored (same run and seq)', async () => {
      const runId = await newRun();
      await insertLogChunks(db, runId, [row(1, 'first'), row(2, 'second')]);
      await insertLogChunks(db, runId, [row(2, 'REPLAYED'), row(3, 'third', 'stderr'), row(1, 'REPLAYED')]);
      assert.deepEqual(await texts(runId), [[1, 'stdout', 'first'], [2, 'stdout', 'second'], [3, 'stderr', 'third']]);
      // Same seq in another run is a different chunk.
      const other = await newRun();
      await insertLogChunks(db, other, [row(1, 'other run')]);
      assert.deepEqual(await texts(other), [[1, 'stdout', 'other run']]);
      assert.equal((await readLogChunks(db, runId)).length, 3);
    });

    it('upsertLogChunk writes a chunk, then rewrites its text and time', async () => {
      const runId = await newRun();
      await insertLogChunks(db, runId, [row(1, 'head'), row(3, 'tail')]);
      await upsertLogChunk(db, runId, { seq: 2, stream: 'system', at: at(10), text: '[kubescribe] 10 B dropped' });
      await upsertLogChunk(db, runId, { seq: 2, stream: 'system', at: at(20), text: '[kubescribe] 99 B dropped' });
      const chunks = await readLogChunks(db, runId);
      assert.deepEqual(chunks.map((c) => [c.seq, c.stream, c.text]), [
        [1, 'stdout', 'head'],
        [2, 'system', '[kubescribe] 99 B dropped'],
        [3, 'stdout', 'tail'],
      ]);
      assert.equal(chunks[1]!.at.toISOString(), at(20));
    });

    it('deleteLogChunks removes an inclusive range of one run only', async () => {
      const runId = await newRun();
      const other = await newRun();
      const rows = Array.from({ length: 10 }, (_, i) => row(i + 1, `line ${i + 1}\n`));
      await insertLogChunks(db, runId, rows);
      await insertLogChunks(db, other, rows);
      await deleteLogChunks(db, runId, 3, 6);
      assert.deepEqual((await readLogChunks(db, runId)).map((c) => c.seq), [1, 2, 7, 8, 9, 10]);
      await deleteLogChunks(db, runId, 3, 6);
      await deleteLogChunks(db, runId, 10, 10);
      assert.deepEqual((await readLogChunks(db, runId)).map((c) => c.seq), [1, 2, 7, 8, 9]);
      assert.equal((await readLogChunks(db, other)).length, 10);
    });

    it('reads chunks in seq order after a given seq, with a limit', async () => {
      const runId = await newRun();
      // Inserted out of order, with seq values that sort differently as text (2 < 10).
      await insertLogChunks(db, runId, [row(10, 'j'), row(2, 'b'), row(1, 'a')]);
      await insertLogChunks(db, runId, [row(3, 'c', 'stderr'), row(11, 'k')]);
      const seqs = async (after?: number, limit?: number) => (await readLogChunks(db, runId, after, limit)).map((c) => c.seq);
      assert.deepEqual(await seqs(), [1, 2, 3, 10, 11]);
      assert.deepEqual(await seqs(2), [3, 10, 11]);
      assert.deepEqual(await seqs(3, 1), [10]);
      assert.deepEqual(await seqs(11), []);
      assert.equal((await readLogChunks(db, runId)).map((c) => c.text).join(''), 'abcjk');
    });

    it('stores a capped log as LogCapture hands it out: head, the system marker, then the tail', async () => {
      const runId = await newRun();
      const capture = new LogCapture(1000);
      let written = '';
      const apply = async () => {
        const flush = capture.flush();
        // The order the runner records them in.
        await insertLogChunks(db, runId, flush.rows);
        if (flush.deleteRange) await deleteLogChunks(db, runId, ...flush.deleteRange);
        if (flush.marker) await upsertLogChunk(db, runId, flush.marker);
      };
      for (let i = 0; i < 200; i++) {
        const line = `line ${String(i).padStart(4, '0')} ${'.'.repeat(38)}\n`; // 49 bytes
        written += line;
        capture.push(i % 10 === 9 ? 'stderr' : 'stdout', Buffer.from(line));
        if (i % 7 === 0) await apply();
      }
      capture.end();
      await apply();

      const chunks = await readLogChunks(db, runId);
      const markers = chunks.filter((c) => c.stream === 'system');
      assert.equal(markers.length, 1);
      const markerIndex = chunks.indexOf(markers[0]!);
      const head = chunks.slice(0, markerIndex).map((c) => c.text).join('');
      const tail = chunks.slice(markerIndex + 1).map((c) => c.text).join('');
      assert.equal(Buffer.byteLength(head), 500);
      assert.equal(head, written.slice(0, 500));
      assert.ok(written.endsWith(tail));
      assert.ok(Buffer.byteLength(tail) <= 500, `tail is ${Buffer.byteLength(tail)} bytes`);
      const dropped = written.length - head.length - tail.length;
      assert.equal(capture.droppedBytes, dropped);
      assert.equal(capture.totalBytes, written.length);
      assert.match(markers[0]!.text, new RegExp(`\\(${dropped} bytes\\) of output dropped here`));
      // seq order alone gives the log back: no gaps inside head or tail.
      assert.deepEqual(chunks.map((c) => c.seq), [...chunks.map((c) => c.seq)].sort((a, b) => a - b));
      assert.deepEqual(await readRunEvents(db, runId).then((e) => e.length), 1);
    });
  });
}
