// A fast writer's output through the write-behind spool (spool-sink.ts): log batches are written on
// libuv's thread pool while the command runs, transitions synchronously and fsync'd; the supervisor
// hands a head of up to 8 MB out on its timer and never more than 16 rows per `logs` record.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { after, before, describe, test } from 'node:test';
import type { LogRow } from '../../src/runlog/sql/run-logs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import type { RecordOp } from '../../src/runner/record-ops.ts';
import { BATCH_MAX_BYTES } from '../../src/runner/record-sink.ts';
import { Recorder } from '../../src/runner/recorder.ts';
import { SpoolSink } from '../../src/runner/spool-sink.ts';
import { superviseChild } from '../../src/runner/supervisor.ts';
import { REPO_ROOT } from '../support/cli.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');

/** emit.py's tagged_line(). */
const taggedLine = (tag: string, n: number) => `${tag} line ${String(n).padStart(9, '0')} ${'x'.repeat(n % 37)}${'é'.repeat(n % 5)}\n`;

/** The bytes emit.py writes for `lines:out:<size>`, lines numbered from `first`; and the next number. */
function linesOf(size: number, first: number): { bytes: Buffer; next: number } {
  const lines: Buffer[] = [];
  let written = 0;
  let n = first;
  while (written < size) {
    const line = Buffer.from(taggedLine('out', n++));
    lines.push(line);
    written += line.length;
  }
  return { bytes: Buffer.concat(lines), next: n };
}

/** A Writable that keeps nothing: the runner's own stdout, as `> /dev/null`. */
function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

/** The records in a spool file, in order. */
function spooled(file: string): RecordOp[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as RecordOp);
}

/** The log a RunLog holds after `ops`: rows kept once, delete ranges applied, the marker upserted. */
function storedLog(ops: RecordOp[]): LogRow[] {
  const rows = new Map<number, LogRow>();
  for (const op of ops) {
    if (op.op === 'logs') for (const row of op.rows) if (!rows.has(row.seq)) rows.set(row.seq, row);
    if (op.op === 'delete_logs') for (let seq = op.from; seq <= op.to; seq++) rows.delete(seq);
    if (op.op === 'log_marker') rows.set(op.row.seq, op.row);
  }
  return [...rows.values()].sort((a, b) => a.seq - b.seq);
}

async function superviseIntoSpool(spoolFile: string, command: string[], logCapBytes: number) {
  const runId = uuidv7();
  const sink = new SpoolSink(spoolFile);
  const recorder = new Recorder({ sink, spoolFile: `${spoolFile}.offline`, say: () => {} });
  const supervision = await superviseChild({
    runId,
    command,
    env: process.env,
    recorder,
    graceMs: 1000,
    heartbeatMs: 60_000,
    logCapBytes,
    processSignals: false,
    orphanWatchdog: false,
    stdout: discard(),
    stderr: discard(),
    warn: () => {},
    steps: { spawned: () => {}, cancelRequested: () => {}, timeoutReached: () => {} },
  });
  assert.equal(await recorder.close(10_000), null, 'every record delivered');
  return { supervision, ops: spooled(spoolFile) };
}

describe('the write-behind spool under a fast writer', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ks-spool-capture-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('log batches written off the main thread keep their order with transitions written at once', async () => {
    const file = join(dir, 'order.jsonl');
    const sink = new SpoolSink(file);
    const runId = uuidv7();
    const at = new Date(0).toISOString();
    const ops: RecordOp[] = [];
    for (let i = 0; i < 40; i++) {
      const batch: RecordOp[] = i % 10 === 9
        ? [{ op: 'transition', run_id: runId, from: ['starting'], to: 'running', patch: {}, event: { event_id: uuidv7(), at: new Date(0), type: 'started', actor: 'runner', detail: { i } } }]
        : [{ op: 'logs', run_id: runId, rows: [{ seq: i + 1, stream: 'stdout', at, text: `${i} ${'é'.repeat(20_000 + i)}\n` }] }];
      await sink.apply(batch);
      ops.push(...batch);
      // A batch's bytes are in the file once apply() has resolved: the next batch goes after them.
      assert.equal(spooled(file).length, ops.length);
    }
    await sink.close();
    assert.deepEqual(spooled(file), JSON.parse(JSON.stringify(ops)));
  });

  test('a burst past the cap: the spool holds the head and the tail byte-exact, in records of at most 16 rows', async () => {
    const cap = 2 * 1024 * 1024;
    // Three bursts with pauses longer than the 250 ms flush timer between them: head-only flushes,
    // tail flushes waiting for the spool's write, and the window sliding in memory all happen.
    let next = 0;
    const written: Buffer[] = [];
    const actions: string[] = [];
    for (const size of [3_000_000, 1_500_000, 2_500_000]) {
      const burst = linesOf(size, next);
      next = burst.next;
      written.push(burst.bytes);
      actions.push(`lines:out:${size}`, 'sleep:0.4');
    }
    const { supervision, ops } = await superviseIntoSpool(join(dir, 'burst.jsonl'), ['python3', EMIT, ...actions], cap);
    assert.equal(supervision.exit.code, 0);
    const all = Buffer.concat(written);
    assert.equal(supervision.logBytes, all.length);

    for (const op of ops.filter((op) => op.op === 'logs')) {
      assert.ok(op.op === 'logs' && op.rows.length <= 16, 'at most 16 rows per record');
      const text = op.op === 'logs' ? op.rows.reduce((sum, row) => sum + row.text.length, 0) : 0;
      assert.ok(text <= BATCH_MAX_BYTES, `a record within one batch: ${text}`);
    }
    const rows = storedLog(ops);
    const marker = rows.findIndex((row) => row.stream === 'system');
    assert.ok(marker > 0, 'capped');
    const headBytes = cap / 2;
    const tailBytes = all.length - headBytes - supervision.droppedLogBytes;
    assert.ok(tailBytes > cap / 2 - 64 * 1024 && tailBytes <= cap / 2, `the tail window is used: ${tailBytes}`);
    const decoder = new StringDecoder('utf8');
    const head = decoder.write(all.subarray(0, headBytes));
    decoder.write(all.subarray(headBytes, all.length - tailBytes));
    const tail = decoder.write(all.subarray(all.length - tailBytes)) + decoder.end();
    assert.equal(rows.slice(0, marker).map((row) => row.text).join(''), head, 'the head: the first bytes, in order');
    assert.equal(rows.slice(marker + 1).map((row) => row.text).join(''), tail, 'the tail: the last bytes, in order');
    assert.match(rows[marker]!.text, new RegExp(`\\(${supervision.droppedLogBytes} bytes\\) of output dropped`));
  });

  test('a head that fits in 8 MB goes on the timer, in records of 16 rows; a larger one as it comes', async () => {
    for (const cap of [16 * 1024 * 1024, 100 * 1024 * 1024]) {
      const burst = linesOf(7_000_000, 0);
      const { supervision, ops } = await superviseIntoSpool(join(dir, `below-${cap}.jsonl`), ['python3', EMIT, 'lines:out:7000000'], cap);
      assert.equal(supervision.exit.code, 0);
      const logs = ops.filter((op) => op.op === 'logs');
      assert.ok(logs.every((op) => op.op === 'logs' && op.rows.length <= 16), `at most 16 rows per record (cap ${cap})`);
      assert.equal(storedLog(ops).map((row) => row.text).join(''), burst.bytes.toString('utf8'), `the whole output, in order (cap ${cap})`);
      assert.equal(supervision.droppedLogBytes, 0);
    }
  });
});
