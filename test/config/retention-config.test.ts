// The `retention:` section of kubescribe.yaml: durations for logs and notifications, both optional,
// with file:line errors for unknown keys, bad values and retentions short enough to be typos.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, type ConfigIssue } from '../../src/config/job-config.ts';

const FILE = 'kubescribe.yaml';
const DAY = 86_400_000;

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, FILE);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail('expected parseConfig to throw');
}

describe('config: retention', () => {
  test('logs and notifications are read as durations; each is optional; without the section nothing is pruned', () => {
    assert.deepEqual(parseConfig('retention:\n  logs: 90d\n  notifications: 30d\njobs: {}\n', FILE).retention, { logs_ms: 90 * DAY, notifications_ms: 30 * DAY });
    assert.deepEqual(parseConfig('retention:\n  logs: 400d\njobs: {}\n', FILE).retention, { logs_ms: 400 * DAY });
    assert.deepEqual(parseConfig('retention:\n  notifications: 48h\njobs: {}\n', FILE).retention, { notifications_ms: 2 * DAY });
    assert.equal(parseConfig('jobs: {}\n', FILE).retention, undefined);
  });

  test('unknown keys, values that are not durations and too-short retentions are errors at their lines', () => {
    const issues = issuesOf([
      'version: 1',
      'retention:',
      '  logs: 90',
      '  notifications: soon',
      '  runs: 30d',
      'jobs: {}',
    ].join('\n'));
    assert.deepEqual(issues.map((i) => [i.line, i.path]), [[3, 'retention.logs'], [4, 'retention.notifications'], [5, 'retention.runs']]);
    assert.match(issues[0]!.message, /must be at least 1d \(a bare number is seconds, so write days: 90d\); got 1m30s/);
    assert.match(issues[1]!.message, /expected a duration such as "15m", got "soon"/);
    assert.match(issues[2]!.message, /runs/);
    const short = issuesOf('retention:\n  notifications: 1d\njobs: {}\n');
    assert.equal(short[0]!.line, 2);
    assert.match(short[0]!.message, /retention\.notifications|must be at least 2d/);
    assert.match(new ConfigError(FILE, short).message, /^kubescribe\.yaml:2: retention\.notifications: must be at least 2d/);
    assert.equal(issuesOf('retention: 90d\njobs: {}\n')[0]!.path, 'retention');
  });
});
