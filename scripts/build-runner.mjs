// Builds the single-file runner, dist/runner/kubescribe: `kubescribe run` and nothing else, as one
// executable that needs no Node.js, no node_modules and no shell in the image it runs in. The init
// container of every job pod copies it into a shared emptyDir (docs/kubernetes.md, "The injected runner").
//
// How: esbuild bundles src/cli/runner-bin.ts and what it imports into one CommonJS file (Node 20's
// single executable applications take a CommonJS script only), then Node's SEA support turns it into
// a blob (`node --experimental-sea-config`) that postject injects into a copy of this node binary.
// The executable is thus the node binary it was built with (~99 MB on Node 20, ~120 MB on Node 24)
// plus the bundle (~1 MB): the binary is the weight, and any runner that needs no runtime in the
// user's image carries one. It links against glibc like the official node binary (see the guide for
// Alpine/musl).
//
// Left out of the bundle: PGlite (a pod records through the API or PostgreSQL, never an embedded
// RunLog), pg-native (pg's optional native binding; the pure-JS driver is bundled), the API server
// and the Kubernetes client (never imported by `run`).
//
//   node scripts/build-runner.mjs              → dist/runner/runner.cjs and dist/runner/kubescribe
//   node scripts/build-runner.mjs --bundle-only → dist/runner/runner.cjs (run it with any node 20+)
//   --out DIR                                   → write into DIR instead of dist/runner
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const bundleOnly = args.includes('--bundle-only');
const outIndex = args.indexOf('--out');
const out = resolve(outIndex >= 0 ? args[outIndex + 1] : join(ROOT, 'dist/runner'));
// The fuse Node looks for to know a blob was injected (node/src/node_sea.cc).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Builds the bundle (and the executable unless bundleOnly); returns the paths written. */
export async function buildRunner({ outDir = out, executable = !bundleOnly } = {}) {
  const esbuild = await import('esbuild');
  mkdirSync(outDir, { recursive: true });
  const bundle = join(outDir, 'runner.cjs');
  const migrationsDir = join(ROOT, 'src/runlog/migrations');
  const result = await esbuild.build({
    entryPoints: [join(ROOT, 'src/cli/runner-bin.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // A SEA's main script cannot import() (Node 20: "A dynamic import callback was not specified"),
    // and esbuild keeps import() of Node's built-ins (the API client's `import('node:https')`): as require().
    supported: { 'dynamic-import': false },
    minify: true,
    keepNames: true,
    legalComments: 'none',
    // pg's optional native binding, required only by `pg.native`, which KubeScribe never touches.
    external: ['pg-native'],
    logLevel: 'warning',
    // import.meta is empty in CommonJS: its two users are replaced below (migrations) or never reached
    // (PGlite's worker thread: the runner refuses the embedded RunLog before opening it).
    logOverride: { 'empty-import-meta': 'silent' },
    metafile: true,
    plugins: [{
      name: 'kubescribe-runner',
      setup(build) {
        // The migration files, as strings: `runner_runlog: direct` may have to create the schema.
        build.onResolve({ filter: /migration-files\.ts$/ }, (a) => ({ path: resolve(a.resolveDir, a.path), namespace: 'migrations' }));
        build.onLoad({ filter: /.*/, namespace: 'migrations' }, () => {
          const files = readdirSync(migrationsDir).filter((file) => file.endsWith('.sql')).sort()
            .map((file) => ({ file, sql: readFileSync(join(migrationsDir, file), 'utf8') }));
          return {
            loader: 'js',
            contents: `const FILES = ${JSON.stringify(files)};
export function migrationsDir() { return '(built into the runner)'; }
export function readMigrationFiles(dir) {
  if (dir !== undefined) throw new Error('the single-file runner reads only its built-in migrations');
  return FILES.map((f) => ({ ...f }));
}
export function migrationFileNames(dir) {
  if (dir !== undefined) throw new Error('the single-file runner reads only its built-in migrations');
  return FILES.map((f) => f.file);
}`,
          };
        });
        // The embedded RunLog: never opened here (see runner-main.ts); a clear error if it ever is.
        build.onResolve({ filter: /^@electric-sql\/pglite$/ }, () => ({ path: 'pglite', namespace: 'no-pglite' }));
        build.onLoad({ filter: /.*/, namespace: 'no-pglite' }, () => ({
          loader: 'js',
          contents: `const refuse = () => { throw new Error('the single-file runner has no embedded RunLog (PGlite): set KUBESCRIBE_API_URL or DATABASE_URL'); };
export const types = {};
export class PGlite { static create() { refuse(); } constructor() { refuse(); } }`,
        }));
      },
    }],
  });
  const inputs = Object.keys(result.metafile.inputs);
  // What must never be in it: a guard against an import that would drag the server in.
  const forbidden = inputs.filter((input) => /node_modules\/(fastify|@fastify|@kubernetes|@electric-sql|nodemailer)\//.test(input) || /src\/(api|server)\/|src\/kubernetes\/client/.test(input));
  if (forbidden.length > 0) throw new Error(`the runner bundle must not hold ${forbidden.slice(0, 5).join(', ')}`);
  if (!executable) return { bundle };

  const blob = join(outDir, 'runner.blob');
  const seaConfig = join(outDir, 'sea-config.json');
  // useCodeCache: V8's compiled code for the bundle goes into the blob, which saves compiling it at
  // every start (the blob is only valid for the node binary that made it, which is the one it goes into).
  writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }));
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exe = join(outDir, 'kubescribe');
  rmSync(exe, { force: true });
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  const { inject } = require('postject');
  await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
  rmSync(blob, { force: true });
  rmSync(seaConfig, { force: true });
  return { bundle, executable: exe };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const written = await buildRunner();
  for (const path of Object.values(written)) process.stderr.write(`${path}\n`);
  process.stderr.write(`built in ${Date.now() - started} ms\n`);
}
