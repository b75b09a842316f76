import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUuid, uuidv7 } from '../../src/runlog/uuidv7.ts';

describe('uuidv7', () => {
  it('sets the version and variant bits and the millisecond timestamp', () => {
    // Later than any id made before in this process, so the timestamp is taken as given.
    const at = Date.now() + 40_000_000;
    const id = uuidv7(at);
    assert.ok(isUuid(id));
    assert.equal(id[14], '7', 'version 7');
    assert.match(id[19]!, /[89ab]/, 'RFC 9562 variant');
    assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), at);
  });

  it('stays unique and sorted across many ids in one millisecond and across refills of its random pool', () => {
    const now = Date.now() + 50_000_000;
    const ids = Array.from({ length: 3000 }, () => uuidv7(now));
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids, 'ids made later sort later');
    // The random tail (after the counter) must not repeat when the pool of random bytes is refilled.
    const tails = new Set(ids.map((id) => id.slice(19)));
    assert.equal(tails.size, ids.length);
  });
});
