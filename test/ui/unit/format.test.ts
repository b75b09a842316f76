// Times as the pages and the CLI write them: UTC is written without Intl (the jobs page writes ~400
// of them), and must read exactly as Intl writes the same zone under another name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { when } from '../../../src/cli/format.ts';
import { formatTime } from '../../../src/ui/format.ts';

describe('times in UTC', () => {
  it('read as Intl writes them (Etc/UTC is the same zone through Intl), to the second and to the minute', () => {
    const samples = ['2026-12-04T14:03:09.999Z', '2026-01-01T00:00:00Z', '2024-02-29T23:59:59.001Z', '1970-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '1000-01-01T00:00:00Z'];
    for (let t = Date.parse('2025-03-30T00:00:00Z'); t < Date.parse('2025-04-02T00:00:00Z'); t += 3_599_999) samples.push(new Date(t).toISOString());
    for (const sample of samples) {
      assert.equal(when(sample, 'UTC'), when(sample, 'Etc/UTC'), sample);
      assert.equal(when(new Date(sample), 'UTC'), when(sample, 'Etc/UTC'), sample);
      assert.equal(formatTime(sample), formatTime(sample, 'Etc/UTC'), sample);
    }
    assert.equal(when('2026-12-04T14:03:09.999Z', 'UTC'), '2026-12-04 14:03:09 UTC');
    assert.equal(formatTime('2026-12-04T14:03:09Z'), '2026-12-04 14:03 UTC');
  });

  it('years ISO writes otherwise, and a value that is no time, are left to Intl and to the text', () => {
    const early = new Date(Date.UTC(999, 0, 2, 3, 4, 5));
    assert.equal(when(early, 'UTC'), when(early, 'Etc/UTC'));
    assert.equal(when('not a time', 'UTC'), 'not a time');
    assert.equal(when(null, 'UTC'), '-');
  });
});
