import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coalescer } from '../../src/util/coalescer.ts';

/** A batch function whose calls the test releases by hand, recording what each call received. */
function controlledBatches<I>() {
  const calls: { items: I[]; release: (results: unknown[] | Error) => void }[] = [];
  const run = (items: I[]) =>
    new Promise<unknown[]>((resolve, reject) => {
      calls.push({ items, release: (results) => (results instanceof Error ? reject(results) : resolve(results)) });
    });
  return { calls, run };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Coalescer', () => {
  it('sends the first request alone and batches those that arrive while it is in flight', async () => {
    const { calls, run } = controlledBatches<number>();
    const coalescer = new Coalescer<number, unknown>(run as never, { maxInFlight: 1, maxBatch: 10 });
    const first = coalescer.submit(1);
    await tick();
    assert.deepEqual(calls.map((c) => c.items), [[1]]);
    const later = [coalescer.submit(2), coalescer.submit(3), coalescer.submit(4)];
    await tick();
    assert.equal(calls.length, 1, 'nothing more is sent while the only slot is busy');
    calls[0]!.release(['one']);
    assert.equal(await first, 'one');
    await tick();
    assert.deepEqual(calls.map((c) => c.items), [[1], [2, 3, 4]], 'the waiting requests go together, in arrival order');
    calls[1]!.release(['two', 'three', 'four']);
    assert.deepEqual(await Promise.all(later), ['two', 'three', 'four']);
  });

  it('never sends a request before it arrived: one that comes during a batch waits for the next', async () => {
    const { calls, run } = controlledBatches<string>();
    const coalescer = new Coalescer<string, unknown>(run as never, { maxInFlight: 1, maxBatch: 10 });
    const a = coalescer.submit('a');
    await tick();
    const b = coalescer.submit('b');
    await tick();
    calls[0]!.release(['A']);
    await a;
    await tick();
    assert.deepEqual(calls[1]!.items, ['b']);
    calls[1]!.release(['B']);
    assert.equal(await b, 'B');
  });

  it('keeps batches within maxBatch and runs up to maxInFlight at once', async () => {
    const { calls, run } = controlledBatches<number>();
    const coalescer = new Coalescer<number, unknown>(run as never, { maxInFlight: 2, maxBatch: 3 });
    const all = Array.from({ length: 8 }, (_, i) => coalescer.submit(i));
    await tick();
    assert.deepEqual(calls.map((c) => c.items), [[0], [1]], 'a free slot is used at once, without waiting for company');
    calls[0]!.release(['r0']);
    await tick();
    assert.deepEqual(calls[2]!.items, [2, 3, 4], 'the next batch takes at most maxBatch');
    calls[1]!.release(['r1']);
    await tick();
    assert.deepEqual(calls[3]!.items, [5, 6, 7]);
    assert.equal(calls.length, 4);
    calls[2]!.release(['r2', 'r3', 'r4']);
    calls[3]!.release(['r5', 'r6', 'r7']);
    assert.deepEqual(await Promise.all(all), ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
  });

  it('fails only the item whose result is an Error, and every item of a batch that throws', async () => {
    const { calls, run } = controlledBatches<number>();
    const coalescer = new Coalescer<number, unknown>(run as never, { maxInFlight: 1, maxBatch: 10 });
    const first = coalescer.submit(0);
    await tick();
    const pair = [coalescer.submit(1), coalescer.submit(2)];
    calls[0]!.release(new Error('connection lost'));
    await assert.rejects(first, /connection lost/);
    await tick();
    calls[1]!.release(['ok', new Error('row 2 is bad')]);
    assert.equal(await pair[0], 'ok');
    await assert.rejects(pair[1]!, /row 2 is bad/);
    // The coalescer stays usable after failures.
    const again = coalescer.submit(3);
    await tick();
    calls[2]!.release(['fine']);
    assert.equal(await again, 'fine');
  });

  it('rejects the whole batch when the batch function returns the wrong number of results', async () => {
    const coalescer = new Coalescer<number, number>(async () => [1], { maxInFlight: 1, maxBatch: 10 });
    const first = coalescer.submit(1);
    const rest = [coalescer.submit(2), coalescer.submit(3)];
    assert.equal(await first, 1);
    for (const promise of rest) await assert.rejects(promise, /1 results for 2 items/);
  });
});
