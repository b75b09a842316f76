// The one loop every background component of the server runs on: no overlap, a stop that waits for
// the pass in progress, failures reported and followed by the next pass. Intervals are 0-5 ms and
// passes are released by hand, so nothing here waits on a clock longer than a condition takes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { guardListener, PeriodicLoop } from '../../src/util/periodic-loop.ts';
import { waitFor } from '../support/cli.ts';

/** A pass the test finishes by hand; counts how many run at once. */
function gatedPasses() {
  const gates: (() => void)[] = [];
  let active = 0;
  let maxActive = 0;
  let started = 0;
  const pass = async () => {
    started++;
    active++;
    maxActive = Math.max(maxActive, active);
    await new Promise<void>((resolve) => gates.push(resolve));
    active--;
    return started;
  };
  return {
    pass,
    open: () => gates.shift()?.(),
    get started() { return started; },
    get active() { return active; },
    get maxActive() { return maxActive; },
    get waiting() { return gates.length; },
  };
}

describe('PeriodicLoop', () => {
  it('never runs two passes at once, whether timed or asked for', async () => {
    const gated = gatedPasses();
    const loop = new PeriodicLoop({ pass: gated.pass, intervalMs: 0, onError: () => {} });
    const started = loop.start();
    const asked = [loop.runPass(), loop.runPass()];
    await waitFor(() => gated.waiting === 1, 5000, 'the first pass');
    // Release passes one at a time; each release lets exactly one more start.
    for (let i = 0; i < 4; i++) {
      assert.equal(gated.active, 1);
      gated.open();
      await waitFor(() => gated.waiting === 1, 5000, `pass ${i + 2}`);
    }
    await started;
    assert.deepEqual(await Promise.all(asked), [2, 3]);
    assert.equal(gated.maxActive, 1);
    const stopped = loop.stop();
    gated.open();
    await stopped;
    assert.equal(gated.maxActive, 1);
  });

  it('stop() resolves only once the pass in progress has finished, and no pass follows', async () => {
    const gated = gatedPasses();
    const loop = new PeriodicLoop({ pass: gated.pass, intervalMs: 0, onError: () => {} });
    void loop.start();
    await waitFor(() => gated.waiting === 1, 5000, 'the first pass');
    let stopped = false;
    const stopping = loop.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stopped, false, 'stop() returned while a pass was still running');
    assert.equal(loop.started, false);
    gated.open();
    await stopping;
    assert.equal(gated.active, 0);
    const passes = gated.started;
    // Give a wrongly armed 0 ms timer every chance to fire.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(gated.started, passes);
  });

  it('reports a failed pass to onError and goes on with the next one', async () => {
    const errors: Error[] = [];
    let calls = 0;
    const loop = new PeriodicLoop({
      pass: async () => {
        calls++;
        if (calls <= 2) throw new Error(`pass ${calls} broke`);
        if (calls === 3) throw 'a string, not an Error';
        return calls;
      },
      intervalMs: 1,
      onError: (error) => errors.push(error),
    });
    await loop.start();
    await waitFor(() => calls >= 5, 5000, 'the passes after the failures');
    await loop.stop();
    assert.deepEqual(errors.map((error) => error.message), ['pass 1 broke', 'pass 2 broke', 'a string, not an Error']);
    assert.ok(errors.every((error) => error instanceof Error));
  });

  it('keeps going when onError itself throws', async () => {
    let calls = 0;
    const loop = new PeriodicLoop({
      pass: async () => {
        calls++;
        throw new Error('always');
      },
      intervalMs: 1,
      onError: () => {
        throw new Error('a broken listener');
      },
    });
    await loop.start();
    await waitFor(() => calls >= 3, 5000, 'passes after a throwing listener');
    await loop.stop();
  });

  it('asks the interval function with the last result (undefined after a failure)', async () => {
    const seen: (number | undefined)[] = [];
    let calls = 0;
    const loop = new PeriodicLoop({
      pass: async () => {
        calls++;
        if (calls === 2) throw new Error('second');
        return calls;
      },
      intervalMs: (result) => {
        seen.push(result);
        return 1;
      },
      onError: () => {},
    });
    await loop.start();
    await waitFor(() => seen.length >= 3, 5000, 'three intervals');
    await loop.stop();
    assert.deepEqual(seen.slice(0, 3), [1, undefined, 3]);
  });

  it('runPass() rejects with the pass error and does not report it', async () => {
    const errors: Error[] = [];
    const loop = new PeriodicLoop({ pass: async () => { throw new Error('asked'); }, intervalMs: 1000, onError: (error) => errors.push(error) });
    await assert.rejects(loop.runPass(), /asked/);
    assert.deepEqual(errors, []);
  });
});

describe('guardListener', () => {
  it('swallows what a listener throws and passes the event on', () => {
    const got: number[] = [];
    guardListener<number>((n) => got.push(n))(1);
    assert.doesNotThrow(() => guardListener<number>(() => { throw new Error('bug'); })(2));
    assert.doesNotThrow(() => guardListener<number>(undefined)(3));
    assert.deepEqual(got, [1]);
  });
});
