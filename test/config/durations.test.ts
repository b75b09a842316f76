import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseByteSize, parseDuration } from '../../src/config/durations.ts';

describe('parseDuration', () => {
  it('reads unit strings, combined units and numbers of seconds', () => {
    const cases: [unknown, number][] = [
      ['500ms', 500],
      ['10s', 10_000],
      ['15m', 900_000],
      ['1h30m', 5_400_000],
      ['2d', 172_800_000],
      ['1d2h3m4s5ms', 93_784_005],
      ['1.5h', 5_400_000],
      [' 10s ', 10_000],
      [30, 30_000],
      [0.25, 250],
      ['45', 45_000],
    ];
    for (const [input, expected] of cases) assert.equal(parseDuration(input), expected, String(input));
  });

  it('rejects anything else with a message naming the value', () => {
    assert.throws(() => parseDuration('fast'), { message: 'expected a duration such as "15m", got "fast"' });
    for (const bad of ['', '10 s', '10S', '5x', 'm5', '1h30', '-5s', '1..5s', null, undefined, true, [], {}, -1, Infinity, NaN]) {
      assert.throws(() => parseDuration(bad), /expected a duration/, String(bad));
    }
    assert.throws(() => parseDuration(null), { message: 'expected a duration such as "15m", got nothing' });
    assert.throws(() => parseDuration([]), { message: 'expected a duration such as "15m", got a list' });
  });

  it('rejects zero unless allowed', () => {
    assert.throws(() => parseDuration('0s'), { message: 'expected a duration greater than zero, got "0s"' });
    assert.throws(() => parseDuration(0), /greater than zero/);
    assert.throws(() => parseDuration('0.0001s'), /greater than zero/);
    assert.equal(parseDuration('0s', { allowZero: true }), 0);
    assert.equal(parseDuration(0, { allowZero: true }), 0);
  });
});

describe('parseByteSize', () => {
  it('reads sizes with case-insensitive binary units and plain byte counts', () => {
    const cases: [unknown, number][] = [
      ['100B', 100],
      ['512KB', 512 * 1024],
      ['10MB', 10 * 1024 * 1024],
      ['1GB', 1024 ** 3],
      ['10mb', 10 * 1024 * 1024],
      ['1.5kb', 1536],
      ['64 KiB', 64 * 1024],
      ['2048', 2048],
      [4096, 4096],
    ];
    for (const [input, expected] of cases) assert.equal(parseByteSize(input), expected, String(input));
  });

  it('rejects unknown units, zero, negatives and non-sizes', () => {
    assert.throws(() => parseByteSize('lots'), { message: 'expected a size such as "10MB", got "lots"' });
    for (const bad of ['10XB', 'MB', '-1MB', '', null, true, -5, Infinity, {}]) {
      assert.throws(() => parseByteSize(bad), /expected a size/, String(bad));
    }
    assert.throws(() => parseByteSize(0), /greater than zero/);
    assert.throws(() => parseByteSize('0KB'), /greater than zero/);
  });
});

describe('formatDuration', () => {
  it('writes the notation parseDuration reads', () => {
    assert.equal(formatDuration(90_000), '1m30s');
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(500), '500ms');
    assert.equal(formatDuration(1_500), '1s500ms');
    assert.equal(formatDuration(172_800_000), '2d');
    assert.equal(formatDuration(93_784_005), '1d2h3m4s5ms');
    assert.equal(formatDuration(-2_000), '-2s');
    for (const ms of [1, 999, 61_000, 3_600_000, 5_400_000, 93_784_005]) {
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }
  });
});
