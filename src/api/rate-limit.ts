// Per-token rate limits: `max` requests per window for each API token, 429 with Retry-After beyond.
// @fastify/rate-limit does the counting (a fixed window per key, in this process's memory, so each
// replica counts on its own); this file decides what a key is and how the refusal looks.
import { createHash } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RateLimitSettings } from '../config/api-config.ts';
import { ApiError } from './errors.ts';

/** The limit, and the tokens it does not apply to (the local admin token of `kubescribe dev`). */
export interface RateLimitOptions extends RateLimitSettings {
  exemptTokens?: () => Iterable<string>;
}

const PROBES = new Set(['/healthz', '/readyz']);
// Keys kept at once; beyond it the least recently seen key starts a new window (a flood of distinct
// bad tokens cannot grow the table).
const MAX_KEYS = 10_000;

/**
 * Limits every route registered after it. The key is the bearer token (hashed, so the table holds no
 * token), read in the route's onRequest hook, which runs after auth's (registered on the root) has
 * accepted it and before the body is read or validated, so bad requests count too. A request without
 * a token (a public route; the health probes are never limited) is keyed by its client address. POST /runs/trigger checks its token in
 * the statement that writes, so its key is the token as sent: a caller with a bad token gets 401 either way.
 */
export async function registerRateLimit(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  await app.register(rateLimit, {
    hook: 'onRequest',
    max: options.max,
    timeWindow: options.per_ms,
    cache: MAX_KEYS,
    keyGenerator: keyOf,
    allowList: (request: FastifyRequest, key: string) => {
      // Probes (kubelet, load balancers) come often from one address and must never be refused.
      if (PROBES.has(request.routeOptions.url ?? '')) return true;
      if (!key.startsWith('token:') || !options.exemptTokens) return false;
      for (const token of options.exemptTokens()) if (key === tokenKey(token)) return true;
      return false;
    },
    errorResponseBuilder: (request, context) => {
      const retryAfter = Math.max(1, Math.ceil(context.ttl / 1000));
      const who = keyOf(request).startsWith('token:') ? 'this token' : 'this client address';
      return new ApiError(429, 'rate_limited', `more than ${context.max} requests in ${describeWindow(options.per_ms)} from ${who}; `
        + `retry in ${retryAfter} s`, { limit: context.max, window_seconds: options.per_ms / 1000, retry_after_seconds: retryAfter });
    },
  });
}

function keyOf(request: FastifyRequest): string {
  const bearer = request.bearer ?? /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  return bearer ? tokenKey(bearer) : `address:${request.ip}`;
}

function tokenKey(token: string): string {
  return `token:${createHash('sha256').update(token).digest('base64url').slice(0, 22)}`;
}

function describeWindow(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}
