// Durations and byte sizes as written in kubescribe.yaml ("1h30m", "10MB") and their inverse for display.

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

// "ms" must be tried before "m", or "500ms" would read as 500 minutes followed by garbage.
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
const PLAIN_NUMBER = /^\d+(?:\.\d+)?$/;

const SIZE_UNIT_BYTES: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};
const SIZE = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i;

/** Options for {@link parseDuration}. */
export interface DurationOptions {
  /** Accept zero ("0s", 0); otherwise a duration must be greater than zero. */
  allowZero?: boolean;
}

/** Renders any config value for an error message the way the user wrote it. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return String(value);
}

function durationError(value: unknown): Error {
  return new Error(`expected a duration such as "15m", got ${describeValue(value)}`);
}

function checkedMs(ms: number, value: unknown, options: DurationOptions): number {
  // Whole milliseconds: timers and the RunLog store integers, and "0.0001s" is not a real request.
  const rounded = Math.round(ms);
  if (!Number.isSafeInteger(rounded)) throw new Error(`duration ${describeValue(value)} is too large`);
  if (rounded === 0 && !options.allowZero) {
    throw new Error(`expected a duration greater than zero, got ${describeValue(value)}`);
  }
  return rounded;
}

/** Parses "500ms", "10s", "1h30m", "2d" or a number of seconds into milliseconds; throws on anything else. */
export function parseDuration(value: unknown, options: DurationOptions = {}): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw durationError(value);
    return checkedMs(value * 1000, value, options);
  }
  if (typeof value !== 'string') throw durationError(value);
  const text = value.trim();
  if (text === '') throw durationError(value);
  // A quoted number means seconds too, so `timeout: "30"` agrees with `timeout: 30`.
  if (PLAIN_NUMBER.test(text)) return checkedMs(Number(text) * 1000, value, options);

  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < text.length) {
    const match = DURATION_PART.exec(text);
    if (!match) throw durationError(value);
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  return checkedMs(total, value, options);
}

/** Parses "10MB", "512KB", "1GB", "100B" (case-insensitive, 1KB = 1024) or a number of bytes; must be > 0. */
export function parseByteSize(value: unknown): number {
  const fail = () => new Error(`expected a size such as "10MB", got ${describeValue(value)}`);
  let bytes: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw fail();
    bytes = value;
  } else if (typeof value === 'string') {
    const match = SIZE.exec(value.trim());
    if (!match) throw fail();
    const unit = (match[2] ?? 'b').toLowerCase();
    const factor = SIZE_UNIT_BYTES[unit];
    if (factor === undefined) throw fail();
    bytes = Number(match[1]) * factor;
  } else {
    throw fail();
  }
  const rounded = Math.floor(bytes);
  if (!Number.isSafeInteger(rounded)) throw new Error(`size ${describeValue(value)} is too large`);
  if (rounded <= 0) throw new Error(`expected a size greater than zero, got ${describeValue(value)}`);
  return rounded;
}

/** Formats milliseconds in the same notation parseDuration reads, e.g. 90000 -> "1m30s", 0 -> "0s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  let rest = Math.round(ms);
  if (rest === 0) return '0s';
  let out = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms']) {
    const size = UNIT_MS[unit] as number;
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}
