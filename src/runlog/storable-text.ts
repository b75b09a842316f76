// What PostgreSQL cannot store, found before it is sent: `text` and `jsonb` refuse U+0000, and `jsonb`
// refuses a lone UTF-16 surrogate ("\ud800" has no UTF-8 form; `text` would silently get U+FFFD).
// Either would surface as a database error (a 500) in the middle of a write, so input is checked first.

/** How deep a JSON value may nest. Deeper values overflowed the stack in schema validation (2,000 levels did). */
export const MAX_JSON_DEPTH = 64;

/** Why a value cannot be stored, and where: `path` is the list of keys and indexes from the root. */
export interface UnstorableIssue {
  path: (string | number)[];
  reason: string;
}

// A high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
const LONE_SURROGATE = '[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]';
const UNSTORABLE = new RegExp(`\\u0000|${LONE_SURROGATE}`);
// What an error message shows escaped: the above and every other control character.
const UNSHOWABLE = new RegExp(`[\\u0000-\\u001f\\u007f]|${LONE_SURROGATE}`, 'g');

/** Why the RunLog cannot store this text, or null when it can. */
export function unstorableTextReason(text: string): string | null {
  const match = UNSTORABLE.exec(text);
  if (!match) return null;
  return match[0] === '\u0000'
    ? 'contains a NUL character (\\u0000), which the RunLog cannot store'
    : 'contains a lone UTF-16 surrogate, which is not valid Unicode';
}

/**
 * The first string or key in `value` the RunLog cannot store, or the first place it nests deeper
 * than `maxDepth`; null when all of it can be stored. Recursion stops at `maxDepth`, so the check
 * itself cannot overflow the stack whatever it is given.
 */
export function findUnstorable(value: unknown, maxDepth: number = MAX_JSON_DEPTH): UnstorableIssue | null {
  return visit(value, [], maxDepth, maxDepth);
}

function visit(value: unknown, path: (string | number)[], depthLeft: number, maxDepth: number): UnstorableIssue | null {
  if (typeof value === 'string') {
    const reason = unstorableTextReason(value);
    return reason === null ? null : { path, reason };
  }
  if (value === null || typeof value !== 'object') return null;
  if (depthLeft === 0) return { path, reason: `nests deeper than ${maxDepth} levels` };
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const issue = visit(value[index], [...path, index], depthLeft - 1, maxDepth);
      if (issue) return issue;
    }
    return null;
  }
  for (const [key, child] of Object.entries(value)) {
    const keyReason = unstorableTextReason(key);
    if (keyReason !== null) return { path: [...path, key], reason: `has a key that ${keyReason}` };
    const issue = visit(child, [...path, key], depthLeft - 1, maxDepth);
    if (issue) return issue;
  }
  return null;
}

/** A path as dotted text, with characters that cannot be shown (NUL, lone surrogates, controls) escaped. */
export function describePath(path: (string | number)[]): string {
  return path.map((part) => String(part).replace(UNSHOWABLE, escapeChar)).join('.');
}

function escapeChar(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
