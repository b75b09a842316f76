// Start-up of the real server process: `serve` listens on loopback unless told otherwise and says how
// to make the first token; a start that fails after components started (the port is taken) stops them
// all and exits non-zero with one clear line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEnvironment } from '../../src/config/environment.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { startServer } from '../../src/server/server.ts';
import { runCli } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';
import { spawnServer } from './support.ts';

const engine = ENGINES.at(-1)!;

describe(`start-up of the server process (${engine})`, () => {
  let runlog: TestRunLog;
  let dir: string;
  before(async () => {
    runlog = await createTestRunLog(engine);
    dir = mkdtempSync(join(tmpdir(), 'ks-startup-'));
    // A schedule every second: the scheduler and executor are busy when the listen fails.
    writeFileSync(join(dir, 'kubescribe.yaml'), 'jobs:\n  tick:\n    command: [echo, tick]\n    schedule: "* * * * * *"\n');
  });
  after(async () => {
    await runlog.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('serve listens on 127.0.0.1 by default and, with no token in the RunLog, says how to make the first', async () => {
    const server = await spawnServer(['serve', '--port', '0', '--no-scheduler'], { cwd: dir, env: runlog.env });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.match(server.stderr(), /no API token yet: .*create the first with `kubescribe tokens create --name admin --scope admin --runlog`/);
    } finally {
      await server.kill();
    }
  });

  test('a start that fails at listen stops the executor, scheduler and reaper it had started: no timer is left', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    const timers = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
    const before = timers();
    try {
      await assert.rejects(startServer({
        env: readEnvironment({ ...runlog.env }), config: parseConfig(readFileSync(join(dir, 'kubescribe.yaml'), 'utf8'), join(dir, 'kubescribe.yaml')),
        host: '127.0.0.1', port, executor: 'local', scheduler: true, cwd: dir, logger: false,
      }), /EADDRINUSE/);
      // The scheduler's and reaper's next-pass timers and the executor's sweep would still be pending.
      assert.equal(timers(), before, `timers left: ${process.getActiveResourcesInfo().join(', ')}`);
    } finally {
      holder.close();
    }
  });

  for (const mode of ['dev', 'serve'] as const) {
    test(`${mode} with its port taken stops what it started and exits 1 with one line`, async () => {
      const holder: Server = createServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      const port = (holder.address() as { port: number }).port;
      try {
        // Were the scheduler, reaper or executor left running, the process would not exit: runCli's timeout says so.
        const result = await runCli([mode, '--port', String(port)], { cwd: dir, env: runlog.env, timeoutMs: 90_000 });
        assert.equal(result.code, 1, result.err);
        assert.equal(result.err, `kubescribe: listen EADDRINUSE: address already in use 127.0.0.1:${port}: another server uses that port; pass --port to choose another\n`);
        // serve's JSON log goes to stdout; no stack reaches the terminal's stderr.
        assert.doesNotMatch(result.err, /\n\s+at /);
      } finally {
        holder.close();
      }
    });
  }
});
