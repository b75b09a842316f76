// KubeScribe runner-protocol helper for Node scripts; the TypeScript twin of
// helpers/python/kubescribe.py. The protocol is described in docs/helpers.md.
// Outside KubeScribe (no env vars) params() is {}, runId()/job() are undefined and
// metric()/output() validate their arguments and then write nothing, so a mistake is caught
// on a laptop rather than in production.
import { appendFileSync, readFileSync } from 'node:fs';

/** Names of the environment variables the runner sets for the child process. */
export const ENV = {
  runId: 'KUBESCRIBE_RUN_ID',
  job: 'KUBESCRIBE_JOB',
  params: 'KUBESCRIBE_PARAMS',
  paramsFile: 'KUBESCRIBE_PARAMS_FILE',
  output: 'KUBESCRIBE_OUTPUT',
} as const;

// Manifest templates often render an absent value as "", so empty counts as unset.
function env(name: string): string | undefined {
  const value = process.env[name];
  return value ? value : undefined;
}

/**
 * The run's params: from the file KUBESCRIBE_PARAMS_FILE names when set (the runner uses one for params
 * over 64 KiB, too big for an environment variable), else parsed from KUBESCRIBE_PARAMS; {} when neither
 * is set. Throws, naming the variable, if they are not a JSON object or the file cannot be read.
 */
export function params<T = Record<string, unknown>>(): T {
  const file = env(ENV.paramsFile);
  let raw: string | undefined;
  let source: string = ENV.params;
  if (file !== undefined) {
    source = `${ENV.paramsFile} (${file})`;
    try {
      raw = readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(`${source} cannot be read: ${(error as Error).message}`);
    }
  } else {
    raw = env(ENV.params);
  }
  if (raw === undefined) return {} as T;
  // The raw text stays out of the messages: params may carry values that should not end up
  // in a run's log.
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new Error(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${source} must be a JSON object, got ${jsonType(value)}`);
  }
  return value as T;
}

/** The run's id from KUBESCRIBE_RUN_ID, or undefined outside KubeScribe. */
export function runId(): string | undefined {
  return env(ENV.runId);
}

/** The job's name from KUBESCRIBE_JOB, or undefined outside KubeScribe. */
export function job(): string | undefined {
  return env(ENV.job);
}

/** Records a finite numeric metric (TypeError for a non-number, RangeError for NaN/±Infinity or an empty name). */
export function metric(name: string, value: number): void {
  checkName('metric', 'name', name);
  // Plain JS callers get no compile-time check, and a boolean or numeric string here is a bug.
  if (typeof value !== 'number') {
    throw new TypeError(`metric ${JSON.stringify(name)}: value must be a number, got ${typeof value}`);
  }
  if (!Number.isFinite(value)) {
    throw new RangeError(`metric ${JSON.stringify(name)}: value must be finite, got ${value}`);
  }
  append({ metric: name, value }, `metric ${JSON.stringify(name)}`);
}

/** Records a named JSON-serialisable output (TypeError if it cannot be serialised, RangeError for NaN/±Infinity inside). */
export function output(key: string, value: unknown): void {
  checkName('output', 'key', key);
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(`output ${JSON.stringify(key)}: value is not JSON-serialisable (${typeof value})`);
  }
  append({ output: key, value }, `output ${JSON.stringify(key)}`);
}

function checkName(kind: string, field: string, name: unknown): void {
  if (typeof name !== 'string') {
    throw new TypeError(`${kind} ${field} must be a string, got ${typeof name}`);
  }
  if (name.trim() === '') {
    throw new RangeError(`${kind} ${field} must be a non-empty string`);
  }
}

// JSON.stringify would quietly turn NaN/Infinity into null; the Python helper refuses them,
// and so does this one, so a broken computation does not get recorded as "no value".
function strictReplacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new RangeError(`value contains ${value}, which is not valid JSON`);
  }
  return value;
}

function append(record: { value: unknown } & Record<string, unknown>, what: string): void {
  // Serialise before looking at KUBESCRIBE_OUTPUT so that a bad value fails the same way on a
  // laptop as it would under the runner.
  let line: string;
  try {
    line = JSON.stringify(record, strictReplacer);
  } catch (error) {
    if (error instanceof RangeError) throw new RangeError(`${what}: ${error.message}`);
    // BigInt and circular structures land here, both as TypeError.
    throw new TypeError(`${what}: value is not JSON-serialisable: ${(error as Error).message}`);
  }
  const path = env(ENV.output);
  if (path === undefined) return;
  // One appendFileSync per line: the 'a' flag opens with O_APPEND and the whole buffer goes
  // to a single write(), so lines from concurrent writers never interleave. JSON.stringify
  // escapes newlines inside strings, so the only "\n" is the terminator.
  appendFileSync(path, Buffer.from(`${line}\n`, 'utf8'), { flag: 'a', mode: 0o644 });
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
