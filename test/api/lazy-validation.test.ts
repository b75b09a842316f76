// Route validators compile at their first request (src/api/lazy-validation.ts): nothing is compiled
// when Fastify asks for a validator, the first call compiles it once, and what Fastify reads after a
// call (the result, `errors`) is what Ajv's own validator gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv, type AnySchema, type ErrorObject } from 'ajv';
import { compileOnFirstUse } from '../../src/api/lazy-validation.ts';

function countingAjv(): { ajv: Ajv; compiled: AnySchema[] } {
  const ajv = new Ajv({ allErrors: true });
  const compiled: AnySchema[] = [];
  const compile = ajv.compile.bind(ajv);
  ajv.compile = ((schema: AnySchema) => {
    compiled.push(schema);
    return compile(schema);
  }) as Ajv['compile'];
  compileOnFirstUse(ajv);
  return { ajv, compiled };
}

const SCHEMA = { type: 'object', properties: { limit: { type: 'integer', minimum: 1 } }, required: ['limit'], additionalProperties: false };

test('a route validator compiles at its first call, once, and answers as Ajv does, errors included', () => {
  const { ajv, compiled } = countingAjv();
  const validate = ajv.compile(SCHEMA);
  assert.equal(compiled.length, 0, 'compiled before any request');
  assert.equal(validate({ limit: 0, extra: true }), false);
  assert.equal(compiled.length, 1);
  const eager = new Ajv({ allErrors: true }).compile(SCHEMA);
  eager({ limit: 0, extra: true });
  assert.deepEqual(validate.errors, eager.errors);
  assert.equal(validate({ limit: 3 }), true);
  assert.equal(validate.errors, null, 'a valid call clears the errors of the last one');
  assert.equal(validate({}), false);
  assert.deepEqual((validate.errors as ErrorObject[] | null)?.map((error) => error.keyword), ['required']);
  assert.equal(compiled.length, 1, 'compiled again');
});

test('a schema with an $id compiles at once, so that the next route can find it by its id', () => {
  const { ajv, compiled } = countingAjv();
  const validate = ajv.compile({ ...SCHEMA, $id: 'page' });
  assert.equal(compiled.length, 1);
  assert.equal(ajv.getSchema('page'), validate);
  assert.equal(validate({ limit: 2 }), true);
});
