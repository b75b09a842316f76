// Checks responses the tests receive against the API's own OpenAPI document, so the document cannot
// drift from what the server sends. The schemas are OpenAPI 3.0 (`nullable`, `$ref` into
// components.schemas); they are turned into plain JSON Schema and validated with Ajv.
import { AssertionError } from 'node:assert';
import { Ajv, type ValidateFunction } from 'ajv';
import { Validator } from '@seriousme/openapi-schema-validator';

type Json = Record<string, unknown>;
export type OpenApiDocument = Json & { paths: Record<string, Record<string, Json>>; components?: { schemas?: Record<string, Json> } };

const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addFormat('date-time', (value: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value) && !Number.isNaN(Date.parse(value)));
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
const compiled = new WeakMap<object, ValidateFunction>();

/** Fetches `/openapi.json` from a running API and asserts it is a valid OpenAPI document. */
export async function fetchOpenApi(baseUrl: string): Promise<OpenApiDocument> {
  const response = await fetch(`${baseUrl}/openapi.json`);
  if (response.status !== 200) throw new AssertionError({ message: `/openapi.json answered ${response.status}` });
  const document = (await response.json()) as OpenApiDocument;
  const result = await new Validator().validate(document as Parameters<Validator['validate']>[0]);
  if (!result.valid) throw new AssertionError({ message: `/openapi.json is not a valid OpenAPI document: ${JSON.stringify(result.errors)}` });
  return document;
}

/**
 * Asserts that `body` is what the document promises for `method pathTemplate` (e.g. `get
 * /runs/{run_id}`) answering `status` as `contentType`. An operation, status or media type the
 * document does not list fails too: an undocumented response is a contract violation.
 */
export function checkResponse(document: OpenApiDocument, method: string, pathTemplate: string, status: number, body: unknown, contentType = 'application/json'): void {
  const operation = document.paths[pathTemplate]?.[method.toLowerCase()] as Json | undefined;
  if (!operation) throw new AssertionError({ message: `the OpenAPI document has no operation ${method.toUpperCase()} ${pathTemplate}` });
  const responses = (operation.responses ?? {}) as Record<string, Json>;
  const response = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
  if (!response) {
    throw new AssertionError({ message: `${method.toUpperCase()} ${pathTemplate} answered ${status}, which the document does not list (it lists ${Object.keys(responses).join(', ')})` });
  }
  const content = (response.content ?? {}) as Record<string, { schema?: Json }>;
  const media = content[contentType];
  if (!media?.schema) {
    throw new AssertionError({ message: `${method.toUpperCase()} ${pathTemplate} ${status}: no ${contentType} schema in the document (it has ${Object.keys(content).join(', ') || 'none'})` });
  }
  let validate = compiled.get(media.schema);
  if (!validate) {
    validate = ajv.compile(toJsonSchema(media.schema, document.components?.schemas ?? {}, new Set()) as Json);
    compiled.set(media.schema, validate);
  }
  if (!validate(body)) {
    throw new AssertionError({
      message: `${method.toUpperCase()} ${pathTemplate} ${status} does not match the OpenAPI document:\n`
        + `${ajv.errorsText(validate.errors, { separator: '\n' })}\nbody: ${JSON.stringify(body).slice(0, 2000)}`,
    });
  }
}

/** OpenAPI 3.0 schema → JSON Schema: `$ref`s inlined, `nullable: true` turned into a `null` type. */
function toJsonSchema(schema: unknown, components: Record<string, Json>, resolving: Set<string>): unknown {
  if (Array.isArray(schema)) return schema.map((item) => toJsonSchema(item, components, resolving));
  if (schema === null || typeof schema !== 'object') return schema;
  const source = schema as Json;
  if (typeof source.$ref === 'string') {
    const name = /^#\/components\/schemas\/(.+)$/.exec(source.$ref)?.[1];
    const target = name === undefined ? undefined : components[decodeURIComponent(name)];
    if (!target) throw new AssertionError({ message: `unresolvable $ref ${source.$ref} in the OpenAPI document` });
    if (resolving.has(name!)) throw new AssertionError({ message: `recursive $ref ${source.$ref} is not supported by the contract checker` });
    return toJsonSchema(target, components, new Set([...resolving, name!]));
  }
  const result: Json = {};
  for (const [key, value] of Object.entries(source)) {
    if (key === 'nullable') continue;
    result[key] = key === 'properties' || key === 'patternProperties'
      ? Object.fromEntries(Object.entries(value as Json).map(([property, sub]) => [property, toJsonSchema(sub, components, resolving)]))
      : toJsonSchema(value, components, resolving);
  }
  if (source.nullable === true) {
    // OpenAPI 3.0: nullable adds null to an explicit type; with an enum, null must be listed there too.
    if (typeof result.type === 'string') result.type = [result.type, 'null'];
    else if (Array.isArray(result.type) && !result.type.includes('null')) result.type = [...result.type, 'null'];
  }
  return result;
}
