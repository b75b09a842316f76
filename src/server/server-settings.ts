// The `api:` section with its defaults filled in: what `kubescribe serve` and `kubescribe dev` apply.
import type { RateLimitSettings } from '../config/api-config.ts';
import type { KubescribeConfig } from '../config/job-definition.ts';

export interface ServerSettings {
  /** null: no rate limit. */
  rateLimit: RateLimitSettings | null;
  /** 0: no cap. */
  maxConnectionsPerClient: number;
  shutdownGraceMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/**
 * The defaults, and why:
 * - 1,200 requests a minute per token: 20/s sustained is far above what a CI job, a person or the UI
 *   sends, and a burst of a few hundred still passes; a runaway script gets 429 instead of the RunLog.
 * - 128 connections per client address: a browser opens 6, the CLI one, a busy proxy pool a few dozen;
 *   a slowloris needs thousands. Behind an ingress every client shares its address: raise it or use 0.
 * - 25 s shutdown grace: plus the 5 s the process allows itself after it, it fits Kubernetes' default
 *   terminationGracePeriodSeconds of 30 s, so the kubelet's SIGKILL never comes first.
 * - Headers in 10 s, the whole request in 30 s (bodies are at most 1 MiB), 60 s without a byte in either
 *   direction on a connection (a log follower's keep-alive comment every 15 s keeps a quiet one open);
 *   keep-alive 72 s, longer than the 60 s idle timeout of the common load balancers (AWS ALB, GCP), so
 *   the balancer, not the server, closes an idle pooled connection and never reuses a closed one.
 */
export const SERVER_DEFAULTS: ServerSettings = Object.freeze({
  rateLimit: Object.freeze({ max: 1200, per_ms: 60_000 }),
  maxConnectionsPerClient: 128,
  shutdownGraceMs: 25_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 72_000,
});

/** The config's `api:` section over the defaults; `shutdownGraceMs` is the --shutdown-grace flag, if given. */
export function serverSettings(config: KubescribeConfig, overrides: { shutdownGraceMs?: number } = {}): ServerSettings {
  const api = config.api ?? {};
  const timeouts = api.timeouts ?? {};
  const requestTimeoutMs = timeouts.request_ms ?? SERVER_DEFAULTS.requestTimeoutMs;
  return {
    rateLimit: api.rate_limit === undefined ? SERVER_DEFAULTS.rateLimit : api.rate_limit,
    maxConnectionsPerClient: api.max_connections_per_client ?? SERVER_DEFAULTS.maxConnectionsPerClient,
    shutdownGraceMs: overrides.shutdownGraceMs ?? api.shutdown_grace_ms ?? SERVER_DEFAULTS.shutdownGraceMs,
    // A request timeout shorter than the default header timeout takes the header timeout down with it.
    headersTimeoutMs: Math.min(timeouts.headers_ms ?? SERVER_DEFAULTS.headersTimeoutMs, requestTimeoutMs),
    requestTimeoutMs,
    idleTimeoutMs: timeouts.idle_ms ?? SERVER_DEFAULTS.idleTimeoutMs,
    keepAliveTimeoutMs: timeouts.keep_alive_ms ?? SERVER_DEFAULTS.keepAliveTimeoutMs,
  };
}
