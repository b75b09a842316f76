// Route validators compiled at their first request rather than when the app starts. Fastify compiles
// every route's body, query and params schema with Ajv at ready: ~320 ms of CPU at each `serve` and
// `dev` start for ~70 routes (docs/benchmarks.md, "serve and dev start-up"), where a server in a test,
// or a developer's `dev`, answers a handful of them. Validation itself is the same Ajv code, only later.
import type { Ajv, AnySchema, ValidateFunction } from 'ajv';

/**
 * Makes `ajv.compile` (what Fastify's compiler calls for each route schema) return a validator that
 * compiles its schema when first called. A schema with an `$id` is compiled at once: Fastify looks
 * it up by that id for the next route that uses it, and Ajv refuses the same id twice.
 */
export function compileOnFirstUse(ajv: Ajv): void {
  const compile = ajv.compile.bind(ajv) as (schema: AnySchema) => ValidateFunction;
  ajv.compile = ((schema: AnySchema) => {
    if (typeof schema === 'object' && schema.$id !== undefined) return compile(schema);
    let compiled: ValidateFunction | null = null;
    // Fastify reads `errors` off the function it was given after a failed call: mirrored from Ajv's.
    const validate = function (this: unknown, data: unknown, ...rest: unknown[]) {
      compiled ??= compile(schema);
      const valid = (compiled as (...args: unknown[]) => boolean).call(this, data, ...rest);
      validate.errors = compiled.errors;
      return valid;
    } as ValidateFunction;
    validate.errors = null;
    validate.schema = schema;
    return validate;
  }) as Ajv['compile'];
}
