// Bundles the dependencies whose many small ES modules cost more to load than their code: Node's
// module loader resolves, reads and links each file on its own, and TypeBox is 709 of them (~300 ms of
// CPU to import against ~50 ms bundled), yaml 233 (~85 ms against ~30), the Kubernetes client ~1 s
// against ~0.3 s (docs/benchmarks.md, "Vendored bundles"). Every server start, every `kubescribe apply` or `render`, and every test file
// that builds the API paid it. Each package becomes one ES module in the output directory with the same
// exports; the importers' specifiers are pointed at it (scripts/build.mjs for dist/, build-tests.mjs
// for the tests' mirror), so the package is loaded in one form only and its classes keep one identity.
//
// Not bundled: CommonJS packages (fastify, pg, ajv: their files load far faster, Fastify's plugins check
// the Fastify they are given, and Fastify requires its own ajv), packages that find files of their own
// beside their code (PGlite), and development dependencies (kubernetes-models: `kubescribe render`
// checks manifests with it only where it is installed).
import { join, relative, resolve, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE_OPTIONS, REQUIRE_BANNER } from './esbuild-modules.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The vendored packages: specifier → the bundle's file name in the output directory. */
export const VENDORED = {
  typebox: 'typebox.js',
  yaml: 'yaml.js',
  '@kubernetes/client-node': 'kubernetes-client-node.js',
};


/** Builds one ES module per vendored package into `outDir`. */
export async function buildVendor({ outDir = join(ROOT, 'dist/vendor') } = {}) {
  const esbuild = await import('esbuild');
  const entries = Object.entries(VENDORED);
  await esbuild.build({
    entryPoints: entries.map(([specifier, file]) => ({ in: `vendor:${specifier}`, out: file.replace(/\.js$/, '') })),
    absWorkingDir: ROOT,
    ...BUNDLE_OPTIONS,
    outdir: outDir,
    minify: true,
    legalComments: 'eof',
    // CommonJS inside the Kubernetes client (node-fetch, ws, ...) and yaml require() Node's built-ins.
    banner: { js: REQUIRE_BANNER },
    plugins: [{
      name: 'vendor-entries',
      setup(build) {
        build.onResolve({ filter: /^vendor:/ }, (args) => ({ path: args.path.slice('vendor:'.length), namespace: 'vendor-entry' }));
        // The names are listed, as Node's loader sees them: `export *` would pass on nothing of a CommonJS
        // package (yaml is one). A default export is left out; TypeBox's (its namespace again) is not used,
        // and an import of it would fail at link time, loudly. So is what is no identifier: Node 24 adds a
        // `module.exports` name to a CommonJS package's namespace.
        build.onLoad({ filter: /.*/, namespace: 'vendor-entry' }, async (args) => {
          const names = Object.keys(await import(args.path)).filter((name) => name !== 'default' && /^[A-Za-z_$][\w$]*$/.test(name));
          return { contents: `export { ${names.join(', ')} } from ${JSON.stringify(args.path)};\n`, resolveDir: ROOT, loader: 'js' };
        });
      },
    }],
  });
  return outDir;
}

/** The specifier by which a module at `fromFile` imports the bundle of `specifier` in `vendorDir`. */
export function vendoredSpecifier(specifier, fromFile, vendorDir) {
  const path = relative(dirname(fromFile), join(vendorDir, VENDORED[specifier])).split(sep).join('/');
  return path.startsWith('.') ? path : `./${path}`;
}
