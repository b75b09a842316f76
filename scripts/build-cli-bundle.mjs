// Bundles the CLI (src/cli/main.ts and everything it can load) into dist/cli-bundle/, which
// bin/kubescribe.js loads for every command but `run` (that one has its own, build-run-bundle.mjs).
// Why: `kubescribe serve` loaded ~1,090 files, ~600 of them ES modules that Node 20's loader resolves,
// reads and links one at a time: ~370 of TypeBox's (an `import 'typebox'` alone cost ~400 ms of CPU,
// the same code as one file ~40 ms) and ~200 of ours. Bundled, serve loads ~590 files and its start
// costs ~25% less CPU (docs/benchmarks.md, "serve and dev start-up").
// ES modules split at every dynamic import, as the run bundle: a command loads only its own chunks.
// Packages stay external: in node_modules (Fastify's plugins find files beside their own, swagger-ui's
// static files; ajv or semver bundled would load twice, once here and once for Fastify or its plugins),
// or, for TypeBox, yaml and the Kubernetes client, in dist/vendor/ (scripts/build-vendor.mjs), which
// dist/'s modules import too. Every module of ours is in it once, so error classes keep one identity
// (instanceof holds). dist/ keeps the compiled modules: PGlite's worker thread loads
// dist/runlog/pglite-thread.js from it.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VENDORED, vendoredSpecifier } from './build-vendor.mjs';
import { BUNDLE_OPTIONS, REQUIRE_BANNER } from './esbuild-modules.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Builds dist/cli-bundle/ (entry: main.js); returns its directory. */
export async function buildCliBundle({ outDir = join(ROOT, 'dist/cli-bundle'), vendorDir = join(ROOT, 'dist/vendor') } = {}) {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(ROOT, 'src/cli/main.ts')],
    ...BUNDLE_OPTIONS,
    outdir: outDir,
    legalComments: 'none',
    // CommonJS code bundled into ES modules may require() Node's built-ins.
    banner: { js: REQUIRE_BANNER },
    // import.meta.resolve is used by pglite-engine.ts only when it runs from TypeScript sources (tests).
    logOverride: { 'empty-import-meta': 'silent' },
    metafile: true,
    plugins: [{
      name: 'kubescribe-cli-bundle',
      setup(build) {
        build.onResolve({ filter: /^[^./]/ }, (args) => {
          if (args.path.startsWith('node:')) return undefined;
          // Every chunk is in outDir: one relative path to the vendored bundle serves them all.
          if (Object.hasOwn(VENDORED, args.path)) return { path: vendoredSpecifier(args.path, join(outDir, 'main.js'), vendorDir), external: true };
          return { path: args.path, external: true };
        });
        // A module of ours that finds files beside it (the UI's views and assets, the migrations, PGlite's
        // thread, the Grafana dashboard) gets the URL its file has in dist/, where those files are.
        build.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
          const source = readFileSync(args.path, 'utf8');
          if (!source.includes('import.meta.url')) return { contents: source, loader: 'ts' };
          const inDist = join(ROOT, 'dist', relative(join(ROOT, 'src'), args.path)).replace(/\.ts$/, '.js');
          const url = `new URL(${JSON.stringify(relative(outDir, inDist).split('\\').join('/'))}, import.meta.url).href`;
          return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
        });
      },
    }],
  });
  // Which modules each file holds: how the start-up tests see what a command loads (test/support/run-bundle.ts).
  const contents = Object.fromEntries(Object.entries(result.metafile.outputs).map(([file, output]) => [relative(outDir, join(ROOT, file)), Object.keys(output.inputs)]));
  writeFileSync(join(outDir, 'modules.json'), `${JSON.stringify(contents, null, 1)}\n`);
  return relative(ROOT, outDir);
}
