// The `local:` section of kubescribe.yaml: max_concurrent_runs is parsed with file:line errors, and a
// real server's local executor holds runs beyond it as queued unless --max-concurrent-runs overrides it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig, type ConfigIssue } from '../../src/config/job-config.ts';
import { readEnvironment } from '../../src/config/environment.ts';
import { createToken } from '../../src/runlog/sql/tokens.ts';
import { startServer, type RunningServer } from '../../src/server/server.ts';
import { waitFor } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

const FILE = 'kubescribe.yaml';

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, FILE);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail('expected parseConfig to throw');
}

describe('config: local', () => {
  test('max_concurrent_runs is read; without the section config.local is unset; an empty section is an empty map', () => {
    const config = parseConfig('version: 1\nlocal:\n  max_concurrent_runs: 2\njobs: {}\n', FILE);
    assert.deepEqual(config.local, { max_concurrent_runs: 2 });
    assert.equal(parseConfig('jobs: {}\n', FILE).local, undefined);
    assert.deepEqual(parseConfig('local:\njobs: {}\n', FILE).local, {}, 'an empty section is an empty map');
  });

  test('a value that is not a whole number from 1 to 1000 is an error at its line, naming the field and the value', () => {
    const issues = issuesOf([
      'version: 1',
      'local:',
      '  max_concurrent_runs: 0',
      'jobs:',
      '  a: {command: "true"}',
    ].join('\n'));
    assert.deepEqual(issues, [{ line: 3, path: 'local.max_concurrent_runs', message: 'expected a whole number from 1 to 1000, got 0' }]);
    for (const [value, shown] of [['2.5', '2.5'], ['"4"', '"4"'], ['-1', '-1'], ['1001', '1001'], ['[1]', 'a list'], ['', 'nothing']] as const) {
      const [issue] = issuesOf(`local:\n  max_concurrent_runs: ${value}\n`);
      assert.deepEqual(issue, { line: 2, path: 'local.max_concurrent_runs', message: `expected a whole number from 1 to 1000, got ${shown}` }, value);
    }
  });

  test('an unknown key under local is named with a suggestion; a local that is not a map is an error', () => {
    assert.deepEqual(issuesOf('local:\n  max_concurent_runs: 2\n'), [
      { line: 2, path: 'local.max_concurent_runs', message: 'unknown key "max_concurent_runs"; did you mean "max_concurrent_runs"?' },
    ]);
    assert.deepEqual(issuesOf('jobs: {}\nlocal: 3\n'), [{ line: 2, path: 'local', message: 'expected a map, got 3' }]);
  });

  test('the ConfigError message reads file:line: field: reason', () => {
    assert.throws(() => parseConfig('local:\n  max_concurrent_runs: many\njobs: {a: {command: "true"}}\n', '/srv/kubescribe.yaml'), {
      name: 'ConfigError',
      message: '/srv/kubescribe.yaml:2: local.max_concurrent_runs: expected a whole number from 1 to 1000, got "many"',
    });
  });
});

for (const engine of ENGINES) {
  describe(`local.max_concurrent_runs in a running server (${engine})`, () => {
    let runlog: TestRunLog;
    let scratch: string;
    const servers: RunningServer[] = [];

    before(async () => {
      runlog = await createTestRunLog(engine);
      scratch = mkdtempSync(join(tmpdir(), 'ks-local-config-'));
    });
    after(async () => {
      for (const server of servers) await server.close({ drain: false });
      await runlog.cleanup();
      rmSync(scratch, { recursive: true, force: true });
    });

    /** Starts a server whose job `hold` runs until the file `gate` exists; triggers `count` runs of it. */
    async function serveAndTrigger(gate: string, count: number, maxConcurrentRuns?: number) {
      const yaml = [
        'local:',
        '  max_concurrent_runs: 1',
        'jobs:',
        '  hold:',
        `    command: ["sh", "-c", "while [ ! -f ${gate} ]; do sleep 0.05; done"]`,
      ].join('\n');
      writeFileSync(join(scratch, 'kubescribe.yaml'), yaml);
      const config = parseConfig(yaml, join(scratch, 'kubescribe.yaml'));
      const server = await startServer({
        env: readEnvironment({ ...runlog.env }, scratch),
        config,
        host: '127.0.0.1',
        port: 0,
        executor: 'local',
        scheduler: false,
        maxConcurrentRuns,
        cwd: scratch,
        logger: false,
      });
      servers.push(server);
      const { token } = await createToken(server.db, { name: `test-${servers.length}`, scope: 'trigger', expires_at: null, created_by: 'test' });
      const call = async (method: string, path: string, body?: unknown) => {
        const response = await fetch(`${server.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const triggered = await call('POST', '/runs/trigger', { job: 'hold' });
        assert.equal(triggered.status, 202, JSON.stringify(triggered.body));
        ids.push(triggered.body.run_id as string);
      }
      const statuses = async () => Promise.all(ids.map(async (id) => (await call('GET', `/runs/${id}`)).body.status as string));
      return { server, ids, statuses };
    }

    test('with local.max_concurrent_runs: 1 the second run waits as queued until the first ends', async () => {
      const gate = join(scratch, 'gate-config');
      const { server, statuses } = await serveAndTrigger(gate, 2);
      await waitFor(async () => (await statuses())[0] === 'running', 20_000, 'the first run to be running');
      // Give the executor every chance to start the second one (it would within milliseconds).
      const settled = Date.now() + 1000;
      await waitFor(async () => {
        const [, second] = await statuses();
        assert.equal(second, 'queued', 'the second run started although the config allows one at a time');
        return Date.now() > settled;
      }, 10_000, 'a second with one run at a time');
      writeFileSync(gate, '');
      await waitFor(async () => (await statuses()).every((status) => status === 'succeeded'), 30_000, 'both runs to succeed, one after the other');
      await server.close();
    });

    test('--max-concurrent-runs overrides the file: two runs at once', async () => {
      const gate = join(scratch, 'gate-flag');
      const { server, statuses } = await serveAndTrigger(gate, 2, 2);
      await waitFor(async () => (await statuses()).every((status) => status === 'running'), 20_000, 'both runs to be running at once');
      writeFileSync(gate, '');
      await waitFor(async () => (await statuses()).every((status) => status === 'succeeded'), 30_000, 'both runs to succeed');
      await server.close();
    });
  });
}
