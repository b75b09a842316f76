// Reading url-encoded form bodies (@fastify/formbody): a field is a string, or absent. A field sent
// twice (an array) or anything else is treated as a malformed form, naming the field.
import { UiError } from './ui-errors.ts';

/** The string value of `name` in a parsed form body; undefined when absent. */
export function formField(body: unknown, name: string): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const value = (body as Record<string, unknown>)[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new UiError(400, 'Malformed form', `The form field ${name} must be sent once, as text.`);
  return value;
}
