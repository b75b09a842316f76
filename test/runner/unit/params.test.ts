import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidParamsError, parseParamOptions } from '../../../src/runner/params.ts';
import { resolveParams } from '../../../src/runner/params-schema.ts';

const schema = {
  type: 'object',
  properties: {
    input: { type: 'string', default: 'data.csv' },
    limit: { type: 'integer', minimum: 1, default: 100 },
    dry_run: { type: 'boolean', default: false },
    mode: { type: 'string', enum: ['full', 'incremental'], default: 'incremental' },
    tags: { type: 'array', items: { type: 'string' }, default: [] },
  },
  required: ['input'],
  additionalProperties: false,
};

/** The issues of the InvalidParamsError that `fn` throws. */
function issues(fn: () => unknown): { param: string; message: string }[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof InvalidParamsError, String(error));
    return error.issues;
  }
  return assert.fail('expected InvalidParamsError');
}

describe('resolveParams', () => {
  it('applies defaults, for both the command line and the API', () => {
    for (const coerce of [true, false]) {
      assert.deepEqual(resolveParams('report', schema, {}, { coerce }), {
        input: 'data.csv', limit: 100, dry_run: false, mode: 'incremental', tags: [],
      });
      assert.deepEqual(resolveParams('report', schema, { input: 'x.csv', limit: 5 }, { coerce }), {
        input: 'x.csv', limit: 5, dry_run: false, mode: 'incremental', tags: [],
      });
    }
  });

  it('does not change the object it is given, nor share default objects between calls', () => {
    const input = { input: 'a.csv' };
    const first = resolveParams('report', schema, input, { coerce: false });
    assert.deepEqual(input, { input: 'a.csv' });
    (first.tags as string[]).push('mutated');
    assert.deepEqual(resolveParams('report', schema, { input: 'a.csv' }, { coerce: false }).tags, []);
  });

  it('coerces command-line strings ("5" → 5, "true" → true) only when asked to', () => {
    const cli = resolveParams('report', schema, { input: 'x', limit: '5', dry_run: 'true' }, { coerce: true });
    assert.equal(cli.limit, 5);
    assert.equal(cli.dry_run, true);

    const error = (() => {
      try {
        resolveParams('report', schema, { input: 'x', limit: '5' }, { coerce: false });
      } catch (e) {
        return e;
      }
      return null;
    })();
    assert.ok(error instanceof InvalidParamsError);
    assert.equal(error.job, 'report');
    assert.deepEqual(error.issues, [{ param: 'limit', message: 'must be integer' }]);
    assert.equal(error.message, 'invalid params for job report: limit: must be integer');
    assert.equal(error.name, 'InvalidParamsError');
  });

  it('rejects a string that is not a number even with coercion, naming the param', () => {
    assert.deepEqual(issues(() => resolveParams('report', schema, { input: 'x', limit: 'five' }, { coerce: true })), [
      { param: 'limit', message: 'must be integer' },
    ]);
    assert.deepEqual(issues(() => resolveParams('report', schema, { input: 'x', limit: '0' }, { coerce: true })), [
      { param: 'limit', message: 'must be >= 1' },
    ]);
  });

  it('names the param for required, additionalProperties, type and enum errors, all at once', () => {
    assert.deepEqual(issues(() => resolveParams('report', { ...schema, properties: { ...schema.properties, input: { type: 'string' } } }, {}, { coerce: false })), [
      { param: 'input', message: 'is required' },
    ]);
    assert.deepEqual(issues(() => resolveParams('report', schema, { input: 'x', inptu: 'typo' }, { coerce: false })), [
      { param: 'inptu', message: 'is not a param of this job' },
    ]);
    assert.deepEqual(issues(() => resolveParams('report', schema, { input: 42 }, { coerce: false })), [
      { param: 'input', message: 'must be string' },
    ]);
    assert.deepEqual(issues(() => resolveParams('report', schema, { input: 'x', mode: 'partial' }, { coerce: true })), [
      { param: 'mode', message: 'must be one of ["full","incremental"]' },
    ]);
    const all = issues(() => resolveParams('report', schema, { input: 1, extra: true, mode: 'x', limit: 2.5 }, { coerce: false }));
    assert.deepEqual(all.map((i) => i.param).sort(), ['extra', 'input', 'limit', 'mode']);
  });

  it('names nested params by their path', () => {
    const nested = {
      type: 'object',
      properties: {
        db: { type: 'object', properties: { host: { type: 'string' }, port: { type: 'integer' } }, required: ['host'] },
        tags: { type: 'array', items: { type: 'string' } },
      },
    };
    assert.deepEqual(issues(() => resolveParams('x', nested, { db: { host: 'h', port: 'p' } }, { coerce: false })), [
      { param: 'db.port', message: 'must be integer' },
    ]);
    assert.deepEqual(issues(() => resolveParams('x', nested, { tags: ['a', 3] }, { coerce: false })), [
      { param: 'tags.1', message: 'must be string' },
    ]);
    // A required property inside an object must be named with its path too, like the type error above.
    assert.deepEqual(issues(() => resolveParams('x', nested, { db: { port: 1 } }, { coerce: false })), [
      { param: 'db.host', message: 'is required' },
    ]);
  });

  it('uses the same compiled schema for repeated API calls and still validates each', () => {
    for (let i = 0; i < 3; i++) {
      assert.equal(resolveParams('report', schema, { input: `f${i}` }, { coerce: false }).input, `f${i}`);
      assert.throws(() => resolveParams('report', schema, { input: i }, { coerce: false }), InvalidParamsError);
    }
  });
});

describe('parseParamOptions', () => {
  it('reads key=value pairs, keeping "=" inside values and the last of repeated keys', () => {
    assert.deepEqual(parseParamOptions(['input=data.csv', 'filter=a=b', 'empty=', 'input=other.csv']), {
      input: 'other.csv', filter: 'a=b', empty: '',
    });
    assert.deepEqual(parseParamOptions([]), {});
  });

  it('rejects a pair without a key', () => {
    assert.throws(() => parseParamOptions(['novalue']), { message: '-p novalue: expected key=value, e.g. -p input=data.csv' });
    assert.throws(() => parseParamOptions(['=x']), /-p =x: expected key=value/);
  });
});
