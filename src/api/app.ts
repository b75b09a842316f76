import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { KubescribeConfig } from '../config/job-definition.ts';
import type { Executor } from '../executors/executor.ts';
import type { Db } from '../runlog/db.ts';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../runlog/connectivity.ts';
import { LockTimeoutError } from '../runlog/sql/lock-wait.ts';
import { registerAuth } from './auth.ts';
import type { RunnerAuthenticator } from './runner-auth.ts';
import type { SignInCodes } from '../ui/sign-in-codes.ts';
import type { LogStreamOptions } from './log-stream.ts';
import { registerRateLimit, type RateLimitOptions } from './rate-limit.ts';
import { ApiError, errorBody } from './errors.ts';
import { clientErrorHandler, describeFrameworkError, frameworkErrors } from './framework-errors.ts';
import { withRedactedUrls } from './log-redaction.ts';
import { registerRequestGuards } from './request-guards.ts';
import { addStrictFormats } from './strict-formats.ts';
import { compileOnFirstUse } from './lazy-validation.ts';
import { healthRoutes } from './routes/health.ts';

/** Everything the API needs, passed in: the app never reads the environment or opens anything itself. */
export interface ApiDeps {
  db: Db;
  config: KubescribeConfig;
  executor: Executor;
  /** Pino options, or false for silence (tests). */
  logger?: boolean | Record<string, unknown>;
  /** Largest accepted request body in bytes (default 1 MiB); larger bodies get 413. */
  bodyLimit?: number;
  /** Live log streams' keep-alive (src/api/log-stream.ts). */
  logStream?: LogStreamOptions;
  /** Per-token rate limit (src/api/rate-limit.ts); unset: none. */
  rateLimit?: RateLimitOptions;
  /**
   * Credentials the runner endpoints accept besides admin API tokens and run tokens (ksr_), asked in
   * order (a Kubernetes ServiceAccount token checked with TokenReview). See src/api/runner-auth.ts.
   */
  runnerAuthenticators?: RunnerAuthenticator[];
  /** One-time sign-in codes of the web UI (src/ui/sign-in-codes.ts): `kubescribe dev` issues one at start. */
  signInCodes?: SignInCodes;
}

/** Route plugins, one file per route group; each receives the same deps. */
export type RouteGroup = (app: FastifyInstance, deps: ApiDeps) => Promise<void>;

/** Builds the Fastify app (routes, auth, OpenAPI, error shape) without listening. */
export async function buildApp(deps: ApiDeps, routeGroups: RouteGroup[] = []): Promise<FastifyInstance> {
  const app = Fastify({
    logger: withRedactedUrls(deps.logger),
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    // Unknown fields are an error, not silently dropped: Fastify's default Ajv strips them. Nothing is
    // coerced: bodies keep their JSON types, and request-guards.ts reads query numbers strictly.
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: true, discriminator: true },
      onCreate: (ajv) => {
        addStrictFormats(ajv);
        compileOnFirstUse(ajv);
      },
    },
    frameworkErrors,
    clientErrorHandler,
  });

  app.setErrorHandler(async (failure: FastifyError, request, reply) => {
    let error = failure;
    // A route whose handler checks the token (POST /runs/trigger) may fail before it did: the caller
    // learns nothing, not even that its body was wrong, until its token is known good.
    if (request.bearer !== null && !request.actor && !(error instanceof ApiError && (error.statusCode === 401 || error.statusCode === 403))) {
      try {
        await request.authenticate();
      } catch (authError) {
        error = authError as FastifyError;
      }
    }
    if (error instanceof ApiError) {
      return reply.code(error.statusCode).send(errorBody(error.code, error.message, error.details));
    }
    if (error.validation) {
      const details = error.validation.map((issue) => ({
        field: fieldOf(error.validationContext ?? 'body', issue.instancePath, issue.params as Record<string, unknown>),
        reason: reasonOf(issue.keyword, issue.message ?? 'is invalid', issue.params as Record<string, unknown>),
      }));
      const message = details.map((detail) => `${detail.field}: ${detail.reason}`).join('; ');
      return reply.code(400).send(errorBody('invalid_request', message, details));
    }
    if (error.statusCode === 413 || error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send(errorBody('body_too_large', `the request body exceeds ${deps.bodyLimit ?? 1024 * 1024} bytes`));
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      const { code, message } = describeFrameworkError(error);
      return reply.code(error.statusCode).send(errorBody(code, message));
    }
    // A lock held too long (another trigger of the job, a migration): worth retrying, and the message
    // names the holder so an operator can find it.
    if (error instanceof LockTimeoutError) {
      request.log.warn({ err: { message: error.message, code: error.code } }, 'RunLog lock wait timed out');
      return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS))
        .send(errorBody('lock_timeout', error.message, { lock: error.lock, waited_ms: error.waitedMs, holders: error.holders }));
    }
    // The RunLog is down, cut off or too slow: not a bug, and worth retrying shortly.
    if (isDatabaseUnavailable(error)) {
      request.log.warn({ err: { message: error.message, code: error.code } }, 'RunLog unavailable');
      return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS))
        .send(errorBody('database_unavailable', 'the RunLog database is unavailable; retry later'));
    }
    // Never a stack trace to the client; the log has it.
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send(errorBody('internal_error', 'internal error; the server log has the details'));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('route_not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  // Before any route, so that every route gets the checks.
  registerRequestGuards(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'KubeScribe API', version: '0.1.0', description: 'Trigger runs and query the RunLog.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  // The OpenAPI document and the interactive docs describe the API but hold no data: public.
  app.addHook('onRoute', (route) => {
    if (route.url === '/openapi.json' || route.url.startsWith('/docs')) {
      route.config = { ...(route.config as object), scope: 'public' };
    }
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  app.get('/openapi.json', { config: { scope: 'public' }, schema: { hide: true } }, async () => app.swagger());

  registerAuth(app, deps.db, deps.runnerAuthenticators);
  // After auth (its per-route hook runs once auth's has accepted the token), before the routes it applies to.
  if (deps.rateLimit) await registerRateLimit(app, deps.rateLimit);
  await app.register(async (scoped) => healthRoutes(scoped, deps));
  for (const group of routeGroups) await app.register(async (scoped) => group(scoped, deps));
  return app;
}

function fieldOf(context: string, instancePath: string, params: Record<string, unknown>): string {
  const base = instancePath.replace(/^\//, '').replaceAll('/', '.');
  // A discriminated union (the runner's records) names its tag: `body.records.3.op`.
  const extra = params.missingProperty ?? params.additionalProperty ?? params.tag;
  const path = [base, extra].filter((part) => part !== undefined && part !== '').join('.');
  return `${context}${path ? `.${path}` : ''}`;
}

function reasonOf(keyword: string, message: string, params: Record<string, unknown>): string {
  if (keyword === 'additionalProperties') return 'is not a known field';
  if (keyword === 'required') return 'is required';
  if (keyword === 'enum') return `must be one of ${JSON.stringify(params.allowedValues)}`;
  if (keyword === 'discriminator') return params.tagValue === undefined ? 'is required' : `${JSON.stringify(params.tagValue)} is not a known kind`;
  return message;
}
