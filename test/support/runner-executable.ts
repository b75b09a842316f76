// The real single-file runner (scripts/build-runner.mjs) for the tests that run it. Building it takes
// ~7 s (esbuild ~0.5 s; copying and injecting into a ~100 MB node binary the rest), so it is built once
// into the system's temporary directory, keyed by a hash of what goes into it — the sources, the
// build script, the lockfile and this node binary — and reused until one of them changes.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './cli.ts';

/** Why the executable cannot be built here (postject missing), or null. */
export function runnerExecutableUnavailable(): string | null {
  try {
    createRequire(join(REPO_ROOT, 'package.json')).resolve('postject');
    return null;
  } catch {
    return 'postject is not installed (a devDependency: npm install), so the single-file runner cannot be built';
  }
}

function files(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

/** The source hash the cached executable is keyed by. */
export function runnerSourceHash(): string {
  const hash = createHash('sha256').update(process.execPath).update(process.version);
  for (const file of [...files(join(REPO_ROOT, 'src')), join(REPO_ROOT, 'scripts/build-runner.mjs'), join(REPO_ROOT, 'package-lock.json')]) {
    hash.update(relative(REPO_ROOT, file)).update('\0').update(readFileSync(file));
  }
  return hash.digest('hex').slice(0, 16);
}

/** The path of the single-file runner for the current sources, building it when the cache has none. */
export function runnerExecutable(): string {
  const dir = join(tmpdir(), `kubescribe-runner-${runnerSourceHash()}`);
  const exe = join(dir, 'kubescribe');
  if (existsSync(exe)) return exe;
  // Built beside, then renamed: two test files building at once never see a half-written file.
  // Executables of older sources (~100-130 MB each) go once they are an hour old: another checkout
  // sharing this temporary directory may be using a newer one of its own.
  for (const name of readdirSync(tmpdir())) {
    const path = join(tmpdir(), name);
    if (!/^kubescribe-runner-[0-9a-f]{16}(\.\d+\.tmp)?$/.test(name) || path === dir) continue;
    try {
      if (Date.now() - statSync(path).mtimeMs > 3_600_000) rmSync(path, { recursive: true, force: true });
    } catch {
      // Gone already.
    }
  }
  const building = `${dir}.${process.pid}.tmp`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts/build-runner.mjs'), '--out', building], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    renameSync(building, dir);
  } catch (error) {
    // Another process got there first: its build is as good as ours.
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(exe)) throw error;
  }
  return exe;
}
