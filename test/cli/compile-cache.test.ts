// Where V8's compile cache lives (bin/kubescribe.js; docs/runner.md, "Start-up and V8's compile
// cache"): compile-cache/ beside bin/ when an image built one, else Node's default. On Node 20, which
// has no compile cache, bin/ must start as before and write nothing anywhere.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../support/cli.ts';

/** Every file under `dir`, recursively (none when it does not exist). */
function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name);
  } catch {
    return [];
  }
}

test('kubescribe keeps its compile cache in compile-cache/ beside bin/ when it exists, else where Node says', () => {
  // An install of its own (bin/, dist/, package.json; node_modules linked), so the repository's is never touched.
  const root = mkdtempSync(join(tmpdir(), 'ks-compile-cache-'));
  try {
    const install = join(root, 'install');
    mkdirSync(install);
    for (const part of ['bin', 'dist', 'package.json']) cpSync(join(REPO_ROOT, part), join(install, part), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(install, 'node_modules'));
    // Node's default place is node-compile-cache/ in the temp directory: a temp directory of the test's own.
    const temp = join(root, 'tmp');
    mkdirSync(temp);
    const defaultCache = join(temp, 'node-compile-cache');
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: temp };
    delete env.NODE_COMPILE_CACHE;
    delete env.NODE_DISABLE_COMPILE_CACHE;
    const help = () => spawnSync(process.execPath, [join(install, 'bin/kubescribe.js'), '--help'], { cwd: root, encoding: 'utf8', env });

    const withoutBuilt = help();
    assert.equal(withoutBuilt.status, 0, withoutBuilt.stderr);
    assert.match(withoutBuilt.stdout, /Usage: kubescribe/);
    // @types/node for Node 20 does not know it; Node >= 22.1 has it.
    const hasCache = 'enableCompileCache' in module;
    // No compile-cache/ in the install: Node's default place on Node >= 22.1; nothing anywhere on Node 20.
    assert.equal(filesUnder(defaultCache).length > 0, hasCache, `default place written: ${filesUnder(defaultCache).length} files`);

    rmSync(defaultCache, { recursive: true, force: true });
    mkdirSync(join(install, 'compile-cache'));
    const withBuilt = help();
    assert.equal(withBuilt.status, 0, withBuilt.stderr);
    assert.equal(filesUnder(join(install, 'compile-cache')).length > 0, hasCache, 'the install’s compile-cache/ is used');
    assert.deepEqual(filesUnder(defaultCache), [], 'and nothing in the default place');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
