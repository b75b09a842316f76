// A freshly migrated PGlite data directory, built once per machine and copied into each test's
// home. PGlite's initdb plus the migrations cost ~6 s of CPU per RunLog; a copy costs ~0.3 s, and
// a copy of a migrated directory is exactly what a fresh open would have left behind.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openRunLogDb, pgliteDataDir } from '../../src/runlog/open-runlog.ts';
import { PGLITE_OPTIONS } from '../../src/runlog/pglite-options.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../src/runlog/migrations/', import.meta.url));
// Read as a file: the package's exports do not include its package.json.
const PGLITE_PACKAGE = fileURLToPath(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url));

/** What the template's contents depend on: a change to any of them builds a new template. */
function templateKey(): string {
  const hash = createHash('sha256');
  const pglite = JSON.parse(readFileSync(PGLITE_PACKAGE, 'utf8')) as { version: string };
  hash.update(`pglite ${pglite.version}\n${JSON.stringify(PGLITE_OPTIONS.postgresqlconf ?? [])}\n`);
  for (const file of readdirSync(MIGRATIONS_DIR).sort()) hash.update(`${file}\n`).update(readFileSync(join(MIGRATIONS_DIR, file)));
  return hash.digest('hex').slice(0, 16);
}

let building: Promise<string> | null = null;

/** The template's path, building it first if no test process on this machine has yet. */
function template(): Promise<string> {
  building ??= (async () => {
    const path = join(tmpdir(), `kubescribe-test-pglite-${templateKey()}`);
    if (existsSync(path)) return path;
    // Built aside and renamed into place, so that a concurrent test process never copies a half-built one.
    const scratch = mkdtempSync(join(tmpdir(), 'ks-pglite-template-'));
    try {
      const db = await openRunLogDb({ databaseUrl: null, databaseSchema: null, home: scratch });
      await db.close();
      try {
        renameSync(pgliteDataDir(scratch), path);
      } catch (error) {
        // Another test process finished its template first; theirs is as good as ours.
        if (!existsSync(path)) throw error;
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    return path;
  })();
  return building;
}

/** Puts a freshly migrated PGlite RunLog into `home`, as the first open there would have created it. */
export async function seedPgliteRunLog(home: string): Promise<void> {
  cpSync(await template(), pgliteDataDir(home), { recursive: true });
}
