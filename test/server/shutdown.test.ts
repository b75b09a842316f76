// SIGTERM to the real server process (serve on PostgreSQL, dev on PGlite) while log followers have
// stopped reading, clients send headers and bodies one byte at a time and runs are running: it exits
// within the shutdown grace plus 5 s, cancelling the run that stops on SIGTERM; a second signal exits at
// once, killing the live run (even one that ignores SIGTERM) and recording it cancelled.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { runCli, waitFor } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';
import { RawFollower, spawnServer, type SpawnedServer } from './support.ts';

const engine = ENGINES.at(-1)!;
const GRACE_S = 2;
// 2 MB of output (more than a socket that is not read takes in), then a long sleep; the stubborn
// one ignores SIGTERM (and its job's grace is 60 s).
const PRINT = "import sys, time\nsys.stdout.write(('y' * 99 + '\\n') * 20000)\nsys.stdout.flush()\n";

describe(`shutdown of the server process (${engine === 'postgres' ? 'serve on PostgreSQL' : 'dev on PGlite'})`, () => {
  let runlog: TestRunLog;
  let dir: string;
  let token: string;
  const servers: SpawnedServer[] = [];
  const sockets: Socket[] = [];

  before(async () => {
    runlog = await createTestRunLog(engine);
    dir = mkdtempSync(join(tmpdir(), 'ks-shutdown-'));
    writeFileSync(join(dir, 'polite.py'), `${PRINT}time.sleep(20)\n`);
    writeFileSync(join(dir, 'stubborn.py'), `import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n${PRINT}time.sleep(20)\n`);
    writeFileSync(join(dir, 'kubescribe.yaml'), [
      'api:',
      '  rate_limit: off',
      'jobs:',
      '  polite:',
      '    command: [python3, polite.py]',
      '  stubborn:',
      '    command: [python3, stubborn.py]',
      '    grace_period: 60s',
      '',
    ].join('\n'));
    if (engine === 'postgres') {
      const created = await runCli(['tokens', 'create', '--name', 'shutdown', '--scope', 'admin', '--runlog'], { env: runlog.env });
      assert.equal(created.code, 0, created.err);
      token = created.out.trim();
    }
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    for (const server of servers) await server.kill();
    await runlog.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(extra: string[]): Promise<SpawnedServer> {
    const args = engine === 'postgres' ? ['serve', '--host', '127.0.0.1'] : ['dev'];
    const server = await spawnServer([...args, '--port', '0', '--no-scheduler', ...extra], { cwd: dir, env: runlog.env });
    servers.push(server);
    if (engine === 'pglite') token = readFileSync(join(runlog.home, 'token'), 'utf8').trim();
    return server;
  }

  async function trigger(server: SpawnedServer, job: string): Promise<string> {
    const response = await fetch(`${server.url}/runs/trigger`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ job }),
    });
    assert.ok(response.ok, await response.clone().text());
    const body = (await response.json()) as { run_id?: string; run?: { run_id: string } };
    return body.run_id ?? body.run!.run_id;
  }

  function slowClient(server: SpawnedServer, head: string, drip: string): void {
    const url = new URL(server.url);
    const socket = connect({ host: url.hostname, port: Number(url.port) }, () => socket.write(head));
    socket.on('error', () => {});
    const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write(drip)), 250);
    sockets.push(socket);
  }

  test('the first SIGTERM stops within the grace plus 5 s whatever followers, slow clients and runs do', async () => {
    const server = await start(['--shutdown-grace', `${GRACE_S}s`]);
    const polite = await trigger(server, 'polite');
    const stubborn = await trigger(server, 'stubborn');
    const follow = (runId: string, read: boolean) =>
      new RawFollower(server.url, `/runs/${runId}/logs?follow=true`, { authorization: `Bearer ${token}` }, { read, keepEvents: false });
    const reader = follow(polite, true);
    await reader.until(() => reader.bytes > 500_000, 30_000, 'the log to be flowing');
    const stalled = [...Array.from({ length: 10 }, () => follow(polite, false)), ...Array.from({ length: 10 }, () => follow(stubborn, false))];
    for (let i = 0; i < 10; i++) slowClient(server, 'GET /runs HTTP/1.1\r\n', 'x');
    for (let i = 0; i < 5; i++) {
      slowClient(server, `POST /runs/trigger HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{"job":"polite","reason":"`, 'a');
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));

    const sent = Date.now();
    server.child.kill('SIGTERM');
    const exit = await Promise.race([server.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), (GRACE_S + 15) * 1000))]);
    assert.ok(exit, `still running ${GRACE_S + 15} s after SIGTERM; it said:\n${server.stderr()}`);
    const took = exit.at - sent;
    // The bound is grace + 5 s; 1 s more for the signal and the exit to be observed on a loaded machine.
    assert.ok(took <= (GRACE_S + 6) * 1000, `exited ${took} ms after SIGTERM (grace ${GRACE_S} s)`);
    // The stubborn job outlived the grace and the 4.5 s after it: the process gave up on it, and says so.
    assert.equal(exit.code, 1, server.stderr());
    assert.match(server.stderr(), /SIGTERM: finishing running runs, then stopping \(at most 2s/);
    assert.match(server.stderr(), /still not stopped 4s500ms after the shutdown grace: exiting anyway/);
    // The run that stops on SIGTERM was cancelled and recorded so before the process went.
    const run = await runlog.withDb((db) => getRun(db, polite));
    assert.equal(run?.status, 'cancelled');
    for (const f of [reader, ...stalled]) f.close();
  });

  test('a second signal stops at once, with 128 + the signal number, and the live run is recorded cancelled', async () => {
    // The stubborn job ignores SIGTERM and has a 60 s grace: only a kill ends it this soon.
    const server = await start([]);
    const runId = await trigger(server, 'stubborn');
    await waitFor(async () => {
      const response = await fetch(`${server.url}/runs/${runId}`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await response.json()) as { status?: string; run?: { status: string } };
      return (body.run?.status ?? body.status) === 'running';
    }, 30_000, 'the run to be running');
    server.child.kill('SIGTERM');
    await waitFor(() => /SIGTERM: finishing running runs/.test(server.stderr()), 10_000, 'the first SIGTERM to be taken');
    const sent = Date.now();
    server.child.kill('SIGINT');
    const exit = await server.exited;
    assert.equal(exit.code, 130, server.stderr());
    // At most the 3 s the process allows itself to record the kill, plus 2 s for a loaded machine.
    assert.ok(exit.at - sent < 5000, `exited ${exit.at - sent} ms after the second signal`);
    assert.match(server.stderr(), /SIGINT again: stopping now/);
    const run = await runlog.withDb((db) => getRun(db, runId));
    assert.equal(run?.status, 'cancelled', JSON.stringify(run));
  });
});
