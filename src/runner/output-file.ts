import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { describePath, findUnstorable } from '../runlog/storable-text.ts';

/** What the child reported through KUBESCRIBE_OUTPUT. */
export interface ChildReport {
  metrics: Record<string, number>;
  outputs: Record<string, unknown>;
  /** One entry per line that could not be understood; they become warning events, never failures. */
  warnings: { line: number; message: string }[];
}

const MAX_WARNINGS = 50;
// The file is the child's to fill: a runaway writer must not make the runner read gigabytes into one
// string (past ~512 MB V8 cannot even make it). Metrics and outputs are small; 8 MiB is plenty.
export const MAX_OUTPUT_FILE_BYTES = 8 * 1024 * 1024;
const MAX_LINE_CHARS = 1024 * 1024;

/**
 * Reads the output file the child wrote, at most MAX_OUTPUT_FILE_BYTES of it (a warning says when
 * more was there); a missing file (the child removed it) reports nothing.
 */
export function readOutputFile(path: string): ChildReport {
  let fd: number;
  try {
    // Non-blocking: a child that put a FIFO in the file's place must not hang the runner in open().
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return parseOutputFile('');
  }
  try {
    // Sized by the file (usually empty or a few lines), one byte over the cap to see if there is more;
    // a file still growing is read as far as the buffer goes.
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      const report = parseOutputFile('');
      report.warnings.push({ line: 0, message: 'the file was replaced by something that is not a regular file; nothing was read' });
      return report;
    }
    const buffer = Buffer.allocUnsafe(Math.min(stat.size, MAX_OUTPUT_FILE_BYTES) + 1);
    let length = 0;
    for (let read = -1; read !== 0 && length < buffer.length;) {
      read = readSync(fd, buffer, length, buffer.length - length, null);
      length += read;
    }
    const whole = length <= MAX_OUTPUT_FILE_BYTES;
    let text = buffer.subarray(0, Math.min(length, MAX_OUTPUT_FILE_BYTES)).toString('utf8');
    // A cut file ends in a partial line: only whole lines are read.
    if (!whole) text = text.slice(0, text.lastIndexOf('\n') + 1);
    const report = parseOutputFile(text);
    if (!whole) {
      report.warnings.push({
        line: text.split('\n').length,
        message: `the file is over ${MAX_OUTPUT_FILE_BYTES / 1024 / 1024} MiB: only the lines in its first ${MAX_OUTPUT_FILE_BYTES / 1024 / 1024} MiB were read`,
      });
    }
    return report;
  } finally {
    closeSync(fd);
  }
}

/** Parses the JSON-lines output file: `{"metric": name, "value": n}` and `{"output": key, "value": any}`. */
export function parseOutputFile(text: string): ChildReport {
  // Maps, not objects: a key named "__proto__" must be a key like any other.
  const metrics = new Map<string, number>();
  const outputs = new Map<string, unknown>();
  const warnings: ChildReport['warnings'] = [];
  const warn = (line: number, message: string) => {
    if (warnings.length < MAX_WARNINGS) warnings.push({ line, message });
  };
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (!raw.trim()) return;
    if (raw.length > MAX_LINE_CHARS) {
      warn(line, `line of ${raw.length} characters is longer than the ${MAX_LINE_CHARS} allowed: ${truncate(raw)}`);
      return;
    }
    let entry: unknown;
    try {
      entry = JSON.parse(raw);
    } catch {
      warn(line, `not JSON: ${truncate(raw)}`);
      return;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      warn(line, `expected an object like {"metric": "rows", "value": 1}, got ${truncate(raw)}`);
      return;
    }
    // What the RunLog's jsonb would refuse (NUL, lone surrogates, very deep nesting) is refused here,
    // one line at a time, so one bad line cannot fail the write of the run's outcome.
    const unstorable = findUnstorable(entry);
    if (unstorable) {
      warn(line, `${describePath(unstorable.path) || 'the line'} ${unstorable.reason}`);
      return;
    }
    const record = entry as Record<string, unknown>;
    if ('metric' in record) {
      if (typeof record.metric !== 'string' || record.metric === '') {
        warn(line, 'metric: expected a non-empty string name');
      } else if (typeof record.value !== 'number' || !Number.isFinite(record.value)) {
        warn(line, `metric ${shown(record.metric)}: value must be a finite number, got ${truncate(JSON.stringify(record.value))}`);
      } else {
        metrics.set(record.metric, record.value);
      }
      return;
    }
    if ('output' in record) {
      if (typeof record.output !== 'string' || record.output === '') {
        warn(line, 'output: expected a non-empty string key');
      } else if (!('value' in record)) {
        warn(line, `output ${shown(record.output)}: missing "value"`);
      } else if (hasNonFinite(record.value)) {
        // 1e999 parses as Infinity, which JSON (and so the RunLog) would silently store as null.
        warn(line, `output ${shown(record.output)}: value holds a number too large to store`);
      } else {
        outputs.set(record.output, record.value);
      }
      return;
    }
    warn(line, `expected a "metric" or "output" key, got ${truncate(raw)}`);
  });
  return { metrics: Object.fromEntries(metrics), outputs: Object.fromEntries(outputs), warnings };
}

// Only called on values findUnstorable has bounded in depth, so the recursion is bounded too.
function hasNonFinite(value: unknown): boolean {
  if (typeof value === 'number') return !Number.isFinite(value);
  if (value === null || typeof value !== 'object') return false;
  return Object.values(value).some(hasNonFinite);
}

function shown(name: string): string {
  return describePath([name.length > 120 ? `${name.slice(0, 120)}…` : name]);
}

/** The line as a warning shows it: cut, and with NUL, controls and lone surrogates escaped (the RunLog stores the warning). */
function truncate(text: string | undefined, max = 120): string {
  const value = text ?? 'undefined';
  return describePath([value.length > max ? `${value.slice(0, max)}…` : value]);
}
