// A real `kubescribe dev` follows its kubescribe.yaml while it runs: an added job can be triggered,
// a changed job gets a new revision, a broken file is reported with file:line while the previous
// config keeps running. `kubescribe serve` reloads only when sent SIGHUP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, waitFor } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type Engine, type TestRunLog } from '../support/runlog-engines.ts';
import { spawnServer, type SpawnedServer } from './support.ts';

const JOB_A = 'jobs:\n  a:\n    command: [echo, a]\n';
const JOB_A_B = `${JOB_A}  b:\n    command: [echo, b]\n`;

/** Saves the way editors do: a new file renamed over the old one. */
function save(dir: string, text: string): void {
  writeFileSync(join(dir, '.kubescribe.yaml.tmp'), text);
  renameSync(join(dir, '.kubescribe.yaml.tmp'), join(dir, 'kubescribe.yaml'));
}

async function setUp(engine: Engine): Promise<{ runlog: TestRunLog; dir: string }> {
  const runlog = await createTestRunLog(engine);
  const dir = mkdtempSync(join(tmpdir(), 'ks-reload-'));
  writeFileSync(join(dir, 'kubescribe.yaml'), JOB_A);
  return { runlog, dir };
}

function api(server: SpawnedServer, token: string) {
  return async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
}

describe('dev follows kubescribe.yaml', () => {
  let runlog: TestRunLog;
  let dir: string;
  let server: SpawnedServer;
  before(async () => {
    ({ runlog, dir } = await setUp('pglite'));
    server = await spawnServer(['dev', '--port', '0', '--no-scheduler'], { cwd: dir, env: runlog.env });
  });
  after(async () => {
    await server.kill();
    await runlog.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an added job is triggered once the file is saved; a broken file is reported and the old config keeps running', async () => {
    const call = api(server, readFileSync(join(runlog.home, 'token'), 'utf8').trim());
    const before = await call('POST', '/runs/trigger', { job: 'b' });
    assert.equal(before.status, 404);
    assert.match(JSON.stringify(before.body), /not declared in the kubescribe.yaml this server loaded .*reloads the file when it changes/);

    save(dir, JOB_A_B);
    await waitFor(() => /reloaded kubescribe\.yaml \(the file changed\): 2 jobs; new or changed: b \(revision 1\)/.test(server.stderr()), 30_000, 'the reload');
    const triggered = await call('POST', '/runs/trigger', { job: 'b' });
    assert.ok(triggered.status < 300, JSON.stringify(triggered.body));

    save(dir, JOB_A_B.replace('[echo, b]', '[echo, b2]'));
    await waitFor(() => /new or changed: b \(revision 2\)/.test(server.stderr()), 30_000, 'the new revision');

    save(dir, `${JOB_A_B}  c:\n    command: 5\n`);
    await waitFor(() => /kubescribe\.yaml not reloaded \(the file changed\); the previous config keeps running:\n.*kubescribe\.yaml:\d+/.test(server.stderr()), 30_000, 'the config error with file:line');
    const still = await call('POST', '/runs/trigger', { job: 'b' });
    assert.ok(still.status < 300, JSON.stringify(still.body));
    assert.equal((await call('GET', '/jobs/c')).status, 404);
  });
});

describe(`serve reloads on SIGHUP (${ENGINES.at(-1)})`, () => {
  let runlog: TestRunLog;
  let dir: string;
  let server: SpawnedServer;
  let token: string;
  before(async () => {
    ({ runlog, dir } = await setUp(ENGINES.at(-1)!));
    const created = await runCli(['tokens', 'create', '--name', 'reload', '--scope', 'admin', '--runlog'], { env: runlog.env });
    assert.equal(created.code, 0, created.err);
    token = created.out.trim();
    server = await spawnServer(['serve', '--port', '0', '--no-scheduler'], { cwd: dir, env: runlog.env });
  });
  after(async () => {
    await server.kill();
    await runlog.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an edited file is not picked up until SIGHUP, then it is', async () => {
    const call = api(server, token);
    save(dir, JOB_A_B);
    // serve does not watch: six poll intervals of dev's watcher pass without a reload (an absence
    // has no condition to wait for).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.doesNotMatch(server.stderr(), /reloaded/);
    assert.equal((await call('GET', '/jobs/b')).status, 404);
    server.child.kill('SIGHUP');
    await waitFor(() => /reloaded kubescribe\.yaml \(SIGHUP\): 2 jobs; new or changed: b \(revision 1\)/.test(server.stderr()), 30_000, 'the reload');
    assert.equal((await call('GET', '/jobs/b')).status, 200);
  });
});
