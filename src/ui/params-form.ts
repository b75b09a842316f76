// A job's params JSON Schema as an HTML form, and a submitted form back into typed params.
//
// The form only helps: its HTML constraints (required, min/max, pattern) let the browser point at a
// mistake before a round trip, and the parse below is strict about numbers, but the params a run gets
// are validated by the trigger service (src/runs/trigger-run.ts, Ajv against the same schema). Its
// errors name a param path, which `fieldOfErrorPath` maps back to the field that shows it.

/** How a param is entered. */
export type FieldKind =
  | 'text' | 'number' | 'integer' | 'checkbox' | 'tristate' | 'select'
  | 'date' | 'datetime' | 'list' | 'multiselect' | 'json';

/** The scalar type of a value (or of a list's items). */
export type ScalarType = 'string' | 'number' | 'integer' | 'boolean';

/** One choice of a select: `value` is what the form sends, `json` what the param becomes. */
export interface FieldOption { value: string; label: string; json: unknown }

/** One param's input, ready for a template: every string here is escaped by the template, not here. */
export interface FormField {
  /** The param's name (a top-level property of the schema). */
  name: string;
  /** The form field's name: `params.<name>`, apart from the form's own fields (_csrf, reason, ...). */
  input: string;
  /** A DOM id safe for any param name. */
  id: string;
  label: string;
  description: string | null;
  kind: FieldKind;
  /** Of the value, or of a list's items. */
  type: ScalarType | null;
  required: boolean;
  /** The default as the form shows it ('' when none). */
  defaultText: string;
  /** The value to show: the default, a prefilled run's param, or what was submitted. */
  value: string;
  /** For multiselect: the chosen option values. */
  values: string[];
  /** For checkbox: checked. */
  checked: boolean;
  options: FieldOption[];
  /** HTML constraint attributes (min, max, step, minlength, maxlength, pattern, inputmode, placeholder). */
  attrs: Record<string, string>;
  /** The error to show at the field (the server's, or the parse's). */
  error: string | null;
}

/** A param error at a field, or on the form as a whole (`field` null). */
export interface FieldError { field: string | null; message: string }

type Schema = Record<string, unknown>;

const isObject = (value: unknown): value is Schema => value !== null && typeof value === 'object' && !Array.isArray(value);

/** The type a (sub)schema declares, ignoring `null` in a type list; null when it declares none or several. */
function declaredType(schema: Schema): string | null {
  const type = schema.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) {
    const rest = type.filter((t) => t !== 'null');
    return rest.length === 1 && typeof rest[0] === 'string' ? rest[0] : null;
  }
  if (Array.isArray(schema.enum)) return 'enum';
  return null;
}

const SCALARS = new Set(['string', 'number', 'integer', 'boolean']);

/** The params a schema declares, in declaration order. */
function properties(schema: Schema): [string, Schema][] {
  const props = isObject(schema.properties) ? schema.properties : {};
  return Object.entries(props).map(([name, sub]) => [name, isObject(sub) ? sub : {}]);
}

/** A DOM id for a param name: letters, digits and dashes only, made unique by a hash of the name. */
function fieldId(name: string): string {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)!) >>> 0;
  return `param-${name.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 40)}-${hash.toString(36)}`;
}

/** The ISO UTC instant as a datetime-local value (seconds kept), or the text as it is. */
function toLocalInput(value: string): string {
  const instant = Date.parse(value);
  if (!/T/.test(value) || Number.isNaN(instant)) return value;
  return new Date(instant).toISOString().slice(0, 19);
}

/** A param value as the form shows it. */
function valueText(field: Pick<FormField, 'kind' | 'type'>, value: unknown): string {
  if (value === undefined || value === null) return '';
  if (field.kind === 'json') return JSON.stringify(value, null, 2);
  if (field.kind === 'list') return Array.isArray(value) ? value.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))).join('\n') : '';
  if (field.kind === 'datetime' && typeof value === 'string') return toLocalInput(value);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function constraintAttrs(schema: Schema, type: string | null): Record<string, string> {
  const attrs: Record<string, string> = {};
  const num = (key: string) => (typeof schema[key] === 'number' && Number.isFinite(schema[key]) ? String(schema[key]) : null);
  if (type === 'number' || type === 'integer') {
    if (num('minimum') !== null) attrs.min = num('minimum')!;
    if (num('maximum') !== null) attrs.max = num('maximum')!;
    // exclusive bounds have no HTML attribute; the server says so
    attrs.step = type === 'integer' ? String(num('multipleOf') ?? 1) : num('multipleOf') ?? 'any';
    attrs.inputmode = type === 'integer' ? 'numeric' : 'decimal';
  }
  if (type === 'string') {
    if (num('minLength') !== null) attrs.minlength = num('minLength')!;
    if (num('maxLength') !== null) attrs.maxlength = num('maxLength')!;
    // HTML patterns are anchored and use the `v` flag; a JSON Schema pattern is unanchored. Wrapped,
    // it means the same for the patterns people write; one the browser cannot compile is ignored by it.
    if (typeof schema.pattern === 'string') attrs.pattern = `.*(?:${schema.pattern}).*`;
  }
  return attrs;
}

/** The form field for one param. */
function buildField(name: string, schema: Schema, required: boolean): FormField {
  const type = declaredType(schema);
  const field: FormField = {
    name,
    input: `params.${name}`,
    id: fieldId(name),
    label: typeof schema.title === 'string' && schema.title.trim() ? schema.title : name,
    description: typeof schema.description === 'string' ? schema.description : null,
    kind: 'json',
    type: null,
    required,
    defaultText: '',
    value: '',
    values: [],
    checked: false,
    options: [],
    attrs: {},
    error: null,
  };
  if (Array.isArray(schema.enum)) {
    field.kind = 'select';
    field.type = type !== null && SCALARS.has(type) ? (type as ScalarType) : null;
    field.options = schema.enum.map((json) => ({ value: JSON.stringify(json), label: typeof json === 'string' ? json : JSON.stringify(json), json }));
  } else if (type === 'boolean') {
    // An unchecked checkbox sends nothing: it can only mean false when false is what absence gives.
    field.kind = required || schema.default !== undefined ? 'checkbox' : 'tristate';
    field.type = 'boolean';
    field.options = [{ value: 'true', label: 'true', json: true }, { value: 'false', label: 'false', json: false }];
  } else if (type === 'string') {
    field.type = 'string';
    field.kind = schema.format === 'date' ? 'date' : schema.format === 'date-time' ? 'datetime' : 'text';
    if (field.kind === 'text') field.attrs = constraintAttrs(schema, type);
    if (field.kind === 'datetime') field.attrs = { step: '1' };
  } else if (type === 'number' || type === 'integer') {
    field.kind = type;
    field.type = type;
    field.attrs = constraintAttrs(schema, type);
  } else if (type === 'array' && isObject(schema.items)) {
    const items = schema.items;
    const itemType = declaredType(items);
    if (Array.isArray(items.enum)) {
      field.kind = 'multiselect';
      field.type = itemType !== null && SCALARS.has(itemType) ? (itemType as ScalarType) : null;
      field.options = items.enum.map((json) => ({ value: JSON.stringify(json), label: typeof json === 'string' ? json : JSON.stringify(json), json }));
    } else if (itemType !== null && SCALARS.has(itemType)) {
      field.kind = 'list';
      field.type = itemType as ScalarType;
    }
  }
  if (schema.default !== undefined) {
    field.defaultText = valueText(field, schema.default);
    setValue(field, schema.default);
  }
  return field;
}

/** Shows `value` in the field. */
function setValue(field: FormField, value: unknown): void {
  if (field.kind === 'checkbox') field.checked = value === true;
  else if (field.kind === 'select' || field.kind === 'tristate') field.value = value === undefined ? '' : JSON.stringify(value);
  else if (field.kind === 'multiselect') field.values = Array.isArray(value) ? value.map((item) => JSON.stringify(item)) : [];
  else field.value = valueText(field, value);
}

/** The params form of a job: one field per declared param, with the defaults (or `values`) filled in. */
export function buildParamsForm(schema: Record<string, unknown>, values?: Record<string, unknown>): FormField[] {
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : []);
  return properties(schema).map(([name, sub]) => {
    const field = buildField(name, sub, required.has(name));
    if (values && Object.hasOwn(values, name)) setValue(field, values[name]);
    else if (values) setValue(field, undefined);
    return field;
  });
}

/** True when the schema takes params it does not declare (no `additionalProperties: false`). */
export function acceptsExtraParams(schema: Record<string, unknown>): boolean {
  return schema.additionalProperties !== false;
}

/** A submitted urlencoded body, as @fastify/formbody parses it: repeated names give arrays. */
export type FormBody = Record<string, string | string[] | undefined>;

const NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
const INTEGER = /^[-+]?\d+$/;

/** A scalar typed by `type` from its text; an error message when it is not one. */
function parseScalar(type: ScalarType | null, text: string): { value: unknown } | { error: string } {
  if (type === 'number') {
    const value = Number(text);
    return NUMBER.test(text) && Number.isFinite(value) ? { value } : { error: `${JSON.stringify(text)} is not a number` };
  }
  if (type === 'integer') {
    const value = Number(text);
    return INTEGER.test(text) && Number.isSafeInteger(value) ? { value } : { error: `${JSON.stringify(text)} is not a whole number` };
  }
  if (type === 'boolean') {
    if (text === 'true' || text === 'false') return { value: text === 'true' };
    return { error: `${JSON.stringify(text)} is not true or false` };
  }
  return { value: text };
}

const lastOf = (raw: string | string[] | undefined): string | undefined => (Array.isArray(raw) ? raw[raw.length - 1] : raw);

/**
 * Reads the params out of a submitted form. Empty optional fields are left out (the schema's default
 * then applies); numbers must be numbers as written ("12abc" is an error, not 12); a list takes one
 * value per line or repeated fields. Extra params come from the `params._extra` JSON field, when the
 * schema takes them. What cannot be read is returned as field errors, and the params are not sent.
 */
export function parseParamsForm(fields: FormField[], body: FormBody, options: { extra?: boolean } = {}): { params: Record<string, unknown>; errors: FieldError[] } {
  const params: Record<string, unknown> = {};
  const errors: FieldError[] = [];
  if (options.extra) {
    const text = (lastOf(body['params._extra']) ?? '').trim();
    if (text) {
      try {
        const extra: unknown = JSON.parse(text);
        if (!isObject(extra)) errors.push({ field: '_extra', message: 'must be a JSON object of params' });
        else Object.assign(params, extra);
      } catch (error) {
        errors.push({ field: '_extra', message: `is not JSON: ${(error as Error).message}` });
      }
    }
  }
  for (const field of fields) {
    const raw = body[field.input];
    const fail = (message: string) => errors.push({ field: field.name, message });
    if (field.kind === 'checkbox') {
      params[field.name] = lastOf(raw) === 'true';
      continue;
    }
    if (field.kind === 'multiselect') {
      const chosen = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
      const items = chosen.map((value) => field.options.find((option) => option.value === value));
      if (items.some((item) => item === undefined)) fail('is not one of the choices');
      else if (items.length > 0 || field.required) params[field.name] = items.map((item) => item!.json);
      continue;
    }
    if (field.kind === 'list') {
      const lines = (Array.isArray(raw) ? raw : (raw ?? '').split(/\r?\n/)).map((line) => line.trim()).filter((line) => line !== '');
      if (lines.length === 0 && !field.required) continue;
      const parsed = lines.map((line) => parseScalar(field.type, line));
      const bad = parsed.find((item): item is { error: string } => 'error' in item);
      if (bad) fail(`one line per item: ${bad.error}`);
      else params[field.name] = parsed.map((item) => (item as { value: unknown }).value);
      continue;
    }
    const text = lastOf(raw) ?? '';
    // A required field left empty is left out too: the server's "is required" names it.
    if (text === '' || (text.trim() === '' && field.kind !== 'text')) continue;
    if (field.kind === 'select' || field.kind === 'tristate') {
      const option = field.options.find((choice) => choice.value === text);
      if (!option) fail('is not one of the choices');
      else params[field.name] = option.json;
    } else if (field.kind === 'json') {
      try {
        params[field.name] = JSON.parse(text);
      } catch (error) {
        fail(`is not JSON: ${(error as Error).message}`);
      }
    } else if (field.kind === 'datetime') {
      // datetime-local has no zone: the label says UTC, and the value is sent as UTC.
      const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?$/.exec(text.trim());
      if (match) params[field.name] = `${match[1]}T${match[2]}${match[3] ?? ':00'}Z`;
      else params[field.name] = text.trim();
    } else {
      const result = parseScalar(field.type, field.kind === 'text' ? text : text.trim());
      if ('error' in result) fail(result.error);
      else params[field.name] = result.value;
    }
  }
  return { params, errors };
}

/**
 * The form field an error path names: the trigger service's param path (`count`, `tags.0`) or the
 * API's detail field (`params.count`, `body.params.count`). Null when it names the params as a whole
 * or no field of the form (the error is then shown above the form).
 */
export function fieldOfErrorPath(fields: FormField[], path: string): string | null {
  let rest = path.replace(/^body\./, '').replace(/^params(?:\.|$)/, '');
  if (rest === '' || rest === '(params)') return null;
  for (const field of fields) {
    if (rest === field.name || rest.startsWith(`${field.name}.`)) return field.name;
  }
  rest = rest.split('.')[0]!;
  return fields.some((field) => field.name === rest) ? rest : null;
}

/** Puts each error at its field; what belongs to no field is returned for the top of the form. */
export function attachErrors(fields: FormField[], errors: FieldError[]): string[] {
  const general: string[] = [];
  for (const error of errors) {
    const field = error.field === null ? undefined : fields.find((candidate) => candidate.name === error.field);
    if (field) field.error = field.error ? `${field.error}; ${error.message}` : error.message;
    else general.push(error.field ? `${error.field}: ${error.message}` : error.message);
  }
  return general;
}

/** Refills the fields with what was submitted, so a form with an error keeps what the person typed. */
export function refillFromBody(fields: FormField[], body: FormBody): void {
  for (const field of fields) {
    const raw = body[field.input];
    if (field.kind === 'checkbox') field.checked = lastOf(raw) === 'true';
    else if (field.kind === 'multiselect') field.values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    else if (field.kind === 'list' && Array.isArray(raw)) field.value = raw.join('\n');
    else field.value = lastOf(raw) ?? '';
  }
}

/** One param that differs between two runs' params. */
export interface ParamChange { name: string; before: string | null; after: string | null }

/** The params that differ from `before` to `after` (added, removed or changed), sorted by name; values as JSON. */
export function diffParams(before: Record<string, unknown>, after: Record<string, unknown>): ParamChange[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const show = (record: Record<string, unknown>, name: string) => (Object.hasOwn(record, name) ? JSON.stringify(record[name]) : null);
  return names
    .map((name) => ({ name, before: show(before, name), after: show(after, name) }))
    .filter((change) => change.before !== change.after);
}
