import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { splitCommandLine } from '../../src/config/command-line.ts';
import {
  ConfigError,
  emptyConfig,
  jobDefinitionHash,
  loadConfig,
  parseConfig,
  type ConfigIssue,
  type JobDefinition,
} from '../../src/config/job-config.ts';

const FILE = 'kubescribe.yaml';

// Line numbers in the assertions below count from `version: 1` as line 1.
const FULL = `version: 1
runlog:
  log_cap: 5MB
  heartbeat: 15s
jobs:
  report:
    description: Aggregate the sales CSV into a report
    command: ["python3", "examples/report/script.py"]
    image: python:3.12-slim
    env: {REPORT_DIR: out, WORKERS: 4, DEBUG: false, MODE: 0755}
    params:
      type: object
      properties:
        input: {type: string, default: examples/report/data.csv}
      additionalProperties: false
    schedule: "0 6 * * *"
    time_zone: Europe/Berlin
    timeout: 15m
    grace_period: 30s
    retries: {limit: 2, backoff: 1m30s}
    concurrency_policy: Forbid
    expected_duration: 5m
    starting_deadline: 2m
    labels: {team: data, tier: 1}
    tenant: default
    notify:
      on: [failed, timed_out, lost, recovered]
      channels: [email, slack]
    catch_up: all
`;

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.file, FILE);
    return err.issues;
  }
  assert.fail('expected parseConfig to throw');
}

function onlyIssue(text: string): ConfigIssue {
  const issues = issuesOf(text);
  assert.equal(issues.length, 1, JSON.stringify(issues, null, 2));
  return issues[0] as ConfigIssue;
}

function job(body: string, name = 'report'): string {
  return `jobs:\n  ${name}:\n${body.replace(/^/gm, '    ')}\n`;
}

describe('parseConfig: valid files', () => {
  it('parses a full config into the expected job definition', () => {
    const config = parseConfig(FULL, FILE);
    assert.equal(config.file, FILE);
    assert.deepEqual(config.runlog, { log_cap_bytes: 5 * 1024 * 1024, heartbeat_ms: 15_000 });
    assert.deepEqual([...config.jobs.keys()], ['report']);
    const expected: JobDefinition = {
      name: 'report',
      description: 'Aggregate the sales CSV into a report',
      command: ['python3', 'examples/report/script.py'],
      image: 'python:3.12-slim',
      env: { REPORT_DIR: 'out', WORKERS: '4', DEBUG: 'false', MODE: '0755' },
      params: {
        type: 'object',
        properties: { input: { type: 'string', default: 'examples/report/data.csv' } },
        additionalProperties: false,
      },
      schedule: '0 6 * * *',
      time_zone: 'Europe/Berlin',
      timeout_ms: 900_000,
      grace_period_ms: 30_000,
      retries: { limit: 2, backoff_ms: 90_000 },
      concurrency_policy: 'Forbid',
      expected_duration_ms: 300_000,
      starting_deadline_ms: 120_000,
      labels: { team: 'data', tier: '1' },
      tenant: 'default',
      notify: { on: ['failed', 'timed_out', 'lost', 'recovered'], channels: ['email', 'slack'] },
      catch_up: 'all',
    };
    assert.deepEqual(config.jobs.get('report'), expected);
  });

  it('applies defaults to a minimal job and splits a command string', () => {
    const config = parseConfig(job(`command: python3 "my script.py" --out 'a b'`), FILE);
    assert.deepEqual(config.runlog, { log_cap_bytes: 10 * 1024 * 1024, heartbeat_ms: 10_000 });
    assert.deepEqual(config.jobs.get('report'), {
      name: 'report',
      command: ['python3', 'my script.py', '--out', 'a b'],
      env: {},
      params: { type: 'object', properties: {} },
      time_zone: 'UTC',
      grace_period_ms: 10_000,
      retries: { limit: 0, backoff_ms: 10_000 },
      concurrency_policy: 'Allow',
      catch_up: 'latest',
      labels: {},
    });
  });

  it('accepts an empty file, seconds-first cron and zero grace/backoff', () => {
    assert.equal(parseConfig('', FILE).jobs.size, 0);
    assert.equal(parseConfig('# nothing yet\n', FILE).jobs.size, 0);
    const config = parseConfig(job('command: [sleep, 1]\nschedule: "*/30 * * * * *"\ngrace_period: 0\nretries: {backoff: 0s}'), FILE);
    const report = config.jobs.get('report');
    assert.equal(report?.schedule, '*/30 * * * * *');
    assert.equal(report?.grace_period_ms, 0);
    assert.equal(report?.retries.backoff_ms, 0);
    assert.deepEqual(report?.command, ['sleep', '1']);
  });

  it('emptyConfig has defaults and no jobs', () => {
    const config = emptyConfig();
    assert.equal(config.file, null);
    assert.deepEqual(config.runlog, { log_cap_bytes: 10 * 1024 * 1024, heartbeat_ms: 10_000 });
    assert.equal(config.jobs.size, 0);
  });
});

describe('parseConfig: errors point at the file, line and field', () => {
  it('reports a bad duration at the line of the value, formatted file:line: path: message', () => {
    const text = FULL.replace('timeout: 15m', 'timeout: fast');
    const issue = onlyIssue(text);
    assert.deepEqual(issue, { line: 18, path: 'jobs.report.timeout', message: 'expected a duration such as "15m", got "fast"' });
    assert.throws(() => parseConfig(text, FILE), {
      name: 'ConfigError',
      message: 'kubescribe.yaml:18: jobs.report.timeout: expected a duration such as "15m", got "fast"',
    });
  });

  it('rejects a job name that is not a DNS-1123 label', () => {
    for (const name of ['Report', 'my_job', '-report', 'report-', 'a'.repeat(53)]) {
      const issue = onlyIssue(`# header\n${job('command: [true]', name)}`);
      assert.equal(issue.line, 3, name);
      assert.equal(issue.path, `jobs.${name}`);
      assert.match(issue.message, /invalid job name .*lowercase.*52/);
    }
    assert.ok(parseConfig(job('command: [true]', 'a'.repeat(52)), FILE).jobs.has('a'.repeat(52)));
  });

  it('names unknown keys at every level and suggests the closest known key', () => {
    const text = `verison: 1\nrunlog:\n  log_capp: 1MB\njobs:\n  report:\n    command: [true]\n    timout: 5m\n    timeZone: UTC\n    retries: {limit: 1, backof: 5s}\n    notify: {on: [failed], channels: [email], channel: [x]}\n    colour: blue\n`;
    assert.deepEqual(issuesOf(text), [
      { line: 1, path: 'verison', message: 'unknown key "verison"; did you mean "version"?' },
      { line: 3, path: 'runlog.log_capp', message: 'unknown key "log_capp"; did you mean "log_cap"?' },
      { line: 7, path: 'jobs.report.timout', message: 'unknown key "timout"; did you mean "timeout"?' },
      { line: 8, path: 'jobs.report.timeZone', message: 'unknown key "timeZone"; did you mean "time_zone"?' },
      { line: 9, path: 'jobs.report.retries.backof', message: 'unknown key "backof"; did you mean "backoff"?' },
      { line: 10, path: 'jobs.report.notify.channel', message: 'unknown key "channel"; did you mean "channels"?' },
      { line: 11, path: 'jobs.report.colour', message: 'unknown key "colour"' },
    ]);
  });

  it('rejects a bad cron expression', () => {
    const issue = onlyIssue(job('command: [true]\nschedule: "61 * * * *"'));
    assert.equal(issue.line, 4);
    assert.equal(issue.path, 'jobs.report.schedule');
    assert.match(issue.message, /invalid cron expression "61 \* \* \* \*".*minute/i);
    const fields = onlyIssue(job('command: [true]\nschedule: "0 0 6 * * * 2030"'));
    assert.match(fields.message, /5 fields/);
    assert.equal(parseConfig(job('command: [true]\nschedule: "@daily"'), FILE).jobs.get('report')?.schedule, '@daily');
  });

  it('rejects an unknown time zone', () => {
    const issue = onlyIssue(job('command: [true]\nschedule: "0 6 * * *"\ntime_zone: Europe/Atlantis'));
    assert.deepEqual(issue, {
      line: 5,
      path: 'jobs.report.time_zone',
      message: 'unknown time zone "Europe/Atlantis": use an IANA name such as "Europe/Berlin" or "UTC"',
    });
  });

  it('rejects params that are not a valid JSON Schema, pointing inside the schema', () => {
    const bad = onlyIssue(job('command: [true]\nparams:\n  type: object\n  properties:\n    input: {type: strng}'));
    assert.equal(bad.line, 7);
    assert.equal(bad.path, 'jobs.report.params.properties.input.type');
    assert.match(bad.message, /^not a valid JSON Schema: .*allowed values.*string/);

    const notObject = onlyIssue(job('command: [true]\nparams:\n  type: array'));
    assert.deepEqual(notObject, {
      line: 5,
      path: 'jobs.report.params.type',
      message: 'the params schema must have type: object, got "array"',
    });

    const unresolved = onlyIssue(job('command: [true]\nparams:\n  type: object\n  properties:\n    x: {$ref: "#/nope"}'));
    assert.equal(unresolved.path, 'jobs.report.params');
    assert.match(unresolved.message, /not a valid JSON Schema: can't resolve reference/);
  });

  it('rejects concurrency_policy in the wrong case and lists the allowed values', () => {
    const issue = onlyIssue(job('command: [true]\nconcurrency_policy: forbid'));
    assert.deepEqual(issue, {
      line: 4,
      path: 'jobs.report.concurrency_policy',
      message: 'expected one of Allow, Forbid, Replace, got "forbid"; did you mean "Forbid"?',
    });
  });

  it('reads catch_up, defaulting to latest, and rejects other values at their line', () => {
    for (const policy of ['none', 'latest', 'all'] as const) {
      assert.equal(parseConfig(job(`command: [true]\ncatch_up: ${policy}`), FILE).jobs.get('report')?.catch_up, policy);
    }
    assert.deepEqual(onlyIssue(job('command: [true]\ncatch_up: Latest')), {
      line: 4,
      path: 'jobs.report.catch_up',
      message: 'expected one of none, latest, all, got "Latest"; did you mean "latest"?',
    });
    assert.deepEqual(onlyIssue(job('command: [true]\nschedule: "@daily"\ncatch_up: [all]')), {
      line: 5,
      path: 'jobs.report.catch_up',
      message: 'expected one of none, latest, all, got a list',
    });
    assert.equal(onlyIssue(job('command: [true]\ncatchUp: all')).message, 'unknown key "catchUp"; did you mean "catch_up"?');
  });

  it('rejects bad environment variable names and non-scalar values', () => {
    const issues = issuesOf(job('command: [true]\nenv:\n  GOOD_1: x\n  BAD-NAME: y\n  2FAST: z\n  LIST: [1, 2]'));
    assert.deepEqual(issues.map((i) => [i.line, i.path]), [
      [6, 'jobs.report.env.BAD-NAME'],
      [7, 'jobs.report.env.2FAST'],
      [8, 'jobs.report.env.LIST'],
    ]);
    assert.match(issues[0]?.message ?? '', /invalid environment variable name "BAD-NAME"/);
    assert.match(issues[2]?.message ?? '', /expected a string value.*, got a list/);
  });

  it('turns a YAML syntax error into a ConfigError with its line', () => {
    const indent = onlyIssue('jobs:\n  report:\n    command: [true]\n   timeout: 5m\n');
    assert.deepEqual(indent, { line: 4, path: '', message: 'All mapping items must start at the same column' });
    const tab = onlyIssue('jobs:\n  report:\n\tcommand: x\n');
    assert.equal(tab.line, 3);
    assert.match(tab.message, /tab/i);
    const dup = onlyIssue('jobs:\n  report:\n    command: [true]\n    command: [false]\n');
    assert.equal(dup.line, 4);
    assert.match(dup.message, /unique/);
    assert.throws(() => parseConfig('jobs:\n  report:\n    command: [python3, x\n    timeout: 5m\n', FILE), {
      name: 'ConfigError',
      message: /^kubescribe\.yaml:4: Flow sequence/,
    });
  });

  it('reports every problem in one pass, in line order', () => {
    const text = `version: 2\njobs:\n  ok-job:\n    command: []\n    timeout: 0s\n    retries: {limit: 101}\n  other:\n    image: busybox\n    notify: {on: [nope]}\n    labels: {team: [a]}\n`;
    const issues = issuesOf(text);
    assert.deepEqual(issues.map((i) => `${i.line}:${i.path}`), [
      '1:version',
      '4:jobs.ok-job.command',
      '5:jobs.ok-job.timeout',
      '6:jobs.ok-job.retries.limit',
      '7:jobs.other.command',
      '9:jobs.other.notify.on[0]',
      '10:jobs.other.labels.team',
    ]);
    const err = (() => {
      try {
        parseConfig(text, 'conf/k.yaml');
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('did not throw');
    })();
    assert.equal(err.message.split('\n').length, issues.length);
    assert.ok(err.message.startsWith('conf/k.yaml:1: version: unsupported config version 2'));
    assert.match(err.message, /^conf\/k\.yaml:5: jobs\.ok-job\.timeout: expected a duration greater than zero, got "0s"$/m);
  });

  it('rejects wrongly shaped sections', () => {
    assert.deepEqual(onlyIssue('jobs:\n  - report\n'), {
      line: 2,
      path: 'jobs',
      message: 'expected a map of job name to job definition, got a list',
    });
    assert.equal(onlyIssue('- a\n').path, '');
    assert.match(onlyIssue(job('command: "python3 \'oops"')).message, /unterminated single quote/);
    assert.match(onlyIssue(job('command: [true]\ntenant: 42')).message, /expected a string, got 42 \(quote it/);
  });
});

describe('loadConfig', () => {
  it('reads a file and reports a missing one as a ConfigError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubescribe-config-'));
    try {
      const file = join(dir, 'kubescribe.yaml');
      writeFileSync(file, FULL);
      const config = loadConfig(file);
      assert.equal(config.file, file);
      assert.equal(config.jobs.get('report')?.timeout_ms, 900_000);

      const missing = join(dir, 'nope.yaml');
      assert.throws(() => loadConfig(missing), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.message, `${missing}: config file not found`);
        assert.deepEqual(err.issues, [{ line: null, path: '', message: 'config file not found' }]);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('jobDefinitionHash', () => {
  it('is stable under key reordering and changes when a field changes', () => {
    const a = parseConfig(job('command: [run]\nenv: {A: "1", B: "2"}\nparams: {type: object, properties: {x: {type: string, default: d}}}'), FILE);
    const b = parseConfig(job('params: {properties: {x: {default: d, type: string}}, type: object}\nenv: {B: "2", A: "1"}\ncommand: [run]'), FILE);
    const jobA = a.jobs.get('report') as JobDefinition;
    const jobB = b.jobs.get('report') as JobDefinition;
    assert.match(jobDefinitionHash(jobA), /^[0-9a-f]{64}$/);
    assert.equal(jobDefinitionHash(jobA), jobDefinitionHash(jobB));
    assert.notEqual(jobDefinitionHash(jobA), jobDefinitionHash({ ...jobA, env: { A: '1', B: '3' } }));
    assert.notEqual(jobDefinitionHash(jobA), jobDefinitionHash({ ...jobA, timeout_ms: 1000 }));
    assert.notEqual(jobDefinitionHash(jobA), jobDefinitionHash({ ...jobA, command: ['run', 'x'] }));
  });
});

describe('splitCommandLine', () => {
  it('splits on whitespace and honours quotes and backslashes', () => {
    assert.deepEqual(splitCommandLine('python3  script.py\t--x 1'), ['python3', 'script.py', '--x', '1']);
    assert.deepEqual(splitCommandLine(`echo 'a  b' "c d" e\\ f`), ['echo', 'a  b', 'c d', 'e f']);
    assert.deepEqual(splitCommandLine(`a"b c"d 'it'\\''s'`), ['ab cd', "it's"]);
    assert.deepEqual(splitCommandLine(`say "" ''`), ['say', '', '']);
    assert.deepEqual(splitCommandLine(`"a \\"q\\" \\\\ \\n" '\\n'`), ['a "q" \\ \\n', '\\n']);
    assert.deepEqual(splitCommandLine('echo $HOME *.py | wc'), ['echo', '$HOME', '*.py', '|', 'wc']);
    assert.deepEqual(splitCommandLine('a \\\nb'), ['a', 'b']);
    assert.deepEqual(splitCommandLine('   '), []);
  });

  it('throws on unterminated quotes and a trailing backslash', () => {
    assert.throws(() => splitCommandLine(`echo 'oops`), /unterminated single quote/);
    assert.throws(() => splitCommandLine(`echo "oops`), /unterminated double quote/);
    assert.throws(() => splitCommandLine('echo \\'), /backslash/);
  });
});
