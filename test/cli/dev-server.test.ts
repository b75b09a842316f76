// `kubescribe dev` end to end: the real binary serving the API with the local executor and the
// scheduler, driven by the real CLI client, then stopped with SIGTERM.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { BIN, REPO_ROOT, runCli, waitFor } from '../support/cli.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');

for (const engine of ENGINES) {
  describe(`kubescribe dev (${engine})`, () => {
    let t: TestRunLog;
    let dir: string;
    let server: ChildProcess;
    let stderr = '';
    let url = '';

    before(async () => {
      t = await createTestRunLog(engine);
      dir = mkdtempSync(join(tmpdir(), 'ks-dev-'));
      writeFileSync(join(dir, 'kubescribe.yaml'), [
        'jobs:',
        '  greet:',
        `    command: [python3, ${EMIT}, "out:hello from dev", "metric:rows=5"]`,
        '  broken:',
        `    command: [python3, ${EMIT}, "err:about to fail", "exit:3"]`,
        '  ticker:',
        `    command: [python3, ${EMIT}, "out:tick"]`,
        '    schedule: "*/2 * * * * *"',
        '    catch_up: none',
        '',
      ].join('\n'));
      server = spawn(process.execPath, [BIN, 'dev', '--port', '0'], { cwd: dir, env: { ...process.env, ...t.env }, stdio: ['ignore', 'ignore', 'pipe'] });
      server.stderr!.on('data', (data: Buffer) => {
        stderr += data.toString();
      });
      // The banner's last line: everything it says has arrived.
      url = await waitFor(() => (/press it twice to stop now/.test(stderr) ? /dev server on (http:\/\/\S+)/.exec(stderr)?.[1] : undefined), 60_000, `the dev server to start; it said: ${stderr}`);
    });
    after(async () => {
      if (server.exitCode === null) server.kill('SIGKILL');
      await t.cleanup();
    });

    const cli = (args: string[]) => runCli(args, { cwd: dir, env: t.env });

    test('prints where the API docs and the local admin token are; the token file is private', async () => {
      assert.match(stderr, new RegExp(`API docs: +${url.replace(/[.]/g, '\\.')}/docs`));
      const tokenFile = join(t.home, 'token');
      assert.match(stderr, new RegExp(`admin token: +${tokenFile}`));
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      const unauthorised = await fetch(`${url}/runs`);
      assert.equal(unauthorised.status, 401);
    });

    test('trigger --wait runs the job through the local executor and mirrors its exit code', async () => {
      const ok = await cli(['trigger', 'greet', '--wait']);
      assert.equal(ok.code, 0, ok.err);
      assert.match(ok.out, /hello from dev/);
      const failed = await cli(['trigger', 'broken', '--wait']);
      assert.equal(failed.code, 3, failed.err);
      const runs = JSON.parse((await cli(['runs', '--json', '--job', 'greet'])).out) as { runs?: unknown[] } | { status: string; metrics: unknown; trigger: string }[];
      const list = (Array.isArray(runs) ? runs : runs.runs) as { status: string; metrics: unknown; trigger: string }[];
      assert.equal(list[0]!.status, 'succeeded');
      assert.deepEqual(list[0]!.metrics, { rows: 5 });
      assert.equal(list[0]!.trigger, 'api');
    });

    test('the scheduler fires a per-second schedule and records its slots', async () => {
      const list = await waitFor(async () => {
        const result = await cli(['runs', '--json', '--job', 'ticker']);
        const parsed = JSON.parse(result.out) as { runs?: { status: string; trigger: string }[] } | { status: string; trigger: string }[];
        const runs = Array.isArray(parsed) ? parsed : (parsed.runs ?? []);
        return runs.filter((run) => run.status === 'succeeded').length >= 2 ? runs : null;
      }, 30_000, 'two scheduled runs');
      assert.ok(list.every((run) => run.trigger === 'schedule'));
    });

    test('SIGTERM drains and stops; the server file goes away', async () => {
      assert.ok(existsSync(join(t.home, 'server.json')));
      const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
      server.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(stderr, /SIGTERM: finishing running runs, then stopping/);
      assert.equal(existsSync(join(t.home, 'server.json')), false);
      assert.ok(readFileSync(join(t.home, 'token'), 'utf8').startsWith('ksk_'), 'the token stays for the next start');
    });
  });
}

describe('kubescribe dev and serve options', () => {
  test('a bad port or run limit is a usage error naming the option, and nothing starts', async () => {
    const port = await runCli(['dev', '--port', '70000']);
    assert.equal(port.code, 2);
    assert.match(port.err, /--port 70000: expected a whole number from 0 to 65535/);
    const limit = await runCli(['serve', '--max-concurrent-runs', '0']);
    assert.equal(limit.code, 2);
    assert.match(limit.err, /--max-concurrent-runs 0: expected a whole number from 1 to 1000/);
  });
});
