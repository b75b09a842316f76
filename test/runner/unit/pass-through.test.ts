import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { PassThrough } from '../../../src/runner/pass-through.ts';

/** Writes `count` distinct reads through `pass`, each from one buffer overwritten right after, as the runner reads. */
function writeReads(pass: PassThrough, count: number): Buffer {
  const reused = Buffer.alloc(1000);
  const written: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = Buffer.from(`read ${i} ${'#'.repeat(i % 50)}\n`);
    bytes.copy(reused);
    pass.write(reused.subarray(0, bytes.length));
    reused.fill(0x3f);
    written.push(bytes);
  }
  return Buffer.concat(written);
}

describe('PassThrough (the runner\'s copies of output it passes on)', () => {
  it('gives a target that keeps its chunks (a collecting Writable) copies of its own', async () => {
    const kept: Buffer[] = [];
    const target = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        kept.push(chunk);
        callback();
      },
    });
    const pass = new PassThrough(target, false);
    const first = writeReads(pass, 200);
    // The write callbacks have run: a copy given back for reuse would now be overwritten.
    await new Promise((resolve) => setImmediate(resolve));
    const expected = Buffer.concat([first, writeReads(pass, 200)]);
    assert.ok(Buffer.concat(kept).equals(expected));
  });

  it('reuses a copy only once the target has called back: a slow target writes every chunk intact', async () => {
    // A socket to a slow reader: each write completes later, and writes behind it wait in the
    // stream's queue, every one holding its copy until its own callback.
    const received: Buffer[] = [];
    const target = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        setTimeout(() => {
          received.push(Buffer.from(chunk));
          callback();
        }, 1);
      },
    });
    const pass = new PassThrough(target, true);
    const expected = Buffer.concat([writeReads(pass, 100), writeReads(pass, 100)]);
    await new Promise<void>((resolve) => target.end(resolve));
    assert.ok(Buffer.concat(received).equals(expected));
  });
});
