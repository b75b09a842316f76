// `kubescribe report` over real runs: the health table, the Markdown table and the API's JSON, the
// same whether it reads the RunLog itself or asks a running API; usage errors before anything loads.
// The runs are recorded by the real binary, which also prints the first table; the other reports
// run through the CLI's main() in this process (runCliInProcess), as what they print is the point.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { statsRoutes } from '../../src/api/routes/stats.ts';
import { emptyConfig } from '../../src/config/job-definition.ts';
import { RecordingExecutor } from '../../src/executors/executor.ts';
import { createToken } from '../../src/runlog/sql/tokens.ts';
import type { Db } from '../../src/runlog/db.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { REPO_ROOT, runCli, runCliInProcess } from '../support/cli.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');
// Times in the JSON that say when it was computed: they differ between two calls.
const withoutClock = (stats: Record<string, unknown>) => ({ ...stats, from: undefined, to: undefined });

for (const engine of ENGINES) {
  describe(`kubescribe report (${engine})`, () => {
    let t: TestRunLog;
    const binary = (args: string[]) => runCli(args, { env: t.env });
    // After the binary's runs and table, the in-process commands and the API share one opening of the
    // RunLog (~0.45 s of CPU each on PGlite).
    const cli = async (args: string[]) => runCliInProcess(args, { env: t.env, db: await t.hold() });
    const direct: Record<string, string> = {};

    before(async () => {
      t = await createTestRunLog(engine);
      await binary(['run', '-q', '--run-id', uuidv7(), '--job', 'alpha', '--', 'true']);
      await binary(['run', '-q', '--run-id', uuidv7(), '--job', 'beta', '--', 'true']);
      await binary(['run', '-q', '--run-id', uuidv7(), '--job', 'beta', '--', 'python3', EMIT, 'raise:no input files']);
      // The RunLog path, while no server holds the embedded RunLog.
      for (const [name, args] of Object.entries({ table: [], md: ['--md'], json: ['--json'], beta: ['--job', 'beta', '--json', '--window', '7d'] })) {
        const result = await (name === 'table' ? binary : cli)(['report', ...args]);
        assert.equal(result.code, 0, result.err);
        direct[name] = result.out;
      }
    });
    after(() => t.cleanup());

    test('the health table: success rate, p95, SLA, streak and the last failure with its error line', () => {
      const lines = direct.table!.trimEnd().split('\n');
      assert.match(lines[0]!, /^Job health over the last 30d \(\d{4}-\d\d-\d\d .* to \d{4}-\d\d-\d\d .*\)$/);
      assert.match(lines[2]!, /^JOB\s+RUNS\s+SUCCESS\s+P95 DURATION\s+SLA ON TIME\s+STREAK\s+LAST FAILURE$/);
      assert.match(lines[3]!, /^alpha\s+1\s+100\.0%\s+\d+\.\ds\s+-\s+1 succeeded\s+-$/);
      assert.match(lines[4]!, /^beta\s+2\s+50\.0%\s+\d+\.\ds\s+-\s+1 failed\s+beta#2 failed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+: RuntimeError: no input files$/);
    });

    test('--md prints a Markdown table for a ticket', () => {
      const lines = direct.md!.trimEnd().split('\n');
      assert.match(lines[0]!, /^\*\*Job health, last 30d\*\* \(to .*\)$/);
      assert.equal(lines[2], '| Job | Runs | Success | p95 duration | SLA on time | Streak | Last failure |');
      assert.equal(lines[3], '|---|---:|---:|---:|---:|---|---|');
      assert.match(lines[5]!, /^\| beta \| 2 \| 50\.0% \| \d+\.\ds \| - \| 1 failed \| beta#2 failed .*: RuntimeError: no input files \|$/);
    });

    test('--json is the API\'s JSON, and through a running API the report is the same', async () => {
      const all = JSON.parse(direct.json!) as { window: string; jobs: Record<string, unknown>[] };
      assert.equal(all.window, '30d');
      assert.deepEqual(all.jobs.map((job) => job.job_name), ['alpha', 'beta']);
      const beta = JSON.parse(direct.beta!) as Record<string, any>;
      assert.equal(beta.window, '7d');
      assert.equal(beta.success_rate, 0.5);
      assert.match(beta.last_failure.error_line, /^RuntimeError: no input files/);

      const db: Db = await t.hold();
      let app: FastifyInstance | undefined;
      try {
        const { token } = await createToken(db, { name: 'report-reader', scope: 'read', expires_at: null, created_by: 'test' });
        app = await buildApp({ db, config: emptyConfig(), executor: new RecordingExecutor() }, [statsRoutes]);
        const url = await app.listen({ host: '127.0.0.1', port: 0 });
        const api = (args: string[]) => cli(['report', '--server', url, '--token', token, ...args]);
        const overApi = await api(['--json']);
        assert.equal(overApi.code, 0, overApi.err);
        const fromApi = JSON.parse(overApi.out) as typeof all;
        assert.deepEqual(fromApi.jobs.map(withoutClock), all.jobs.map(withoutClock));
        const betaApi = await api(['--job', 'beta', '--json', '--window', '7d']);
        assert.deepEqual(withoutClock(JSON.parse(betaApi.out)), withoutClock(beta));
        const table = await api([]);
        assert.equal(table.code, 0, table.err);
        // The same rows (the header's times aside).
        assert.deepEqual(table.out.split('\n').slice(1), direct.table!.split('\n').slice(1));
        const unknown = await api(['--job', 'nope']);
        assert.equal(unknown.code, 2);
        assert.match(unknown.err, /no job nope/);
      } finally {
        await app?.close();
      }
      const unknown = await cli(['report', '--job', 'nope']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.err, /kubescribe: no job nope in the RunLog/);
    });
  });
}

test('usage errors name the option and answer before anything is contacted', async () => {
  const window = await runCliInProcess(['report', '--window', '2d', '--server', 'http://127.0.0.1:9']);
  assert.equal(window.code, 2);
  assert.match(window.err, /--window 2d: expected one of 24h, 7d, 30d, 90d/);
  const both = await runCliInProcess(['report', '--json', '--md', '--server', 'http://127.0.0.1:9']);
  assert.equal(both.code, 2);
  assert.match(both.err, /--json and --md: choose one output/);
});
