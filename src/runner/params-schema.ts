import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { InvalidParamsError } from './params.ts';

// Separate instances: -p values arrive as strings and need coercing ("5" → 5); JSON from the API must not be coerced.
const coercing = new Ajv({ useDefaults: true, coerceTypes: true, allErrors: true, strict: false });
const exact = new Ajv({ useDefaults: true, coerceTypes: false, allErrors: true, strict: false });
const cache = new WeakMap<object, ValidateFunction>();

/**
 * Validates params against a job's JSON Schema and returns them with defaults applied.
 * With `coerce`, strings from the command line are converted to the schema's types.
 */
export function resolveParams(
  job: string,
  schema: Record<string, unknown>,
  input: Record<string, unknown>,
  options: { coerce: boolean },
): Record<string, unknown> {
  const ajv = options.coerce ? coercing : exact;
  let validate = options.coerce ? undefined : cache.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    if (!options.coerce) cache.set(schema, validate);
  }
  const params = structuredClone(input);
  if (!validate(params)) throw new InvalidParamsError(job, (validate.errors ?? []).map(describeError));
  return params;
}

function describeError(error: ErrorObject): { param: string; message: string } {
  const path = error.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const extra = error.params as Record<string, unknown>;
  const child = (name: unknown) => (path ? `${path}.${String(name)}` : String(name));
  if (error.keyword === 'required') return { param: child(extra.missingProperty), message: 'is required' };
  if (error.keyword === 'additionalProperties') {
    return { param: child(extra.additionalProperty), message: path ? 'is not a known field' : 'is not a param of this job' };
  }
  if (error.keyword === 'enum') {
    return { param: path || '(params)', message: `must be one of ${JSON.stringify(extra.allowedValues)}` };
  }
  return { param: path || '(params)', message: error.message ?? error.keyword };
}
