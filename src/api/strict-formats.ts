// The `date-time` and `uuid` formats as the RunLog can take them. ajv-formats follows RFC 3339 and
// RFC 4122 to the letter: it accepts a leap second (23:59:60, which JS dates and PostgreSQL then
// refuse: a 500), and `urn:uuid:<uuid>` (not a uuid column's input). Here only what is stored as
// given passes; everything else is a 400 naming the field.
import type { Ajv } from 'ajv';
import { isUuid } from '../runlog/uuidv7.ts';

// Seconds up to 59, up to 9 fraction digits (PostgreSQL keeps 6), `Z` or a ±hh:mm offset.
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
// Years 1 to 9999, as written and in UTC: year 0 and five-digit years are errors in PostgreSQL or in JSON output.
// (Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear does not.)
const MIN_INSTANT = new Date(0).setUTCFullYear(1, 0, 1);
const MAX_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** The instant of a strict RFC 3339 timestamp (real calendar date, no leap second, years 0001–9999), or null. */
export function parseStrictTimestamp(text: string): Date | null {
  const match = TIMESTAMP.exec(text);
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  if (match[7] !== undefined && (Number(match[8]) > 14 || Number(match[9]) > 59)) return null;
  const instant = Date.parse(text);
  if (Number.isNaN(instant) || instant < MIN_INSTANT || instant > MAX_INSTANT) return null;
  return new Date(instant);
}

/** True for a timestamp {@link parseStrictTimestamp} accepts. */
export function isStrictTimestamp(text: string): boolean {
  return parseStrictTimestamp(text) !== null;
}

function daysInMonth(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one; setUTCFullYear keeps years below 100 as written.
  const date = new Date(0);
  date.setUTCFullYear(year, month, 0);
  return date.getUTCDate();
}

/** Replaces Ajv's `date-time` and `uuid` formats with the strict ones (for Fastify's `ajv.onCreate`). */
export function addStrictFormats(ajv: Ajv): void {
  ajv.addFormat('date-time', { type: 'string', validate: isStrictTimestamp });
  ajv.addFormat('uuid', { type: 'string', validate: isUuid });
}
