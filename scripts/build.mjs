// Compiles src/ to dist/ and copies the SQL migrations and the UI's views and assets next to the code that reads them.
// Runs on `npm install` (prepare), so a fresh clone's `npx kubescribe` works without a manual build.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
cpSync('src/runlog/migrations', 'dist/runlog/migrations', { recursive: true });
// The web UI's templates and its own CSS/JS are read from next to the code (src/ui/ui-routes.ts, assets.ts).
cpSync('src/ui/views', 'dist/ui/views', { recursive: true });
cpSync('src/ui/assets', 'dist/ui/assets', { recursive: true });
// `kubescribe run` bundled (why: scripts/build-run-bundle.mjs); bin/kubescribe.js loads it for `run`.
const { buildRunBundle } = await import('./build-run-bundle.mjs');
await buildRunBundle();
// Every other command bundled (why: scripts/build-cli-bundle.mjs); bin/kubescribe.js loads it.
const { buildCliBundle } = await import('./build-cli-bundle.mjs');
await buildCliBundle();
