// How scripts/build.mjs (src/ → dist/) and scripts/build-tests.mjs (src/ and test/ → the tests' mirror)
// compile TypeScript: file by file, every import left an import. esbuild only strips the types (the
// type check is `npm run lint`, tsc over the whole tree), in ~1 s where tsc took 15-20 s of CPU to
// check src/ once more and emit it.
import { VENDORED, vendoredSpecifier } from './build-vendor.mjs';

/**
 * An esbuild plugin that keeps every import external: a relative one of a .ts file becomes one of the
 * .js file compiled beside it (as tsc's rewriteRelativeImportExtensions would), and a vendored package
 * (scripts/build-vendor.mjs) is imported from its bundle in `vendorDir`. `outputOf(source)` is where the
 * compiled file of a source file goes.
 */
export function importsAsJs({ outputOf, vendorDir }) {
  return {
    name: 'imports-as-js',
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === 'entry-point') return undefined;
        if (/^\.\.?\//.test(args.path) && args.path.endsWith('.ts')) return { path: `${args.path.slice(0, -3)}.js`, external: true };
        if (Object.hasOwn(VENDORED, args.path)) return { path: vendoredSpecifier(args.path, outputOf(args.importer), vendorDir), external: true };
        return { path: args.path, external: true };
      });
    },
  };
}

/** The options both builds share: ES modules for Node 20, one output file per source file. */
export const MODULE_OPTIONS = {
  // Bundling is what lets the plugin see each import; it leaves every one external.
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Bundling renames a top-level name that shadows an import; names stay as written.
  keepNames: true,
  logLevel: 'warning',
};

/** The options the bundles share (run, CLI, vendored packages): ES modules split into chunks at each dynamic import. */
export const BUNDLE_OPTIONS = { ...MODULE_OPTIONS, splitting: true, chunkNames: 'chunk-[hash]' };

/** A bundle's first line where it holds CommonJS code, which require()s Node's built-ins: a real require. */
export const REQUIRE_BANNER = "import { createRequire as __kubescribeCreateRequire } from 'node:module'; const require = __kubescribeCreateRequire(import.meta.url);";
