// The notification part of kubescribe.yaml: channels with secrets from env or files only, default
// rules, per-job rule keys, and file:line errors for every mistake; and the environment defaults.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig, type ConfigIssue } from '../../src/config/job-config.ts';
import { readEnvironment } from '../../src/config/environment.ts';
import { effectiveSettings, jobRules } from '../../src/notify/settings.ts';
import { notifyEnv } from './fixtures.ts';

const FILE = '/srv/kubescribe.yaml';

function issuesOf(text: string): string[] {
  try {
    parseConfig(text, FILE);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues.map((i: ConfigIssue) => `${i.line}:${i.path}: ${i.message}`);
  }
  assert.fail('expected a ConfigError');
}

const GOOD = `notify:
  public_url: https://ks.example.com/
  delivery: {max_attempts: 3, backoff: 30s, timeout: 5s}
  channels:
    ops-mail:
      type: email
      smtp_url_env: OPS_SMTP_URL
      from: kubescribe@example.com
      to: [ops@example.com, data@example.com]
    team:
      type: slack
      url_file: secrets/slack-url
    pager:
      type: webhook
      url: https://hooks.example.com/kubescribe
      secret_env: PAGER_SECRET
  defaults:
    on: [failed, lost, recovered, missed]
    channels: [ops-mail]
    throttle: 30m
    quiet_hours: {from: "22:00", to: "07:00", time_zone: Europe/Berlin}
jobs:
  report:
    command: [python3, report.py]
    time_zone: Europe/Paris
    notify:
      on: [failed, abnormal]
      channels: [team, pager]
      throttle: 0s
      maintenance:
        - {from: "2026-12-01T22:00:00Z", to: "2026-12-02T02:00:00Z"}
        - {schedule: "0 2 * * 0", duration: 2h}
      abnormal: {metrics: [duration, rows_read], window: 20, min_samples: 5, percentiles: [10, 90]}
  plain:
    command: [x]
`;

describe('notify config', () => {
  it('parses channels, defaults and per-job rules', () => {
    const config = parseConfig(GOOD, FILE);
    const notify = config.notify!;
    assert.equal(notify.public_url, 'https://ks.example.com');
    assert.deepEqual(notify.delivery, { max_attempts: 3, backoff_ms: 30_000, timeout_ms: 5000 });
    assert.deepEqual(notify.channels.get('ops-mail'), {
      name: 'ops-mail', type: 'email', smtp_url: { env: 'OPS_SMTP_URL' }, from: 'kubescribe@example.com', to: ['ops@example.com', 'data@example.com'],
    });
    assert.deepEqual(notify.channels.get('team'), { name: 'team', type: 'slack', url: { file: 'secrets/slack-url' } });
    assert.deepEqual(notify.channels.get('pager'), {
      name: 'pager', type: 'webhook', url: { value: 'https://hooks.example.com/kubescribe' }, secret: { env: 'PAGER_SECRET' },
    });
    assert.deepEqual(notify.defaults.quiet_hours, { from: 22 * 60, to: 7 * 60, time_zone: 'Europe/Berlin' });
    assert.equal(notify.defaults.throttle_ms, 1_800_000);
    const report = config.jobs.get('report')!.notify!;
    assert.equal(report.throttle_ms, 0);
    assert.deepEqual(report.maintenance, [
      { from: '2026-12-01T22:00:00.000Z', to: '2026-12-02T02:00:00.000Z' },
      { schedule: '0 2 * * 0', duration_ms: 7_200_000, time_zone: null },
    ]);
    assert.deepEqual(report.abnormal, { metrics: ['duration', 'rows_read'], window: 20, min_samples: 5, low: 10, high: 90 });
  });

  it('a job gets its own keys over the defaults; a job without notify gets the defaults', () => {
    const config = parseConfig(GOOD, FILE);
    const settings = effectiveSettings(config, notifyEnv());
    const report = jobRules(settings, config, 'report');
    assert.deepEqual([report.on, report.channels, report.throttle_ms, report.time_zone], [['failed', 'abnormal'], ['team', 'pager'], 0, 'Europe/Berlin']);
    const plain = jobRules(settings, config, 'plain');
    assert.deepEqual([plain.on, plain.channels, plain.throttle_ms], [['failed', 'lost', 'recovered', 'missed'], ['ops-mail'], 1_800_000]);
    const unknown = jobRules(settings, config, 'adhoc-script');
    assert.deepEqual(unknown.channels, ['ops-mail']);
  });

  it('with no YAML at all, SMTP_URL + NOTIFY_EMAIL_TO and SLACK_WEBHOOK_URL give the default channels and rules', () => {
    const env = readEnvironment({
      SMTP_URL: 'smtps://u:p@mail.example.com', NOTIFY_EMAIL_TO: 'a@example.com, b@example.com', NOTIFY_EMAIL_FROM: 'ks@example.com',
      SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/X',
    }, '/tmp');
    const config = parseConfig('jobs:\n  report:\n    command: [x]\n', FILE);
    const settings = effectiveSettings(config, env);
    assert.deepEqual([...settings.channels.keys()], ['email', 'slack']);
    assert.deepEqual(settings.channels.get('email'), { name: 'email', type: 'email', smtp_url: { env: 'SMTP_URL' }, from: 'ks@example.com', to: ['a@example.com', 'b@example.com'] });
    const rules = jobRules(settings, config, 'report');
    assert.deepEqual([rules.on, rules.channels], [['failed', 'timed_out', 'lost', 'recovered'], ['email', 'slack']]);
    assert.equal(env.secret('SMTP_URL'), 'smtps://u:p@mail.example.com');
    assert.equal(JSON.stringify(env.notify).includes('hooks.slack.com'), false, 'secret values are read on demand, not carried around');
  });

  it('reports every mistake with its line, and never accepts a secret in the file', () => {
    const text = `notify:
  channels:
    mail:
      type: email
      smtp_url: smtp://user:password@mail
      to: ops@example.com
    slack2:
      type: slak
    hook:
      type: webhook
      url: ftp://x
      secret_env: 1BAD
    Bad Name:
      type: slack
      url_env: X
  defaults:
    on: [failed, faild]
    quiet_hours: {from: "25:00", to: "07:00"}
  delivery: {max_attempts: 0}
jobs:
  report:
    command: [x]
    notify:
      on: [failed]
      channels: [mail, pagr]
      throttle: soon
      maintenance: [{from: "2026-12-01 22:00", to: "2026-12-02T02:00:00Z"}]
      abnormal: {percentiles: [95, 5]}
`;
    assert.deepEqual(issuesOf(text), [
      '3:notify.channels.mail.smtp_url_env: required: the environment variable (smtp_url_env) or file (smtp_url_file) holding it; secrets are never written in kubescribe.yaml',
      '3:notify.channels.mail.from: required key is missing: the sender address',
      '5:notify.channels.mail.smtp_url: secrets are never written in kubescribe.yaml: use smtp_url_env or smtp_url_file to name the environment variable or file that holds it',
      '8:notify.channels.slack2.type: expected one of email, slack, webhook, got "slak"; did you mean "slack"?',
      '11:notify.channels.hook.url: expected an http(s) URL, got "ftp://x"',
      '12:notify.channels.hook.secret_env: expected the name of an environment variable, got "1BAD"',
      '13:notify.channels.Bad Name: invalid channel name "Bad Name": use lowercase letters, digits, "-" and "_"',
      '17:notify.defaults.on[1]: unknown event "faild", expected one of failed, timed_out, lost, recovered, succeeded, missed, late, abnormal; did you mean "failed"?',
      '18:notify.defaults.quiet_hours.from: expected a time of day such as "22:00", got "25:00"',
      '19:notify.delivery.max_attempts: expected a whole number from 1 to 100, got 0',
      '25:jobs.report.notify.channels[1]: unknown channel "pagr": define it under notify.channels, or use "email" or "slack" (from SMTP_URL / SLACK_WEBHOOK_URL)',
      '26:jobs.report.notify.throttle: expected a duration such as "15m", got "soon"',
      '27:jobs.report.notify.maintenance[0].from: expected an ISO 8601 time with its offset such as "2026-12-01T22:00:00Z", got "2026-12-01 22:00"',
      '28:jobs.report.notify.abnormal.percentiles: expected [low, high] percentiles such as [5, 95], got a list',
    ]);
  });
});
