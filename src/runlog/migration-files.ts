// Where the migration SQL comes from: the `migrations/` directory next to this module. The
// single-file runner (scripts/build-runner.mjs) replaces this module with one holding the same
// files as strings, since it has no directory beside it.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The shipped migrations directory. */
export function migrationsDir(): string {
  return fileURLToPath(new URL('./migrations/', import.meta.url));
}

/** The names of the `.sql` files of `dir` (default: the shipped ones), sorted. */
export function migrationFileNames(dir: string = migrationsDir()): string[] {
  return readdirSync(dir).filter((file) => file.endsWith('.sql')).sort();
}

/** The `.sql` files of `dir` (default: the shipped ones), sorted by name. */
export function readMigrationFiles(dir: string = migrationsDir()): { file: string; sql: string }[] {
  return migrationFileNames(dir).map((file) => ({ file, sql: readFileSync(`${dir}/${file}`, 'utf8') }));
}
