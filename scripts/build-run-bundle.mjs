// Bundles `kubescribe run` (src/cli/run-main.ts and everything it can load: the runner, both sinks,
// the PostgreSQL driver, the config parser) into one CommonJS file, dist/cli/run.bundle.cjs, which
// bin/kubescribe.js loads when the first argument is `run`. Why: Node's ES module loader resolves,
// reads (open, fstat, read, close) and compiles each of the run path's ~80 modules and pg's ~30 files one
// at a time; in one file that overhead was a third of the runner's start-up (docs/benchmarks.md,
// "Runner start-up"). Modules the file holds are evaluated only when imported, as before (esbuild wraps
// each lazily imported one), so a run through the API still runs no database driver.
//
// Left out: PGlite's package (the runner opens the embedded RunLog on its worker thread, which loads
// dist/runlog/pglite-thread.js and PGlite from node_modules as before) and pg-native (never used).
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// import.meta.url, inside the bundle, stands for a module of dist/runlog/: its only users find files
// beside them there (migration-files.ts: migrations/, pglite-engine.ts: pglite-thread.js).
const RUNLOG_DIR_URL = "require('node:url').pathToFileURL(require('node:path').join(__dirname, '..', 'runlog', 'run.bundle.cjs')).href";

/** Builds dist/cli/run.bundle.cjs; returns its path. */
export async function buildRunBundle({ outFile = join(ROOT, 'dist/cli/run.bundle.cjs') } = {}) {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(ROOT, 'src/cli/run-main.ts')],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // import() of the file's own modules becomes a lazy initialiser, of Node's built-ins a require().
    supported: { 'dynamic-import': false },
    minify: true,
    keepNames: true,
    legalComments: 'none',
    external: ['pg-native', '@electric-sql/pglite'],
    banner: { js: `const __kubescribeRunlogModuleUrl = ${RUNLOG_DIR_URL};` },
    define: { 'import.meta.url': '__kubescribeRunlogModuleUrl' },
    logLevel: 'warning',
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
  return relative(ROOT, outFile);
}
