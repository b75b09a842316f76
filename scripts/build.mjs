// Compiles src/ to dist/ and copies the SQL migrations and the UI's views and assets next to the code that reads them.
// Runs on `npm install` (prepare), so a fresh clone's `npx kubescribe` works without a manual build.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { buildVendor, importVendored } from './build-vendor.mjs';

const require = createRequire(import.meta.url);
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
cpSync('src/runlog/migrations', 'dist/runlog/migrations', { recursive: true });
// The web UI's templates and its own CSS/JS are read from next to the code (src/ui/ui-routes.ts, assets.ts).
cpSync('src/ui/views', 'dist/ui/views', { recursive: true });
cpSync('src/ui/assets', 'dist/ui/assets', { recursive: true });
// TypeBox and the Kubernetes client as one module each (why: scripts/build-vendor.mjs), imported from there.
const vendorDir = resolve(await buildVendor());
const compiled = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
  const path = join(dir, entry.name);
  if (entry.isDirectory()) return path === vendorDir ? [] : compiled(path);
  return entry.name.endsWith('.js') ? [path] : [];
});
for (const file of compiled(resolve('dist'))) {
  const source = readFileSync(file, 'utf8');
  const pointed = importVendored(source, file, vendorDir);
  if (pointed !== source) writeFileSync(file, pointed);
}
// `kubescribe run` bundled (why: scripts/build-run-bundle.mjs); bin/kubescribe.js loads it for `run`.
const { buildRunBundle } = await import('./build-run-bundle.mjs');
await buildRunBundle();
