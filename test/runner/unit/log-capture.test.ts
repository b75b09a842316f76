import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StringDecoder } from 'node:string_decoder';
import { formatBytes, LogCapture, type LogFlush } from '../../../src/runner/log-capture.ts';
import type { LogRow } from '../../../src/runlog/sql/run-logs.ts';

/**
 * What the RunLog holds after the flushes, applied the way the runner records them (rows with
 * ON CONFLICT DO NOTHING, then the delete range, then the marker upsert), plus checks on every flush.
 */
class Store {
  readonly rows = new Map<number, LogRow>();
  readonly emitted = new Set<number>();
  readonly deleted: [number, number][] = [];

  apply(flush: LogFlush): void {
    for (const row of flush.rows) {
      assert.ok(!this.emitted.has(row.seq), `seq ${row.seq} handed out twice`);
      this.emitted.add(row.seq);
      this.rows.set(row.seq, row);
    }
    if (flush.deleteRange) {
      const [from, to] = flush.deleteRange;
      assert.ok(from <= to);
      this.deleted.push([from, to]);
      for (let seq = from; seq <= to; seq++) {
        // Only rows written by an earlier flush may be deleted, and never the head or the marker.
        assert.ok(this.emitted.has(seq), `deleteRange ${from}-${to} names seq ${seq}, never emitted`);
        assert.ok(!flush.rows.some((r) => r.seq === seq), `deleteRange names seq ${seq} emitted by the same flush`);
        assert.notEqual(this.rows.get(seq)?.stream, 'system');
        this.rows.delete(seq);
      }
    }
    if (flush.marker) {
      assert.equal(flush.marker.stream, 'system');
      this.rows.set(flush.marker.seq, flush.marker);
    }
  }

  ordered(): LogRow[] {
    return [...this.rows.values()].sort((a, b) => a.seq - b.seq);
  }
}

describe('LogCapture', () => {
  it('under the cap: stores everything in order, with consecutive seqs and the right streams', () => {
    const capture = new LogCapture(1024 * 1024);
    const at = new Date('2024-05-01T00:00:00Z');
    capture.push('stdout', Buffer.from('starting\n'), at);
    capture.push('stdout', Buffer.from('step 1\n'), at);
    capture.push('stderr', Buffer.from('warning: slow\n'), at);
    capture.push('stdout', Buffer.from('step 2\n'), at);
    capture.push('stderr', Buffer.from('Traceback...\n'), at);
    capture.end(at);
    assert.equal(capture.pendingChunks, 4);
    const flush = capture.flush();
    assert.deepEqual(flush, {
      rows: [
        { seq: 1, stream: 'stdout', at: at.toISOString(), text: 'starting\nstep 1\n' },
        { seq: 2, stream: 'stderr', at: at.toISOString(), text: 'warning: slow\n' },
        { seq: 3, stream: 'stdout', at: at.toISOString(), text: 'step 2\n' },
        { seq: 4, stream: 'stderr', at: at.toISOString(), text: 'Traceback...\n' },
      ],
      deleteRange: null,
      marker: null,
    });
    assert.equal(capture.totalBytes, 9 + 7 + 14 + 7 + 13);
    assert.equal(capture.droppedBytes, 0);
    assert.equal(capture.pendingChunks, 0);
    assert.deepEqual(capture.flush(), { rows: [], deleteRange: null, marker: null });
  });

  it('starts a new chunk after each flush and on every stream switch, so seq keeps the interleaving', () => {
    const capture = new LogCapture(1024 * 1024);
    const store = new Store();
    const expected: [string, string][] = [];
    for (let i = 0; i < 30; i++) {
      const stream = i % 3 === 0 ? 'stderr' : 'stdout';
      const text = `${stream} ${i}\n`;
      expected.push([stream, text]);
      capture.push(stream, Buffer.from(text));
      if (i % 4 === 0) store.apply(capture.flush());
    }
    capture.end();
    store.apply(capture.flush());
    const rows = store.ordered();
    assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1));
    // A chunk never mixes streams: each line of it was written to the chunk's own stream.
    for (const row of rows) {
      for (const line of row.text.trimEnd().split('\n')) assert.ok(line.startsWith(`${row.stream} `), `${row.stream}: ${line}`);
    }
    assert.ok(rows.length >= 20, 'every switch started a chunk');
    // Reading all rows in seq order gives the writes back in their order.
    assert.equal(rows.map((r) => r.text).join(''), expected.map(([, t]) => t).join(''));
    for (const stream of ['stdout', 'stderr']) {
      assert.equal(
        rows.filter((r) => r.stream === stream).map((r) => r.text).join(''),
        expected.filter(([s]) => s === stream).map(([, t]) => t).join(''),
      );
    }
  });

  it('closes a chunk once it reaches 64 KB', () => {
    const capture = new LogCapture(100 * 1024 * 1024);
    for (let i = 0; i < 40; i++) capture.push('stdout', Buffer.alloc(10 * 1024, 0x61));
    const { rows } = capture.flush();
    assert.deepEqual(rows.map((r) => r.text.length), [70, 70, 70, 70, 70, 50].map((k) => k * 1024));
  });

  it('with a cap of 1000 and 10 000 bytes written keeps the first 500, the last ≤ 500 and a marker between', () => {
    const capture = new LogCapture(1000);
    const store = new Store();
    let written = '';
    for (let i = 0; i < 100; i++) {
      // 100 bytes per write, each one different so any byte's origin is known.
      const text = `${String(i).padStart(3, '0')}:${'abcdefghijklmnopqrstuvwxyz'.repeat(4).slice(0, 95)}\n`;
      assert.equal(text.length, 100);
      written += text;
      capture.push(i % 5 === 4 ? 'stderr' : 'stdout', Buffer.from(text));
      if (i % 3 === 0) store.apply(capture.flush());
    }
    capture.end();
    store.apply(capture.flush());

    assert.equal(capture.totalBytes, 10_000);
    const rows = store.ordered();
    const markers = rows.filter((r) => r.stream === 'system');
    assert.equal(markers.length, 1);
    const m = rows.indexOf(markers[0]!);
    const head = rows.slice(0, m).map((r) => r.text).join('');
    const tail = rows.slice(m + 1).map((r) => r.text).join('');
    assert.equal(head, written.slice(0, 500), 'the head is the first bytes');
    assert.ok(tail.length > 0 && written.endsWith(tail), 'the tail is the last bytes');
    const stored = head.length + tail.length;
    assert.ok(stored <= 1000, `stored ${stored} bytes`);
    assert.equal(capture.droppedBytes, 10_000 - stored);
    assert.equal(
      markers[0]!.text,
      `[kubescribe] ${formatBytes(capture.droppedBytes)} (${capture.droppedBytes} bytes) of output dropped here: ` +
        'the log cap of 1000 B keeps the first 500 B and the last 500 B.\n',
    );
    // The marker's seq sits between the head's and the tail's.
    assert.ok(rows.slice(0, m).every((r) => r.seq < markers[0]!.seq));
    assert.ok(rows.slice(m + 1).every((r) => r.seq > markers[0]!.seq));
    assert.ok(store.deleted.length > 0, 'tail rows written earlier were deleted');
    for (const [from] of store.deleted) assert.ok(from > markers[0]!.seq);
  });

  it('says nothing was dropped while the output only just fills the cap', () => {
    const capture = new LogCapture(1000);
    for (let i = 0; i < 10; i++) capture.push('stdout', Buffer.alloc(100, 0x62));
    const flush = capture.flush();
    assert.equal(flush.marker, null);
    assert.equal(flush.deleteRange, null);
    assert.equal(flush.rows.map((r) => r.text).join('').length, 1000);
    assert.equal(capture.droppedBytes, 0);
  });

  it('rewrites the marker as the dropped count grows, keeping its seq', () => {
    const capture = new LogCapture(1000);
    const markers: LogRow[] = [];
    for (let i = 0; i < 60; i++) {
      capture.push('stdout', Buffer.alloc(100, 0x63));
      const { marker } = capture.flush();
      if (marker) markers.push(marker);
    }
    assert.ok(markers.length > 2);
    assert.equal(new Set(markers.map((m) => m.seq)).size, 1);
    const counts = markers.map((m) => Number(/\((\d+) bytes\)/.exec(m.text)![1]));
    assert.deepEqual(counts, [...counts].sort((a, b) => a - b));
    assert.equal(counts.at(-1), capture.droppedBytes);
    assert.equal(capture.totalBytes, 6000);
  });

  // A write larger than the tail window becomes one chunk, which the window cannot drop while it is
  // the newest: the cap is exceeded by up to a whole write (see the report).
  it('keeps the stored log within the cap when one write is larger than the cap', () => {
    const capture = new LogCapture(1000);
    const store = new Store();
    const text = Array.from({ length: 100 }, (_, i) => `${String(i).padStart(3, '0')}:${'x'.repeat(95)}\n`).join('');
    capture.push('stdout', Buffer.from(text));
    capture.end();
    store.apply(capture.flush());
    const stored = store.ordered().filter((r) => r.stream !== 'system').reduce((n, r) => n + Buffer.byteLength(r.text), 0);
    assert.equal(capture.totalBytes, 10_000);
    assert.ok(stored <= 1000 + 125, `stored ${stored} bytes of 10000 with a cap of 1000`);
  });

  it('decodes a multi-byte UTF-8 character split across writes, per stream', () => {
    const capture = new LogCapture(1024 * 1024);
    const euro = Buffer.from('€'); // e2 82 ac
    const rocket = Buffer.from('🚀'); // 4 bytes
    capture.push('stdout', Buffer.concat([Buffer.from('price '), euro.subarray(0, 1)]));
    capture.push('stderr', rocket.subarray(0, 2));
    capture.push('stdout', euro.subarray(1));
    capture.push('stderr', rocket.subarray(2, 3));
    capture.push('stderr', Buffer.concat([rocket.subarray(3), Buffer.from(' launched\n')]));
    capture.push('stdout', Buffer.from(' 5\n'));
    capture.end();
    const { rows } = capture.flush();
    const byStream = (s: string) => rows.filter((r) => r.stream === s).map((r) => r.text).join('');
    assert.equal(byStream('stdout'), 'price € 5\n');
    assert.equal(byStream('stderr'), '🚀 launched\n');
    assert.ok(rows.every((r) => !r.text.includes('\uFFFD')));
    assert.equal(capture.totalBytes, Buffer.byteLength('price € 5\n🚀 launched\n'));
  });

  it('past the cap stores the same text as decoding every byte as it came, multi-byte characters split anywhere', () => {
    // Tail chunks are decoded only when handed out; one the window drops first is never decoded, yet
    // the next one must start where an eager decoder of the whole stream would have.
    let seed = 11;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = ['a', '\n', 'é', '€', '𝄞', '中'];
    for (let round = 0; round < 200; round++) {
      const cap = 200 + random(2000);
      const capture = new LogCapture(cap);
      const store = new Store();
      let text = '';
      while (Buffer.byteLength(text) < cap * 4) text += alphabet[random(alphabet.length)];
      const bytes = Buffer.from(text);
      // Some rounds flush often (tail chunks decoded before they drop), some seldom (most never are).
      const flushEvery = round % 2 ? 3 : 60;
      for (let offset = 0; offset < bytes.length; ) {
        const size = 1 + random(97);
        capture.push('stdout', bytes.subarray(offset, offset + size));
        offset += size;
        if (random(flushEvery) === 0) store.apply(capture.flush());
      }
      capture.end();
      store.apply(capture.flush());
      const rows = store.ordered();
      const marker = rows.findIndex((row) => row.stream === 'system');
      assert.ok(marker > 0, `round ${round}: capped`);
      const head = rows.slice(0, marker).map((row) => row.text).join('');
      const tail = rows.slice(marker + 1).map((row) => row.text).join('');
      const tailBytes = bytes.length - capture.droppedBytes - Math.floor(cap / 2);
      // What a decoder fed every byte writes for the head's bytes, and for the bytes the tail keeps.
      const eager = new StringDecoder('utf8');
      const headText = eager.write(bytes.subarray(0, Math.floor(cap / 2)));
      eager.write(bytes.subarray(Math.floor(cap / 2), bytes.length - tailBytes));
      const tailText = eager.write(bytes.subarray(bytes.length - tailBytes)) + eager.end();
      assert.equal(head, headText, `round ${round}: head`);
      assert.equal(tail, tailText, `round ${round}: tail`);
    }
  });

  it('a head-only flush hands out the head and keeps the tail for a later flush, which stores it byte-exact', () => {
    const capture = new LogCapture(1000);
    const store = new Store();
    const bytes = Buffer.from(Array.from({ length: 400 }, (_, n) => `l${n}${'é'.repeat(n % 3)}\n`).join(''));
    capture.push('stdout', bytes.subarray(0, 300));
    assert.equal(capture.pendingHeadBytes, 300);
    // Past the head: the head's rest and the first tail bytes are pending together.
    capture.push('stdout', bytes.subarray(300, 900));
    assert.equal(capture.pendingHeadBytes, 500);
    const headOnly = capture.flush({ headOnly: true });
    store.apply(headOnly);
    assert.equal(capture.pendingHeadBytes, 0);
    assert.ok(headOnly.rows.length > 0);
    assert.equal(headOnly.rows.map((row) => row.text).join(''), new StringDecoder('utf8').write(bytes.subarray(0, 500)), 'the whole head');
    assert.ok(capture.pendingChunks > 0, 'the tail stays pending');
    // The window slides while the tail waits; what it still holds is handed out by the next full flush.
    capture.push('stdout', bytes.subarray(900));
    capture.end();
    store.apply(capture.flush());
    const rows = store.ordered();
    const marker = rows.findIndex((row) => row.stream === 'system');
    const eager = new StringDecoder('utf8');
    const headText = eager.write(bytes.subarray(0, 500));
    const tailBytes = bytes.length - 500 - capture.droppedBytes;
    eager.write(bytes.subarray(500, bytes.length - tailBytes));
    assert.equal(rows.slice(0, marker).map((row) => row.text).join(''), headText);
    assert.equal(rows.slice(marker + 1).map((row) => row.text).join(''), eager.write(bytes.subarray(bytes.length - tailBytes)) + eager.end());
    assert.ok(tailBytes <= 500 && tailBytes > 500 - capture.droppedBytes);
  });

  it('past the cap, head-only and full flushes in any order store what eager decoding stores', () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = ['a', '\n', 'é', '€', '𝄞'];
    for (let round = 0; round < 100; round++) {
      const cap = 200 + random(2000);
      const capture = new LogCapture(cap);
      const store = new Store();
      let text = '';
      while (Buffer.byteLength(text) < cap * 3) text += alphabet[random(alphabet.length)];
      const bytes = Buffer.from(text);
      for (let offset = 0; offset < bytes.length; ) {
        const size = 1 + random(97);
        capture.push('stdout', bytes.subarray(offset, offset + size));
        offset += size;
        const roll = random(20);
        if (roll === 0) store.apply(capture.flush());
        else if (roll < 4) store.apply(capture.flush({ headOnly: true }));
      }
      capture.end();
      store.apply(capture.flush());
      const rows = store.ordered();
      const marker = rows.findIndex((row) => row.stream === 'system');
      const tailBytes = bytes.length - capture.droppedBytes - Math.floor(cap / 2);
      const eager = new StringDecoder('utf8');
      const headText = eager.write(bytes.subarray(0, Math.floor(cap / 2)));
      eager.write(bytes.subarray(Math.floor(cap / 2), bytes.length - tailBytes));
      const tailText = eager.write(bytes.subarray(bytes.length - tailBytes)) + eager.end();
      assert.equal(rows.slice(0, marker).map((row) => row.text).join(''), headText, `round ${round}: head`);
      assert.equal(rows.slice(marker + 1).map((row) => row.text).join(''), tailText, `round ${round}: tail`);
    }
  });

  it('replaces an incomplete character at the end of output with U+FFFD', () => {
    const capture = new LogCapture(1024);
    capture.push('stdout', Buffer.from([0x6f, 0x6b, 0xe2, 0x82]));
    capture.end();
    assert.equal(capture.flush().rows.map((r) => r.text).join(''), 'ok\uFFFD');
  });

  it('turns NUL bytes into U+FFFD, which PostgreSQL text can hold', () => {
    const capture = new LogCapture(1024);
    capture.push('stdout', Buffer.from([0x00, 0x41, 0x00, 0x00, 0x42, 0x0a]));
    capture.push('stderr', Buffer.from('x\u0000y'));
    const { rows } = capture.flush();
    assert.deepEqual(rows.map((r) => r.text), ['\uFFFDA\uFFFD\uFFFDB\n', 'x\uFFFDy']);
    assert.ok(rows.every((r) => !r.text.includes('\u0000')));
  });
});

describe('formatBytes', () => {
  it('formats bytes, KB and MB', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1024), '1 KB');
    assert.equal(formatBytes(1536), '1.5 KB');
    assert.equal(formatBytes(10 * 1024 * 1024), '10 MB');
    assert.equal(formatBytes(5 * 1024 * 1024 + 100 * 1024), '5.1 MB');
  });
});

describe('LogCapture and a reused read buffer', () => {
  it('stores the same head, marker and tail when every push comes from one buffer overwritten afterwards', () => {
    // The runner reads into one buffer per stream and overwrites it at the next read: what push()
    // keeps (tail bytes not yet decoded, above all) must be its own copy.
    const lines = Array.from({ length: 4000 }, (_, n) => `${n % 3 ? 'out' : 'err'} line ${n} ${'é'.repeat(n % 4)}\n`);
    const reused = Buffer.alloc(300);
    const capture = (reuse: boolean) => {
      const log = new LogCapture(20_000);
      const store = new Store();
      lines.forEach((line, n) => {
        const bytes = Buffer.from(line);
        const stream = n % 3 ? 'stdout' : 'stderr';
        if (reuse) {
          bytes.copy(reused);
          log.push(stream, reused.subarray(0, bytes.length));
          reused.fill(0x21);
        } else {
          log.push(stream, bytes);
        }
        if (n % 97 === 0) store.apply(log.flush());
      });
      log.end();
      store.apply(log.flush());
      return store.ordered().map((row) => ({ stream: row.stream, text: row.text }));
    };
    const expected = capture(false);
    assert.ok(expected.some((row) => row.stream === 'system'), 'the tail window is used');
    assert.deepEqual(capture(true), expected);
  });
});
