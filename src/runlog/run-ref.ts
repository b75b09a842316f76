// One reading of "which run?" for every entry point (API paths, CLI arguments): a full run id, a
// run number (`report#42`, or `report~42` where `#` would start a URL fragment), or an unambiguous
// prefix of a run id. Run ids are UUIDv7, whose first 8 characters change only every ~65 s, so a
// short prefix is often ambiguous; the run number never is.
import type { Queryable } from './db.ts';
import { findRunByNumber, findRunsByPrefix } from './sql/run-queries.ts';
import { isUuid } from './uuidv7.ts';

/** What `ref` may look like, for error messages. */
export const RUN_REF_FORMS = 'a run id, a run number such as report#42 (or report~42), or at least the first 4 characters of a run id';

// Job names are lowercase DNS labels (src/config/job-name.ts); run numbers start at 1.
const RUN_NUMBER_REF = /^([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)[#~]([1-9][0-9]{0,9})$/;
// A prefix of a run id as the RunLog prints it (8-4-4-4-12 hex digits), dashes where they belong.
const UUID_SHAPE = 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx';
const MIN_PREFIX = 4;
const MAX_RUN_NUMBER = 2_147_483_647;

/** The ref is none of the forms a run can be named by. */
export class InvalidRunRefError extends Error {
  constructor(readonly ref: string) {
    super(`${JSON.stringify(ref)} is not a run reference: expected ${RUN_REF_FORMS}`);
    this.name = 'InvalidRunRefError';
  }
}

/** No run matches the ref. */
export class RunRefNotFoundError extends Error {
  constructor(readonly ref: string) {
    super(`no run ${ref}`);
    this.name = 'RunRefNotFoundError';
  }
}

/** The id prefix matches more than one run; `matches` holds up to three of them, newest first. */
export class AmbiguousRunRefError extends Error {
  constructor(
    readonly ref: string,
    readonly matches: string[],
  ) {
    super(`${ref} matches more than one run (${matches.join(', ')}${matches.length > 2 ? ', …' : ''}): give more of the id, or the run number (job#N)`);
    this.name = 'AmbiguousRunRefError';
  }
}

/** A run reference, read. */
export type ParsedRunRef =
  | { kind: 'id'; runId: string }
  | { kind: 'number'; job: string; runNumber: number }
  | { kind: 'prefix'; prefix: string };

/** The kind of reference `ref` is, without asking the RunLog; null when it is none. */
export function parseRunRef(ref: string): ParsedRunRef | null {
  if (isUuid(ref)) return { kind: 'id', runId: ref.toLowerCase() };
  const numbered = RUN_NUMBER_REF.exec(ref);
  if (numbered && Number(numbered[2]) <= MAX_RUN_NUMBER) return { kind: 'number', job: numbered[1]!, runNumber: Number(numbered[2]) };
  if (isIdPrefix(ref)) return { kind: 'prefix', prefix: ref.toLowerCase() };
  return null;
}

function isIdPrefix(ref: string): boolean {
  if (ref.length < MIN_PREFIX || ref.length >= UUID_SHAPE.length) return false;
  return [...ref].every((char, i) => (UUID_SHAPE[i] === '-' ? char === '-' : /[0-9a-f]/i.test(char)));
}

/**
 * The run id `ref` names. A full run id is returned as given, without a query (the caller's own read
 * finds out whether it exists); a run number or a prefix is looked up, and throws
 * RunRefNotFoundError or AmbiguousRunRefError when it names no run or several. Malformed: InvalidRunRefError.
 */
export async function resolveRunRef(db: Queryable, ref: string): Promise<string> {
  const parsed = parseRunRef(ref);
  if (parsed === null) throw new InvalidRunRefError(ref);
  if (parsed.kind === 'id') return parsed.runId;
  if (parsed.kind === 'number') {
    const runId = await findRunByNumber(db, parsed.job, parsed.runNumber);
    if (runId === null) throw new RunRefNotFoundError(ref);
    return runId;
  }
  const matches = await findRunsByPrefix(db, parsed.prefix, 3);
  if (matches.length === 0) throw new RunRefNotFoundError(ref);
  if (matches.length > 1) throw new AmbiguousRunRefError(ref, matches);
  return matches[0]!;
}

/** `job#N`: how lists and details show a run's number. */
export function runLabel(run: { job: string; run_number: number }): string {
  return `${run.job}#${run.run_number}`;
}
