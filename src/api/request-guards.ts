// Checks every route gets without declaring them: unknown query parameters are refused, numbers and
// booleans in the query string are read strictly, and no string the RunLog cannot store (NUL, lone
// surrogates) or JSON nested beyond MAX_JSON_DEPTH gets past validation. One place, so a route added
// tomorrow is covered without remembering to be.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequestError } from './errors.ts';
import { describePath, findUnstorable, MAX_JSON_DEPTH } from '../runlog/storable-text.ts';

type JsonSchema = { type?: unknown; properties?: Record<string, JsonSchema>; additionalProperties?: unknown };

// A route without a query schema takes no query parameters at all.
const NO_QUERY: JsonSchema = { type: 'object', properties: {}, additionalProperties: false };

// Plain decimal only: Ajv's coercion would take "0x10", "+5", "1e3", " 5" and "Infinity" as numbers.
const INTEGER = /^-?(?:0|[1-9][0-9]{0,14})$/;
const NUMBER = /^-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?$/;

/** Registers the checks; call before any route is added. */
export function registerRequestGuards(app: FastifyInstance): void {
  // The API takes JSON only: a text/plain body would reach the schema as a string and be refused
  // as "must be object", when the real problem is the content type (415).
  app.removeContentTypeParser('text/plain');
  app.addHook('onRoute', (route) => {
    // Swagger UI's own files are not part of the API.
    if (route.url.startsWith('/docs')) return;
    const schema = (route.schema ?? {}) as Record<string, unknown>;
    const query = schema.querystring as JsonSchema | undefined;
    // `?dry_run=true` on a route that has no dry run must not be ignored: it would do the real thing.
    route.schema = { ...schema, querystring: query ? { ...query, additionalProperties: query.additionalProperties ?? false } : NO_QUERY };
  });

  app.addHook('preValidation', async (request) => {
    rejectUnstorable(request);
    readQueryScalars(request);
  });
}

/** 400 naming the first string, key or nesting the RunLog could not take, in the query, path or body. */
function rejectUnstorable(request: FastifyRequest): void {
  const parts: [string, unknown][] = [['querystring', request.query], ['params', request.params], ['body', request.body]];
  for (const [part, value] of parts) {
    const issue = findUnstorable(value, MAX_JSON_DEPTH);
    if (!issue) continue;
    const field = [part, describePath(issue.path)].filter(Boolean).join('.');
    throw new BadRequestError(`${field}: ${issue.reason}`, [{ field, reason: issue.reason }]);
  }
}

/**
 * Turns query values declared integer, number or boolean into those types when they are written
 * plainly; anything else stays a string for the schema to refuse naming the field. The app's Ajv
 * does not coerce, so request bodies keep their JSON types too ("expires_in": 5 is not a string).
 */
function readQueryScalars(request: FastifyRequest): void {
  const properties = (request.routeOptions.schema?.querystring as JsonSchema | undefined)?.properties;
  const query = request.query as Record<string, unknown> | undefined;
  if (!properties || !query) return;
  for (const [key, value] of Object.entries(query)) {
    if (typeof value !== 'string' || !Object.hasOwn(properties, key)) continue;
    const type = properties[key]!.type;
    if ((type === 'integer' && INTEGER.test(value)) || (type === 'number' && NUMBER.test(value))) query[key] = Number(value);
    else if (type === 'boolean' && (value === 'true' || value === 'false')) query[key] = value === 'true';
  }
}
