// Delivery to real receivers: an SMTP server (mail parsed with mailparser), a loopback HTTP server
// for Slack and a signed webhook. Retries, failure records, and two notifiers sending once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { webhookSignature } from '../../src/notify/channels/webhook-channel.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { listRunNotifications } from '../../src/runlog/sql/notification-deliveries.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { openSharedRunLog, type SharedRunLog } from '../runlog/shared-runlog.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { finishedRun, makeNotifier } from './fixtures.ts';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from './receivers.ts';
import { waitFor } from '../support/cli.ts';

const TRACEBACK = 'Traceback (most recent call last):\n  File "report.py", line 3, in <module>\nValueError: bad row 17\n';

for (const engine of ENGINES) {
  describe(`notification delivery (${engine})`, () => {
    let shared: SharedRunLog;
    let db: Db;
    let smtp: SmtpReceiver;
    let http: HttpReceiver;
    before(async () => {
      shared = await openSharedRunLog(engine);
      db = shared.db;
      smtp = await startSmtpReceiver();
      http = await startHttpReceiver();
    });
    after(async () => {
      await smtp?.close();
      await http?.close();
      await shared?.close();
    });

    it('a failed run is mailed from the environment defaults alone: subject, recipients, text and HTML bodies', async () => {
      const notifier = makeNotifier(db, 'jobs:\n  mailed:\n    command: [python3, report.py]\n    env: {API_TENANT: sup3rs3cret}\n', {
        SMTP_URL: smtp.url, NOTIFY_EMAIL_TO: 'ops@example.com, data@example.com', NOTIFY_EMAIL_FROM: 'kubescribe@example.com',
        KUBESCRIBE_PUBLIC_URL: 'https://ks.example.com',
      });
      const runId = await finishedRun(db, 'mailed', 'failed', {
        error: { type: 'ValueError', message: 'bad row 17', tail: TRACEBACK },
        log: `reading data.csv with key sup3rs3cret\n${TRACEBACK}`,
        params: { day: '2026-11-26', limit: 10 },
      });
      const before = smtp.mails.length;
      const pass = await notifier.runOnce();
      assert.deepEqual(pass.attempts.map((a) => [a.channel, a.ok]), [['email', true]]);
      assert.equal(smtp.mails.length, before + 1);
      const mail = smtp.mails.at(-1)!;
      assert.equal(mail.parsed.subject, '[KubeScribe] mailed failed: ValueError: bad row 17');
      assert.deepEqual(mail.envelopeTo, ['ops@example.com', 'data@example.com']);
      assert.equal(mail.envelopeFrom, 'kubescribe@example.com');
      const text = mail.parsed.text ?? '';
      for (const expected of [runId, 'manual by tester', '"limit":10', 'ValueError: bad row 17', `https://ks.example.com/ui/runs/${runId}`, `https://ks.example.com/runs/${runId}`, '1s']) {
        assert.ok(text.includes(expected), `text body lacks ${expected}:\n${text}`);
      }
      assert.match(text, /Last log lines:\n  reading data\.csv with key \*\*\*\n/);
      assert.ok(!text.includes('sup3rs3cret') && !String(mail.parsed.html).includes('sup3rs3cret'), 'an env value leaked');
      assert.match(String(mail.parsed.html), /<h2[^>]*>mailed failed: ValueError: bad row 17<\/h2>/);
      const [delivery] = await listRunNotifications(db, runId);
      assert.equal(delivery!.state, 'sent');
      assert.equal(delivery!.attempts.length, 1);
      assert.equal(delivery!.attempts[0]!.ok, true);
    });

    it('a webhook carries the documented JSON, signed with HMAC-SHA256 over "<timestamp>.<body>"', async () => {
      const yaml = `notify:\n  channels:\n    hook:\n      type: webhook\n      url: ${http.url}/hook\n      secret_env: HOOK_SECRET\n  defaults:\n    channels: [hook]\njobs:\n  hooked:\n    command: [x]\n`;
      const notifier = makeNotifier(db, yaml, { HOOK_SECRET: 'shared-secret-123' });
      const runId = await finishedRun(db, 'hooked', 'timed_out', { durationMs: 90_000 });
      await notifier.runOnce();
      const post = http.posts.find((p) => p.path === '/hook' && (p.json as { run?: { run_id: string } }).run?.run_id === runId)!;
      assert.ok(post, 'the webhook was called');
      const timestamp = String(post.headers['x-kubescribe-timestamp']);
      assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 60);
      assert.equal(post.headers['x-kubescribe-signature'], webhookSignature('shared-secret-123', timestamp, post.body));
      assert.notEqual(post.headers['x-kubescribe-signature'], webhookSignature('wrong', timestamp, post.body));
      const body = post.json as Record<string, any>;
      assert.equal(body.schema_version, 1);
      assert.equal(body.event, 'timed_out');
      assert.equal(body.title, 'hooked timed out after 1m30s');
      assert.equal(post.headers['x-kubescribe-delivery'], body.id);
      assert.deepEqual(Object.keys(body.run).sort(), ['attempt', 'created_at', 'duration_ms', 'error', 'exit_code', 'finished_at', 'log_tail',
        'metrics', 'params', 'run_id', 'started_at', 'status', 'trigger', 'triggered_by']);
      assert.equal(body.run.duration_ms, 90_000);
      assert.deepEqual(body.links, { api: `/runs/${runId}`, ui: `/ui/runs/${runId}` });
    });

    it('Slack gets a Block Kit message with the error and log tail', async () => {
      const notifier = makeNotifier(db, 'jobs:\n  slacked:\n    command: [x]\n', { SLACK_WEBHOOK_URL: `${http.url}/services/T000/B000/XXXX` });
      const runId = await finishedRun(db, 'slacked', 'failed', { error: { type: 'KeyError', message: "'region'" }, log: 'step 1\nstep 2\n' });
      await notifier.runOnce();
      const post = http.posts.find((p) => p.path === '/services/T000/B000/XXXX' && p.body.includes(runId))!;
      const payload = post.json as { text: string; blocks: { type: string; text?: { text: string }; fields?: { text: string }[] }[] };
      assert.equal(payload.text, "slacked failed: KeyError: 'region'");
      assert.equal(payload.blocks[0]!.type, 'header');
      assert.equal(payload.blocks[0]!.text!.text, "slacked failed: KeyError: 'region'");
      const fields = payload.blocks.flatMap((b) => b.fields ?? []).map((f) => f.text);
      assert.ok(fields.includes(`*Run*\n${runId}`), fields.join(' | '));
      assert.ok(payload.blocks.some((b) => b.text?.text === '*Last log lines*\n```step 1\nstep 2```'));
    });

    it('SMTP down: retried with backoff, then recorded failed; the run itself is untouched', async () => {
      const dead = await startSmtpReceiver();
      const url = dead.url;
      await dead.close();
      const yaml = 'notify:\n  delivery: {max_attempts: 3, backoff: 50ms, timeout: 2s}\njobs:\n  unmailed:\n    command: [x]\n';
      const notifier = makeNotifier(db, yaml, { SMTP_URL: url, NOTIFY_EMAIL_TO: 'ops@example.com' });
      const runId = await finishedRun(db, 'unmailed', 'failed', { error: { type: 'ExitCode', message: 'exit 1' } });
      const runBefore = await getRun(db, runId);
      const first = await notifier.runOnce();
      assert.deepEqual(first.attempts.map((a) => [a.ok, a.next]), [[false, 'retry']]);
      await waitFor(async () => {
        await notifier.runOnce();
        return (await listRunNotifications(db, runId))[0]!.state === 'failed';
      }, 20_000, 'the delivery to give up');
      const [delivery] = await listRunNotifications(db, runId);
      assert.equal(delivery!.attempts.length, 3);
      assert.ok(delivery!.attempts.every((a) => !a.ok && /ECONNREFUSED/.test(a.error ?? '')), JSON.stringify(delivery!.attempts));
      // Backoff doubles: the third attempt waited at least twice as long as the second.
      const gap = (i: number) => delivery!.attempts[i]!.started_at.getTime() - delivery!.attempts[i - 1]!.finished_at.getTime();
      assert.ok(gap(1) >= 50 && gap(2) >= 100, `gaps ${gap(1)} ${gap(2)}`);
      assert.match(delivery!.reason ?? '', /gave up after 3 attempts/);
      assert.deepEqual(await getRun(db, runId), runBefore);
    });

    it('a channel whose secret is missing fails at once, naming the variable and not retrying', async () => {
      const yaml = 'notify:\n  channels:\n    team:\n      type: slack\n      url_env: TEAM_SLACK_URL\n  defaults: {channels: [team]}\njobs:\n  nosecret:\n    command: [x]\n';
      const notifier = makeNotifier(db, yaml, {});
      const runId = await finishedRun(db, 'nosecret', 'lost');
      await notifier.runOnce();
      const [delivery] = await listRunNotifications(db, runId);
      assert.equal(delivery!.state, 'failed');
      assert.equal(delivery!.attempts.length, 1);
      assert.equal(delivery!.attempts[0]!.error, 'channel team: environment variable TEAM_SLACK_URL is not set');
    });

    it('an error never shows a secret: the Slack URL path is scrubbed', async () => {
      http.status = 500;
      try {
        const secretUrl = `${http.url}/services/SECRET-TOKEN-PATH`;
        const notifier = makeNotifier(db, 'notify: {delivery: {max_attempts: 1}}\njobs:\n  scrubbed:\n    command: [x]\n', { SLACK_WEBHOOK_URL: secretUrl });
        const runId = await finishedRun(db, 'scrubbed', 'failed');
        await notifier.runOnce();
        const [delivery] = await listRunNotifications(db, runId);
        assert.equal(delivery!.state, 'failed');
        assert.match(delivery!.attempts[0]!.error!, /^POST to 127\.0\.0\.1:\d+: HTTP 500/);
        assert.ok(!JSON.stringify(delivery).includes('SECRET-TOKEN-PATH'));
      } finally {
        http.status = 200;
      }
    });

    it('two notifiers on one RunLog (two API replicas) send each message once', async () => {
      const second = engine === 'postgres' ? await openRunLogDb(shared.runlog.location) : db;
      try {
        const yaml = `notify:\n  channels:\n    hook: {type: webhook, url: "${http.url}/once"}\n  defaults: {channels: [hook]}\njobs:\n  twice:\n    command: [x]\n`;
        const a = makeNotifier(db, yaml, {}, { owner: 'replica-a' });
        const b = makeNotifier(second, yaml, {}, { owner: 'replica-b' });
        const runs: string[] = [];
        for (let i = 0; i < 6; i++) runs.push(await finishedRun(db, 'twice', i % 2 ? 'succeeded' : 'failed'));
        await Promise.all([a.runOnce(), b.runOnce(), a.runOnce(), b.runOnce()]);
        const received = http.posts.filter((p) => p.path === '/once').map((p) => (p.json as { run: { run_id: string } }).run.run_id);
        const failed = runs.filter((_, i) => i % 2 === 0);
        // failures are sent, each exactly once; the recoveries too (default rules)
        assert.deepEqual([...received].sort(), [...runs].sort());
        assert.equal(new Set(received).size, received.length, 'a message was sent twice');
        assert.equal(failed.length, 3);
      } finally {
        if (second !== db) await second.close();
      }
    });
  });
}
