// Compiles src/ and test/ to JavaScript once per suite run, so that the test files' processes start
// without tsx. Under tsx every module a test process loads, Node's and the packages' included, goes
// through its loader hooks on Node 20's hooks thread, and each TypeScript file through its cache:
// importing the server and the CLI cost ~3.5 s of CPU that way against ~1.2 s as JavaScript (even
// hooks that only pass every call on cost ~0.9 s of it), and the suite starts ~135 test processes
// (docs/benchmarks.md, "Test files as JavaScript").
//
// The output is a mirror of the checkout in a temporary directory: each .ts file of src/ and test/
// beside its .js, every other file and top-level entry (docs/, deploy/, node_modules/, bin/, ...) a
// link to the original, so that paths a test builds from import.meta.url ('../../docs/x.md',
// src/runlog/migrations/, a .ts file it hands to a tsx child process) find what they found before.
// The test processes still run in the checkout, and test/support/cli.ts's REPO_ROOT is the checkout's.
// Source maps point at the original .ts files: with --enable-source-maps, stacks show their lines.
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildVendor } from './build-vendor.mjs';
import { importsAsJs, MODULE_OPTIONS } from './esbuild-modules.mjs';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
// Compiled, file by file; everything else at the top is linked as it is.
const COMPILED = ['src', 'test'];
const SKIPPED = new Set(['.git']);

/** Links every file under `from` into `to` (real directories, linked files), returning the .ts files. */
function mirror(from, to) {
  mkdirSync(to, { recursive: true });
  const sources = [];
  for (const name of readdirSync(from)) {
    const path = join(from, name);
    if (statSync(path).isDirectory()) {
      sources.push(...mirror(path, join(to, name)));
      continue;
    }
    // The .ts files are linked too: tests hand some to tsx child processes by path.
    symlinkSync(path, join(to, name));
    if (name.endsWith('.ts') && !name.endsWith('.d.ts')) sources.push(path);
  }
  return sources;
}

// In the mirror, beside src/ and test/; no checkout has a directory of this name.
const VENDOR_DIR = '.vendor';

/**
 * Builds the mirror in a new temporary directory and returns it: `dir`, `compiled(file)` (a test
 * file's path in the checkout to its .js in the mirror) and `remove()`.
 */
export async function buildTests() {
  const esbuild = await import('esbuild');
  // Real paths: source maps then name the files as the checkout's processes see them.
  const root = realpathSync(ROOT);
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'kubescribe-test-js-')));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    const sources = [];
    for (const name of readdirSync(root)) {
      if (SKIPPED.has(name)) continue;
      if (COMPILED.includes(name)) sources.push(...mirror(join(root, name), join(dir, name)));
      else symlinkSync(join(root, name), join(dir, name));
    }
    await Promise.all([buildVendor({ outDir: join(dir, VENDOR_DIR) }), esbuild.build({
      ...MODULE_OPTIONS,
      entryPoints: sources,
      outdir: dir,
      outbase: root,
      // Each file's imports as written, .ts made .js; TypeBox, yaml and the Kubernetes client from their
      // bundles in the mirror, as dist/ imports them from dist/vendor/.
      plugins: [importsAsJs({ outputOf: (source) => join(dir, relative(root, source)), vendorDir: join(dir, VENDOR_DIR) })],
      tsconfig: join(root, 'tsconfig.json'),
      // Linked, not inline: a process reads the map of a file only when it loads it.
      sourcemap: 'linked',
      sourcesContent: false,
    })]);
  } catch (error) {
    remove();
    throw error;
  }
  const compiled = (file) => {
    const inside = relative(root, realpathSync(resolve(file)));
    if (inside.startsWith(`..${sep}`) || !inside.endsWith('.ts')) throw new Error(`build-tests: ${file} is not a .ts file of this checkout`);
    return join(dir, `${inside.slice(0, -3)}.js`);
  };
  return { dir, compiled, remove };
}
