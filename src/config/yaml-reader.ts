// A walker over a parsed YAML document that reports problems with the line the user has to edit.
// Every config section (jobs, runlog, executors, notifications) reads its part of kubescribe.yaml
// through one Reader, so all issues of a file are collected in one pass and reported together.
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, type Document } from 'yaml';
import { describeValue, parseDuration, type DurationOptions } from './durations.ts';
import type { ConfigIssue } from './job-definition.ts';

/** A dotted config path: `jobs.report.timeout`, `jobs.report.command[0]`. */
export function join(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent ? `${parent}.${key}` : key;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** `; did you mean "timeout"?` when a known word is close enough to the unknown one to be worth suggesting. */
export function didYouMean(word: string, known: readonly string[]): string {
  // Squashing catches camelCase, kebab-case and case slips (timeZone, grace-period) whatever their edit distance.
  const squash = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  const ranked = known
    .map((k) => ({ k, d: squash(k) === squash(word) ? 0 : editDistance(word.toLowerCase(), k) }))
    .sort((a, b) => a.d - b.d);
  const best = ranked[0];
  return best && (best.d <= 2 || (best.d <= 3 && word.length >= 5)) ? `; did you mean "${best.k}"?` : '';
}

// `value` is the node with aliases resolved (null when the key has none); `line` falls back to `keyLine`.
/** One key of a YAML map, with where it is. */
export interface Entry { key: string; path: string; value: unknown; keyLine: number | null; line: number | null }

/** Reads YAML nodes and collects issues with their lines. */
export class Reader {
  readonly issues: ConfigIssue[] = [];

  constructor(private readonly doc: Document, private readonly lines: LineCounter) {}

  lineOf(node: unknown): number | null {
    return isNode(node) && node.range ? this.lines.linePos(node.range[0]).line : null;
  }

  report(line: number | null, path: string, message: string): void {
    this.issues.push({ line, path, message });
  }

  /** Runs a parser that throws, turning its error into an issue at the entry. */
  attempt<T>(e: { line: number | null; path: string }, parse: () => T): T | undefined {
    try {
      return parse();
    } catch (err) {
      this.report(e.line, e.path, (err as Error).message);
      return undefined;
    }
  }

  resolve(node: unknown): unknown {
    return isAlias(node) ? (node.resolve(this.doc) ?? null) : node;
  }

  plain(node: unknown): unknown {
    if (isScalar(node)) return node.value;
    return isNode(node) ? node.toJS(this.doc) : null;
  }

  /** The entries of a map node; null for a missing/empty value reads as an empty map. */
  entries(node: unknown, path: string, line: number | null, known?: readonly string[], what = 'a map'): Entry[] | null {
    if (node === null || (isScalar(node) && node.value === null)) return [];
    if (!isMap(node)) {
      this.report(line, path, `expected ${what}, got ${describeValue(this.plain(node))}`);
      return null;
    }
    const out: Entry[] = [];
    for (const pair of node.items) {
      const keyNode = this.resolve(pair.key);
      const keyLine = this.lineOf(pair.key) ?? line;
      const keyValue = isScalar(keyNode) ? keyNode.value : undefined;
      if (keyValue === undefined || keyValue === null || typeof keyValue === 'object') {
        this.report(keyLine, path, 'keys must be plain strings');
        continue;
      }
      const key = String(keyValue);
      const entryPath = join(path, key);
      if (known && !known.includes(key)) {
        this.report(keyLine, entryPath, `unknown key "${key}"${didYouMean(key, known)}`);
        continue;
      }
      out.push({ key, path: entryPath, value: this.resolve(pair.value), keyLine, line: this.lineOf(pair.value) ?? keyLine });
    }
    return out;
  }

  items(node: unknown, path: string, line: number | null, what: string): { node: unknown; path: string; line: number | null }[] | null {
    if (!isSeq(node)) {
      this.report(line, path, `expected ${what}, got ${describeValue(this.plain(node))}`);
      return null;
    }
    return node.items.map((item, i) => ({ node: this.resolve(item), path: join(path, i), line: this.lineOf(item) ?? line }));
  }

  string(e: Entry, nonEmpty = true): string | undefined {
    const value = this.plain(e.value);
    if (typeof value !== 'string') {
      const hint = typeof value === 'number' || typeof value === 'boolean' ? ' (quote it to make it a string)' : '';
      this.report(e.line, e.path, `expected a string, got ${describeValue(value)}${hint}`);
      return undefined;
    }
    if (nonEmpty && value.trim() === '') {
      this.report(e.line, e.path, 'must not be empty');
      return undefined;
    }
    return value;
  }

  /** A scalar as the text the user typed, so `PORT: 0800` stays "0800" rather than becoming 800. */
  scalarText(node: unknown): string | undefined {
    if (!isScalar(node)) return undefined;
    if (typeof node.value === 'string') return node.value;
    if (typeof node.value === 'number' || typeof node.value === 'boolean') return node.source ?? String(node.value);
    return undefined;
  }

  /** One of a fixed, case-sensitive set of words; anything else is reported with the allowed values. */
  oneOf<T extends string>(e: Entry, allowed: readonly T[]): T | undefined {
    const value = this.plain(e.value);
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    const hint = typeof value === 'string' ? didYouMean(value, allowed) : '';
    this.report(e.line, e.path, `expected one of ${allowed.join(', ')}, got ${describeValue(value)}${hint}`);
    return undefined;
  }

  duration(e: Entry, options: DurationOptions = {}): number | undefined {
    return this.attempt(e, () => parseDuration(this.plain(e.value), options));
  }

  stringMap(e: Entry, checkKey: (key: string) => string | null): Record<string, string> {
    const out: Record<string, string> = {};
    for (const entry of this.entries(e.value, e.path, e.line) ?? []) {
      const problem = checkKey(entry.key);
      if (problem) this.report(entry.keyLine, entry.path, problem);
      const text = this.scalarText(entry.value);
      if (text === undefined) {
        this.report(entry.line, entry.path, `expected a string value, got ${describeValue(this.plain(entry.value))}`);
      } else {
        out[entry.key] = text;
      }
    }
    return out;
  }
}

