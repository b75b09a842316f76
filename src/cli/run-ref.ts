// How the CLI turns what a person typed (a run id, or the first characters of one) into a run id.
// The one place for that rule, whichever source answers: the RunLog and the API only supply the
// lookup of ids by prefix.
import { isUuid } from '../runlog/uuidv7.ts';
import { UsageError } from './errors.ts';

/** Finds up to `limit` run ids starting with `prefix`, newest first. */
export type FindRunsByPrefix = (prefix: string, limit: number) => Promise<string[]>;

/**
 * Resolves a run reference as `kubescribe runs` prints it: a full run id, or a unique prefix of one
 * (at least 4 characters). `where` says what was searched, for the message when nothing matches.
 */
export async function resolveRunRef(ref: string, findByPrefix: FindRunsByPrefix, where = ''): Promise<string> {
  if (isUuid(ref)) return ref.toLowerCase();
  if (!/^[0-9a-f-]{4,36}$/i.test(ref)) throw new UsageError(`${ref}: expected a run id (a UUID, or at least its first 4 characters)`);
  const matches = await findByPrefix(ref.toLowerCase(), 2);
  if (matches.length === 0) throw new UsageError(`no run with an id starting ${ref}${where}`);
  if (matches.length > 1) throw new UsageError(`${ref} matches more than one run; give more of the id`);
  return matches[0]!;
}
