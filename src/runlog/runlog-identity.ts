// Which RunLog a process talks to, as a string two processes can compare without connecting: the
// server file of `kubescribe dev` records it, so `kubescribe run` sends its records to that server
// only when it serves the RunLog this run would otherwise open (never a different DATABASE_URL's).
import { resolve } from 'node:path';

/** `postgres://host:port/database#schema` (no user, no password) or `pglite:<data directory>`. */
export function runLogIdentity(location: { databaseUrl: string | null; databaseSchema: string | null; home: string }): string {
  if (!location.databaseUrl) return `pglite:${resolve(location.home, 'runlog')}`;
  try {
    const url = new URL(location.databaseUrl);
    const schema = location.databaseSchema ?? url.searchParams.get('schema') ?? '';
    return `postgres://${url.hostname || 'localhost'}:${url.port || '5432'}${url.pathname || '/'}#${schema}`;
  } catch {
    return 'postgres:unparseable';
  }
}
