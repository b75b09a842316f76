// The single-file runner's bundle (scripts/build-runner.mjs --bundle-only, ~1 s): `kubescribe run` and
// its sinks in one CommonJS file that runs from a directory without node_modules; the pure-JS pg driver
// inside, its optional native binding and the server outside. The executable made from it is run end to
// end in test/kubernetes/e2e-injected.test.ts.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../support/cli.ts';

describe('the single-file runner bundle', () => {
  let out = '';
  let empty = '';
  let bundle = '';
  before(() => {
    out = mkdtempSync(join(tmpdir(), 'ks-runner-bundle-'));
    empty = mkdtempSync(join(tmpdir(), 'ks-no-node-modules-'));
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts/build-runner.mjs'), '--bundle-only', '--out', out], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    bundle = join(out, 'runner.cjs');
  });
  after(() => {
    rmSync(out, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  });
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [bundle, ...args], { cwd: empty, env: { PATH: '/usr/bin:/bin', ...env }, encoding: 'utf8' });

  it('holds pg but requires pg-native only if asked (never), and none of the server, PGlite or the Kubernetes client', () => {
    const text = readFileSync(bundle, 'utf8');
    assert.match(text, /require\("pg-native"\)/);
    assert.match(text, /SCRAM-SHA-256/); // pg's authentication, bundled
    for (const absent of ['fastify', '@kubernetes/client-node', 'KubeConfig', 'pglite.wasm', 'nodemailer']) assert.ok(!text.includes(absent), absent);
    // No import(): a single executable application's main script cannot import().
    assert.doesNotMatch(text.replace(/`import\(\$\{[^`]*`/g, ''), /[^\w.$]import\(/);
  });

  it('runs from a directory without node_modules: only `run`', () => {
    const help = run(['--help']);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /run \[options\] \[command\.\.\.\]/);
    assert.doesNotMatch(help.stdout, /serve|migrate|render/);
    assert.equal(run(['--version']).stdout.trim(), '0.1.0');
    assert.equal(run(['serve']).status, 2);
  });

  it('refuses to run with nowhere to record (it has no embedded RunLog), before starting the command', () => {
    const result = run(['run', '--', 'sh', '-c', 'echo started']);
    assert.equal(result.status, 2);
    assert.doesNotMatch(result.stdout, /started/);
    assert.match(result.stderr, /records through the KubeScribe API \(KUBESCRIBE_API_URL.*or in PostgreSQL \(DATABASE_URL\)/);
  });

  it('with KUBESCRIBE_API_URL and no credential, says which to set', () => {
    const api = run(['run', '--', 'true'], { KUBESCRIBE_API_URL: 'http://127.0.0.1:9' });
    assert.equal(api.status, 2);
    assert.match(api.stderr, /KUBESCRIBE_API_URL is set but no credential is/);
  });
});
