/** An instant as ISO 8601 UTC text, or null: how the API and messages show optional times. */
export function isoOrNull(value: Date | string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}
