// Compiles src/ to dist/ and copies the SQL migrations and the UI's views and assets next to the code that reads them.
// Runs on `npm install` (prepare), so a fresh clone's `npx kubescribe` works without a manual build.
// Compiling only strips the types (scripts/esbuild-modules.mjs); `npm run lint` is the type check.
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildVendor } from './build-vendor.mjs';
import { importsAsJs, MODULE_OPTIONS } from './esbuild-modules.mjs';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist');
const VENDOR = join(DIST, 'vendor');

/** The .ts files under `dir`. */
function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

rmSync(DIST, { recursive: true, force: true });
const esbuild = await import('esbuild');
await Promise.all([
  // TypeBox, yaml and the Kubernetes client as one module each (why: scripts/build-vendor.mjs), imported from there.
  buildVendor({ outDir: VENDOR }),
  esbuild.build({
    ...MODULE_OPTIONS,
    entryPoints: sources(SRC),
    outdir: DIST,
    outbase: SRC,
    plugins: [importsAsJs({ outputOf: (source) => join(DIST, relative(SRC, source)), vendorDir: VENDOR })],
    tsconfig: join(ROOT, 'tsconfig.build.json'),
    sourcemap: 'linked',
    sourcesContent: false,
  }),
]);
cpSync(join(SRC, 'runlog/migrations'), join(DIST, 'runlog/migrations'), { recursive: true });
// The web UI's templates and its own CSS/JS are read from next to the code (src/ui/ui-routes.ts, assets.ts).
cpSync(join(SRC, 'ui/views'), join(DIST, 'ui/views'), { recursive: true });
cpSync(join(SRC, 'ui/assets'), join(DIST, 'ui/assets'), { recursive: true });
// `kubescribe run` bundled (why: scripts/build-run-bundle.mjs); bin/kubescribe.js loads it for `run`.
const { buildRunBundle } = await import('./build-run-bundle.mjs');
await buildRunBundle();
// Every other command bundled (why: scripts/build-cli-bundle.mjs); bin/kubescribe.js loads it.
const { buildCliBundle } = await import('./build-cli-bundle.mjs');
await buildCliBundle();
