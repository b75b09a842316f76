// The notification commands and the path a plain-cron user takes, as real processes:
// `kubescribe notify test`, `kubescribe run` then `kubescribe notify deliver` with no server, the
// attempts in `kubescribe runs show`, and a runner SIGKILLed mid-run → lost → alert.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Notifier } from '../../src/notify/notifier.ts';
import { webhookSignature } from '../../src/notify/channels/webhook-channel.ts';
import { Reaper } from '../../src/runs/reaper.ts';
import { configFrom, notifyEnv } from './fixtures.ts';
import { seedRun } from '../runlog/shared-runlog.ts';
import { BIN, runCli, waitFor } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from './receivers.ts';

describe('kubescribe notify test', () => {
  let http: HttpReceiver;
  let smtp: SmtpReceiver;
  let dir: string;
  before(async () => {
    http = await startHttpReceiver();
    smtp = await startSmtpReceiver();
    dir = mkdtempSync(join(tmpdir(), 'ks-notify-cli-'));
  });
  after(async () => {
    await http?.close();
    await smtp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a signed test message through a configured webhook and reports it', async () => {
    const file = join(dir, 'kubescribe.yaml');
    writeFileSync(join(dir, 'hook.secret'), 'file-secret-42\n');
    writeFileSync(file, `notify:\n  channels:\n    ops-hook:\n      type: webhook\n      url: ${http.url}/test-hook\n      secret_file: hook.secret\njobs: {}\n`);
    const result = await runCli(['notify', 'test', 'ops-hook', '-f', file]);
    assert.equal(result.code, 0, result.err);
    assert.match(result.out, /^sent a test message through ops-hook \(webhook\) in \d+ ms\n$/);
    const post = http.posts.find((p) => p.path === '/test-hook')!;
    const timestamp = String(post.headers['x-kubescribe-timestamp']);
    assert.equal(post.headers['x-kubescribe-signature'], webhookSignature('file-secret-42', timestamp, post.body));
    assert.equal((post.json as { event: string }).event, 'test');
  });

  it('sends a test email through the default channel from SMTP_URL', async () => {
    const env = { SMTP_URL: smtp.url, NOTIFY_EMAIL_TO: 'ops@example.com', NOTIFY_EMAIL_FROM: 'ks@example.com', KUBESCRIBE_CONFIG: join(dir, 'none.yaml') };
    const result = await runCli(['notify', 'test', 'email'], { env });
    assert.equal(result.code, 0, result.err);
    assert.match(result.out, /through email \(email\) to ops@example\.com/);
    const mail = smtp.mails.at(-1)!;
    assert.equal(mail.parsed.subject, '[KubeScribe] KubeScribe test message to channel email');
    assert.deepEqual(mail.envelopeTo, ['ops@example.com']);
  });

  it('an unknown channel and an unreachable SMTP server are clear errors', async () => {
    const none = await runCli(['notify', 'test', 'slack'], { env: { KUBESCRIBE_CONFIG: join(dir, 'none.yaml'), SLACK_WEBHOOK_URL: '' } });
    assert.equal(none.code, 2);
    assert.match(none.err, /^kubescribe: no channel "slack": none is configured \(define channels under notify\.channels/);
    const dead = await startSmtpReceiver();
    await dead.close();
    const down = await runCli(['notify', 'test', 'email'], {
      env: { SMTP_URL: `smtp://user:hunter2pass@127.0.0.1:${dead.port}`, NOTIFY_EMAIL_TO: 'ops@example.com', KUBESCRIBE_CONFIG: join(dir, 'none.yaml') },
    });
    assert.equal(down.code, 1);
    assert.match(down.err, /^kubescribe: test message to email \(email\) failed: .*ECONNREFUSED/);
    assert.ok(!down.err.includes('hunter2pass'));
  });

  it('a job naming an undefined channel is a config error with file and line', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'jobs:\n  report:\n    command: [x]\n    notify:\n      on: [failed]\n      channels: [pagerr]\n');
    const result = await runCli(['notify', 'test', 'email', '-f', file]);
    assert.equal(result.code, 2);
    assert.match(result.err, /bad\.yaml:6: jobs\.report\.notify\.channels\[0\]: unknown channel "pagerr"/);
  });
});

for (const engine of ENGINES) {
  describe(`alerts without a server (${engine})`, () => {
    let runlog: TestRunLog;
    let http: HttpReceiver;
    let dir: string;
    let file: string;
    before(async () => {
      runlog = await createTestRunLog(engine);
      http = await startHttpReceiver();
      dir = mkdtempSync(join(tmpdir(), 'ks-notify-run-'));
      file = join(dir, 'kubescribe.yaml');
      writeFileSync(file, [
        'notify:',
        '  channels:',
        `    hook: {type: webhook, url: "${http.url}/${engine}"}`,
        '  defaults: {channels: [hook]}',
        'jobs:',
        '  failing:',
        `    command: [python3, -c, "print('working', flush=True); raise ValueError('bad row 17')"]`,
        '  sleeper:',
        `    command: [python3, -c, "import time; print('working', flush=True); time.sleep(4)"]`,
        '',
      ].join('\n'));
    });
    after(async () => {
      await http?.close();
      await runlog?.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });
    const messages = () => http.posts.filter((p) => p.path === `/${engine}`).map((p) => p.json as Record<string, any>);

    it('kubescribe run from plain cron, then kubescribe notify deliver: the failure is sent and shown on the run', async () => {
      const run = await runCli(['run', '--job', 'failing', '-f', file, '-q'], { env: runlog.env, cwd: dir });
      assert.equal(run.code, 1, run.err);
      assert.equal(messages().length, 0, 'nothing is sent without a notifier');
      const deliver = await runCli(['notify', 'deliver', '-f', file], { env: runlog.env, cwd: dir });
      assert.equal(deliver.code, 0, deliver.err);
      assert.equal(deliver.out, 'dispatched 1 event(s); sent 1, failed 0\n');
      const [message] = messages();
      assert.equal(message!.event, 'failed');
      assert.equal(message!.run.error.summary, 'ValueError: bad row 17');
      assert.deepEqual(message!.run.log_tail.slice(0, 1), ['working']);
      assert.match(message!.run.log_tail.at(-1), /^ValueError: bad row 17$/);
      const show = await runCli(['runs', 'show', message!.run.run_id], { env: runlog.env, cwd: dir });
      assert.equal(show.code, 0, show.err);
      assert.match(show.out, /\nnotifications:\nCHANNEL +RULE +STATE +ATTEMPTS +LAST ATTEMPT +DETAIL *\nhook +failed +sent +1 +.+ ok/);
    });

    it('a runner SIGKILLed mid-run becomes lost and the loss is alerted', async () => {
      // Queued first, as an executor does: adopting it is recorded before the job starts, so the kill
      // cannot come before the RunLog knows the run.
      const queued = await runlog.withDb((db) => seedRun(db, { job: 'sleeper', status: 'queued', trigger: 'api' }));
      const child = spawn(process.execPath, [BIN, 'run', '--job', 'sleeper', '--run-id', queued.run_id, '-f', file, '--heartbeat', '200ms'], {
        cwd: dir, env: { ...process.env, ...runlog.env }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (data: Buffer) => (out += data.toString()));
      const exited = new Promise((resolve) => child.once('close', resolve));
      await waitFor(() => out.includes('working'), 120_000, 'the job to start');
      child.kill('SIGKILL');
      await exited;
      await runlog.withDb(async (db) => {
        const reaper = new Reaper({ db, lostAfterMs: 1 });
        const pass = await waitFor(async () => {
          const result = await reaper.tick();
          return result.lost.length ? result : null;
        }, 30_000, 'the reaper to mark the run lost');
        assert.deepEqual(pass.lost, [queued.run_id]);
        const notifier = new Notifier({ db, config: configFrom(`notify:\n  channels:\n    hook: {type: webhook, url: "${http.url}/${engine}"}\n  defaults: {channels: [hook]}\njobs: {}\n`), env: notifyEnv(), cwd: dir });
        await notifier.runOnce();
        const lost = messages().filter((m) => m.event === 'lost');
        assert.equal(lost.length, 1);
        assert.equal(lost[0]!.run.run_id, pass.lost[0]);
        assert.equal(lost[0]!.title, 'sleeper lost: its runner stopped sending heartbeats');
        assert.match(lost[0]!.run.error.message, /^no heartbeat since /);
      });
    });
  });
}
