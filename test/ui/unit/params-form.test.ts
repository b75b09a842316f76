import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveParams } from '../../../src/runner/params-schema.ts';
import { InvalidParamsError } from '../../../src/runner/params.ts';
import { attachErrors, buildParamsForm, diffParams, fieldOfErrorPath, parseParamsForm, refillFromBody } from '../../../src/ui/params-form.ts';

const SCHEMA = {
  type: 'object',
  required: ['count', 'region'],
  properties: {
    input: { type: 'string', description: 'CSV file to read', default: 'examples/report/data.csv', minLength: 1, maxLength: 200, pattern: '\\.csv$' },
    count: { type: 'integer', minimum: 1, maximum: 100 },
    ratio: { type: 'number', default: 0.5 },
    dry: { type: 'boolean', default: false },
    verbose: { type: 'boolean' },
    region: { enum: ['eu', 'us', 3] },
    day: { type: 'string', format: 'date' },
    since: { type: 'string', format: 'date-time' },
    tags: { type: 'array', items: { type: 'string' } },
    sizes: { type: 'array', items: { type: 'integer' } },
    colours: { type: 'array', items: { enum: ['red', 'blue'] } },
    nested: { type: 'object', properties: { a: { type: 'integer' } } },
  },
  additionalProperties: false,
};

const field = (fields: ReturnType<typeof buildParamsForm>, name: string) => fields.find((f) => f.name === name)!;

describe('buildParamsForm', () => {
  const fields = buildParamsForm(SCHEMA);

  it('gives each param the input its schema calls for, in declaration order', () => {
    assert.deepEqual(fields.map((f) => [f.name, f.kind]), [
      ['input', 'text'], ['count', 'integer'], ['ratio', 'number'], ['dry', 'checkbox'], ['verbose', 'tristate'],
      ['region', 'select'], ['day', 'date'], ['since', 'datetime'], ['tags', 'list'], ['sizes', 'list'],
      ['colours', 'multiselect'], ['nested', 'json'],
    ]);
    assert.equal(field(fields, 'sizes').type, 'integer');
  });

  it('carries required, defaults, descriptions and the HTML constraints', () => {
    const input = field(fields, 'input');
    assert.equal(input.value, 'examples/report/data.csv');
    assert.equal(input.defaultText, 'examples/report/data.csv');
    assert.equal(input.description, 'CSV file to read');
    assert.equal(input.required, false);
    assert.deepEqual(input.attrs, { minlength: '1', maxlength: '200', pattern: '.*(?:\\.csv$).*' });
    const count = field(fields, 'count');
    assert.equal(count.required, true);
    assert.deepEqual(count.attrs, { min: '1', max: '100', step: '1', inputmode: 'numeric' });
    assert.equal(field(fields, 'ratio').attrs.step, 'any');
    assert.equal(field(fields, 'dry').checked, false);
    assert.deepEqual(field(fields, 'region').options.map((o) => o.json), ['eu', 'us', 3]);
  });

  it('prefills the values of an earlier run, a date-time as its UTC wall time', () => {
    const prefilled = buildParamsForm(SCHEMA, { count: 7, dry: true, since: '2026-12-04T10:30:15+01:00', tags: ['a', 'b'], colours: ['blue'], region: 3 });
    assert.equal(field(prefilled, 'count').value, '7');
    assert.equal(field(prefilled, 'dry').checked, true);
    assert.equal(field(prefilled, 'since').value, '2026-12-04T09:30:15');
    assert.equal(field(prefilled, 'tags').value, 'a\nb');
    assert.deepEqual(field(prefilled, 'colours').values, ['"blue"']);
    assert.equal(field(prefilled, 'region').value, '3');
    // A param the run did not have is empty, not its default: the form shows that run.
    assert.equal(field(prefilled, 'input').value, '');
  });
});

describe('parseParamsForm', () => {
  const fields = buildParamsForm(SCHEMA);

  it('reads typed params that the trigger service accepts as they are', () => {
    const { params, errors } = parseParamsForm(fields, {
      _csrf: 'x',
      'params.input': 'in.csv',
      'params.count': '12',
      'params.ratio': '-1.5e2',
      'params.dry': 'true',
      'params.verbose': 'false',
      'params.region': '3',
      'params.day': '2026-12-04',
      'params.since': '2026-12-04T10:30',
      'params.tags': 'one\r\n\r\n two \n',
      'params.sizes': ['1', '2'],
      'params.colours': ['"red"', '"blue"'],
      'params.nested': '{"a": 1}',
    });
    assert.deepEqual(errors, []);
    assert.deepEqual(params, {
      input: 'in.csv', count: 12, ratio: -150, dry: true, verbose: false, region: 3, day: '2026-12-04',
      since: '2026-12-04T10:30:00Z', tags: ['one', 'two'], sizes: [1, 2], colours: ['red', 'blue'], nested: { a: 1 },
    });
    assert.deepEqual(resolveParams('job', SCHEMA, params, { coerce: false }), params);
  });

  it('leaves empty optional fields out, so the defaults apply; an unchecked box is false', () => {
    const { params, errors } = parseParamsForm(fields, { 'params.count': '3', 'params.region': '"eu"', 'params.input': '', 'params.ratio': ' ', 'params.tags': '\n' });
    assert.deepEqual(errors, []);
    assert.deepEqual(params, { count: 3, region: 'eu', dry: false });
    assert.deepEqual(resolveParams('job', SCHEMA, params, { coerce: false }), { ...params, input: 'examples/report/data.csv', ratio: 0.5 });
  });

  it('reads numbers strictly and names the field of each that is not one', () => {
    const { errors } = parseParamsForm(fields, {
      'params.count': '12abc', 'params.ratio': '0x10', 'params.sizes': '1\n2.5', 'params.region': '"mars"', 'params.nested': '{',
    });
    assert.deepEqual(errors.map((e) => [e.field, e.message.split(':')[0]]), [
      ['count', '"12abc" is not a whole number'],
      ['ratio', '"0x10" is not a number'],
      ['region', 'is not one of the choices'],
      ['sizes', 'one line per item'],
      ['nested', 'is not JSON'],
    ]);
    assert.equal(parseParamsForm(fields, { 'params.count': '9007199254740993' }).errors[0]?.message, '"9007199254740993" is not a whole number');
  });

  it('takes extra params as a JSON object when the schema allows them', () => {
    const open = buildParamsForm({ type: 'object', properties: { a: { type: 'string' } } });
    assert.deepEqual(parseParamsForm(open, { 'params.a': 'x', 'params._extra': '{"b": [1]}' }, { extra: true }).params, { a: 'x', b: [1] });
    assert.equal(parseParamsForm(open, { 'params._extra': '[1]' }, { extra: true }).errors[0]?.field, '_extra');
  });
});

describe('errors at their fields', () => {
  it('maps the trigger service errors and the API detail paths to the field that shows them', () => {
    const fields = buildParamsForm(SCHEMA);
    const parsed = parseParamsForm(fields, { 'params.count': '500', 'params.tags': 'a', 'params.sizes': '1' });
    let issues: { param: string; message: string }[] = [];
    try {
      resolveParams('job', SCHEMA, parsed.params, { coerce: false });
    } catch (error) {
      assert.ok(error instanceof InvalidParamsError);
      issues = error.issues;
    }
    const mapped = issues.map((issue) => ({ field: fieldOfErrorPath(fields, issue.param), message: issue.message }));
    assert.deepEqual(mapped.map((m) => m.field).sort(), ['count', 'region']);
    const general = attachErrors(fields, [...mapped, { field: null, message: 'whole form' }]);
    assert.deepEqual(general, ['whole form']);
    assert.match(field(fields, 'count').error!, /must be <= 100/);
    assert.equal(field(fields, 'region').error, 'is required');
    assert.equal(fieldOfErrorPath(fields, 'body.params.count'), 'count');
    assert.equal(fieldOfErrorPath(fields, 'params.sizes.0'), 'sizes');
    assert.equal(fieldOfErrorPath(fields, 'params'), null);
    assert.equal(fieldOfErrorPath(fields, '(params)'), null);
    assert.equal(fieldOfErrorPath(fields, 'params.unknown'), null);
  });

  it('keeps what was typed when the form comes back with an error', () => {
    const fields = buildParamsForm(SCHEMA);
    refillFromBody(fields, { 'params.count': '12abc', 'params.dry': 'true', 'params.colours': '"red"', 'params.sizes': ['1', '2'] });
    assert.equal(field(fields, 'count').value, '12abc');
    assert.equal(field(fields, 'dry').checked, true);
    assert.deepEqual(field(fields, 'colours').values, ['"red"']);
    assert.equal(field(fields, 'sizes').value, '1\n2');
    assert.equal(field(fields, 'input').value, '');
  });
});

describe('diffParams', () => {
  it('lists added, removed and changed params, not the equal ones', () => {
    assert.deepEqual(diffParams({ a: 1, b: 'x', c: [1], d: true }, { a: 1, b: 'y', c: [1], e: null }), [
      { name: 'b', before: '"x"', after: '"y"' },
      { name: 'd', before: 'true', after: null },
      { name: 'e', before: null, after: 'null' },
    ]);
  });
});
