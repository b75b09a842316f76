// `kubescribe dev` alerts with nothing but SLACK_WEBHOOK_URL set: a run triggered through the API fails,
// the server's notifier posts it, `kubescribe runs show` over the API lists the attempt.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, runCli, waitFor } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';
import { startHttpReceiver, type HttpReceiver } from './receivers.ts';

for (const engine of ENGINES) {
  describe(`kubescribe dev sends alerts (${engine})`, () => {
    let t: TestRunLog;
    let http: HttpReceiver;
    let dir: string;
    let server: ChildProcess;
    let stderr = '';
    let url = '';
    let env: Record<string, string>;
    before(async () => {
      t = await createTestRunLog(engine);
      http = await startHttpReceiver();
      dir = mkdtempSync(join(tmpdir(), 'ks-notify-dev-'));
      writeFileSync(join(dir, 'kubescribe.yaml'), [
        'jobs:',
        '  broken:',
        `    command: [python3, -c, "import sys; print('about to fail', file=sys.stderr); sys.exit(3)"]`,
        '  mailed:',
        '    command: [x]',
        '    notify: {on: [failed], channels: [email]}',
        '',
      ].join('\n'));
      env = { ...t.env, SLACK_WEBHOOK_URL: `${http.url}/services/T1/B1/dev` };
      server = spawn(process.execPath, [BIN, 'dev', '--port', '0'], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      server.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
      // The banner's last line: everything it says has arrived.
      url = await waitFor(() => (/press it twice to stop now/.test(stderr) ? /dev server on (http:\/\/\S+)/.exec(stderr)?.[1] : undefined), 120_000, `the dev server to start; it said: ${stderr}`);
    });
    after(async () => {
      if (server && server.exitCode === null) {
        const exited = new Promise((resolve) => server.once('exit', resolve));
        server.kill('SIGTERM');
        await exited;
      }
      await http?.close();
      await t?.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('warns at start about a channel a job names that the environment does not define', () => {
      assert.match(stderr, /kubescribe: warning: job mailed notifies channel "email", which is not configured: its alerts will be recorded as failed \(set SMTP_URL and NOTIFY_EMAIL_TO/);
    });

    it('a failed run is posted to Slack with a link to the run on this server, and shown on the run', async () => {
      const trigger = await runCli(['trigger', 'broken', '--wait'], { cwd: dir, env });
      assert.equal(trigger.code, 3, trigger.err);
      const post = await waitFor(() => http.posts.find((p) => p.path === '/services/T1/B1/dev'), 20_000, 'the Slack post');
      const payload = post.json as { text: string; blocks: { type: string; elements?: { text: string }[] }[] };
      assert.equal(payload.text, 'broken failed: ExitCode: exited with code 3');
      const context = payload.blocks.find((b) => b.type === 'context')!.elements![0]!.text;
      const runId = /\/ui\/runs\/([0-9a-f-]{36})\|/.exec(context)?.[1];
      assert.ok(runId, context);
      assert.ok(context.startsWith(`<${url}/ui/runs/${runId}|Open in KubeScribe>`), context);
      const show = await waitFor(async () => {
        const result = await runCli(['runs', 'show', runId!], { cwd: dir, env });
        return /\nslack +failed +sent +1 /.test(result.out) ? result : null;
      }, 20_000, 'runs show to list the sent notification');
      assert.equal(show.code, 0);
    });
  });
}
