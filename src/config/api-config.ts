// The `api:` section of kubescribe.yaml: how `kubescribe serve` and `kubescribe dev` protect themselves
// from their clients (rate limits, connection caps, HTTP timeouts) and how long they take to stop.
// Every key is optional; src/server/server-settings.ts fills in the defaults.
import { describeValue } from './durations.ts';
import type { Entry, Reader } from './yaml-reader.ts';

/** Per-token request budget: `max` requests per `per_ms` window. */
export interface RateLimitSettings { max: number; per_ms: number }

/** HTTP timeouts of the API server, in milliseconds. */
export interface ApiTimeouts { headers_ms?: number; request_ms?: number; idle_ms?: number; keep_alive_ms?: number }

/** The `api:` section, as written (unset keys take the server's defaults). */
export interface ApiSettings {
  /** `rate_limit: off` reads as null. */
  rate_limit?: RateLimitSettings | null;
  /** 0: no cap. */
  max_connections_per_client?: number;
  shutdown_grace_ms?: number;
  timeouts?: ApiTimeouts;
}

const API_KEYS = ['rate_limit', 'max_connections_per_client', 'shutdown_grace', 'timeouts'];
const RATE_LIMIT_KEYS = ['max', 'per'];
const TIMEOUT_KEYS = ['headers', 'request', 'idle', 'keep_alive'];
// Beyond these the setting is a typo, not a policy: a million requests per window, 100,000 connections.
const MAX_RATE = 1_000_000;
const MAX_CONNECTIONS = 100_000;

/** Reads `api:`; problems are reported on the Reader with their lines. */
export function readApi(r: Reader, e: Entry): ApiSettings {
  const settings: ApiSettings = {};
  for (const entry of r.entries(e.value, e.path, e.line, API_KEYS) ?? []) {
    if (entry.key === 'rate_limit') {
      const rate = readRateLimit(r, entry);
      if (rate !== undefined) settings.rate_limit = rate;
    } else if (entry.key === 'max_connections_per_client') {
      const value = r.plain(entry.value);
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_CONNECTIONS) {
        settings.max_connections_per_client = value;
      } else {
        r.report(entry.line, entry.path, `expected a whole number from 0 (no cap) to ${MAX_CONNECTIONS}, got ${describeValue(value)}`);
      }
    } else if (entry.key === 'shutdown_grace') {
      const grace = r.duration(entry, { allowZero: true });
      if (grace !== undefined) settings.shutdown_grace_ms = grace;
    } else {
      settings.timeouts = readTimeouts(r, entry);
    }
  }
  return settings;
}

function readRateLimit(r: Reader, e: Entry): RateLimitSettings | null | undefined {
  const plain = r.plain(e.value);
  if (plain === 'off' || plain === false) return null;
  let max: number | undefined;
  let per: number | undefined;
  const entries = r.entries(e.value, e.path, e.line, RATE_LIMIT_KEYS, 'a map with max and per, or off');
  if (!entries) return undefined;
  for (const entry of entries) {
    if (entry.key === 'max') {
      const value = r.plain(entry.value);
      if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_RATE) max = value;
      else r.report(entry.line, entry.path, `expected a whole number from 1 to ${MAX_RATE}, got ${describeValue(value)}`);
    } else {
      per = r.duration(entry);
    }
  }
  for (const key of RATE_LIMIT_KEYS) {
    if (!entries.some((entry) => entry.key === key)) r.report(e.line, `${e.path}.${key}`, 'required key is missing (or write rate_limit: off)');
  }
  return max !== undefined && per !== undefined ? { max, per_ms: per } : undefined;
}

function readTimeouts(r: Reader, e: Entry): ApiTimeouts {
  const timeouts: ApiTimeouts = {};
  let request: Entry | undefined;
  for (const entry of r.entries(e.value, e.path, e.line, TIMEOUT_KEYS) ?? []) {
    const ms = r.duration(entry);
    if (ms === undefined) continue;
    if (entry.key === 'headers') timeouts.headers_ms = ms;
    else if (entry.key === 'request') {
      timeouts.request_ms = ms;
      request = entry;
    } else if (entry.key === 'idle') timeouts.idle_ms = ms;
    else timeouts.keep_alive_ms = ms;
  }
  // Node refuses a header timeout longer than the whole request's: the request's would never apply.
  if (request && timeouts.headers_ms !== undefined && timeouts.request_ms! < timeouts.headers_ms) {
    r.report(request.line, request.path, 'must be at least timeouts.headers: the headers are part of the request');
    delete timeouts.request_ms;
  }
  return timeouts;
}
