// Bundles `kubescribe run` (src/cli/run-main.ts and everything it can load: the runner, both sinks,
// the PostgreSQL driver, the config parser) into dist/run-bundle/, which bin/kubescribe.js loads when
// the first argument is `run`. Why: Node's module loader resolves, reads (open, fstat, read, close) and
// compiles each of the run path's ~80 modules and pg's ~30 files one at a time, about a fifth of the
// runner's CPU at start-up (docs/benchmarks.md, "Runner start-up"). ES modules split at every dynamic
// import, rather than one file: what a run does not import is never read or compiled (yaml, ajv and
// croner are 60% of the code and load only with a kubescribe.yaml; pg only on PostgreSQL; the API
// client only through the API), which one CommonJS file of all of it (540 KB) cost again in compiling.
// Every module of ours is in it once, so error classes keep one identity (instanceof holds).
//
// Left out: PGlite's package (the runner opens the embedded RunLog on its worker thread, which loads
// dist/runlog/pglite-thread.js and PGlite from node_modules as before) and pg-native (never used).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE_OPTIONS, REQUIRE_BANNER } from './esbuild-modules.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// import.meta.url, inside the bundle, stands for a module of dist/runlog/: its only users find files
// beside them there (migration-files.ts: migrations/, pglite-engine.ts: pglite-thread.js).
// CommonJS packages bundled into ES modules (pg, commander) require() Node's built-ins: they get a real require.
const BANNER = `${REQUIRE_BANNER} const __kubescribeRunlogModuleUrl = new URL('../runlog/run-bundle.js', import.meta.url).href;`;

/** Builds dist/run-bundle/ (entry: run-main.js); returns its directory. */
export async function buildRunBundle({ outDir = join(ROOT, 'dist/run-bundle') } = {}) {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(ROOT, 'src/cli/run-main.ts')],
    ...BUNDLE_OPTIONS,
    outdir: outDir,
    minify: true,
    legalComments: 'none',
    external: ['pg-native', '@electric-sql/pglite'],
    banner: { js: BANNER },
    define: { 'import.meta.url': '__kubescribeRunlogModuleUrl' },
    // import.meta.resolve is used by pglite-engine.ts only when it runs from TypeScript sources (tests).
    logOverride: { 'empty-import-meta': 'silent' },
    metafile: true,
  });
  const ours = Object.keys(result.metafile.inputs).filter((input) => input.startsWith('src/'));
  const misplaced = ours.filter((input) => !input.startsWith('src/runlog/') && readFileSync(join(ROOT, input), 'utf8').includes('import.meta'));
  if (misplaced.length > 0) throw new Error(`the run bundle maps import.meta.url to dist/runlog/; ${misplaced.join(', ')} would find the wrong files`);
  // A guard against an import that would drag the server in: the runner never needs it.
  const forbidden = Object.keys(result.metafile.inputs).filter((input) =>
    /node_modules\/(fastify|@fastify|@kubernetes|@electric-sql|nodemailer|prom-client)\//.test(input) || /^src\/(api|server|ui|notify)\/|^src\/kubernetes\/client/.test(input));
  if (forbidden.length > 0) throw new Error(`the run bundle must not hold ${forbidden.slice(0, 5).join(', ')}`);
  // Which modules each file holds: how the start-up tests see what `kubescribe run` loads (test/support/run-bundle.ts).
  const contents = Object.fromEntries(Object.entries(result.metafile.outputs).map(([file, output]) => [relative(outDir, join(ROOT, file)), Object.keys(output.inputs)]));
  writeFileSync(join(outDir, 'modules.json'), `${JSON.stringify(contents, null, 1)}\n`);
  return relative(ROOT, outDir);
}
