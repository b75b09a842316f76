// The CLI read side over a real RunLog: runs, runs show, logs, and their errors. The runs are recorded
// by the real `kubescribe run` binary; the read commands run through the CLI's main in this process
// (runCliInProcess: what they print and return is the point), except one table and the unreachable
// database's one line, which the real binary prints.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { REPO_ROOT, runCli, runCliInProcess } from '../support/cli.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { loadMigrations } from '../../src/runlog/migrate.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');

for (const engine of ENGINES) {
  describe(`kubescribe runs / runs show / logs (${engine})`, () => {
    let t: TestRunLog;
    const ok = uuidv7();
    const bad = uuidv7();
    // The commands share one opening of the RunLog, held from the first until migrate's (which opens
    // its own): no child process needs it after `before`'s runs and the first test's table.
    const cli = async (args: string[]) => runCliInProcess(args, { env: t.env, db: await t.hold() });

    before(async () => {
      t = await createTestRunLog(engine);
      await runCli(['run', '-q', '--run-id', ok, '--job', 'alpha', '--heartbeat', '200ms', '--', 'python3', EMIT, 'out:first line', 'err:a warning', 'sleep:1.2', 'out:last line', 'metric:rows=3'], { env: t.env });
      await runCli(['run', '-q', '--run-id', bad, '--job', 'beta', '--', 'python3', EMIT, 'raise:no input files'], { env: t.env });
    });
    after(() => t.cleanup());

    test('runs lists newest first as a table, with status, exit code and the error', async () => {
      const result = await runCli(['runs'], { env: t.env });
      assert.equal(result.code, 0, result.err);
      const lines = result.out.trimEnd().split('\n');
      assert.match(lines[0]!, /^RUN\s+RUN ID\s+JOB\s+STATUS\s+TRIGGER\s+CREATED\s+DURATION\s+EXIT\s+ERROR$/);
      assert.match(lines[1]!, new RegExp(`^beta#1\\s+${bad}\\s+beta\\s+failed\\s+manual\\s+.*\\s1\\s+RuntimeError: no input files$`));
      assert.match(lines[2]!, new RegExp(`^alpha#1\\s+${ok}\\s+alpha\\s+succeeded\\s+manual\\s+`));
    });

    test('runs filters by job and status and prints JSON with snake_case fields', async () => {
      const result = await cli(['runs', '--job', 'alpha', '--status', 'succeeded', '--json']);
      assert.equal(result.code, 0, result.err);
      const runs = JSON.parse(result.out) as Record<string, unknown>[];
      assert.deepEqual(runs.map((run) => run.run_id), [ok]);
      assert.equal(runs[0]!.exit_code, 0);
      assert.deepEqual(runs[0]!.metrics, { rows: 3 });
      const none = await cli(['runs', '--status', 'lost', '--json']);
      assert.deepEqual(JSON.parse(none.out), []);
    });

    test('bad filters are usage errors naming the option', async () => {
      const status = await cli(['runs', '--status', 'done']);
      assert.equal(status.code, 2);
      assert.match(status.err, /--status done: expected one of queued, starting, running, succeeded, failed, cancelled, timed_out, lost/);
      const limit = await cli(['runs', '--limit', '0']);
      assert.equal(limit.code, 2);
      assert.match(limit.err, /--limit 0: expected a whole number from 1 to 500/);
    });

    test('runs show prints the run, the traceback and the events; a prefix of the id is enough', async () => {
      const result = await cli(['runs', 'show', bad.slice(0, 18)]);
      assert.equal(result.code, 0, result.err);
      assert.match(result.out, new RegExp(`^run_id\\s+${bad}$`, 'm'));
      assert.match(result.out, /^status\s+failed$/m);
      assert.match(result.out, /^error\s+RuntimeError: no input files$/m);
      assert.match(result.out, /Traceback \(most recent call last\):/);
      assert.match(result.out, /running → failed/);
      const json = JSON.parse((await cli(['runs', 'show', bad, '--json'])).out) as { status: string; events: unknown[] };
      assert.equal(json.status, 'failed');
      assert.equal(json.events.length, 3);
    });

    test('runs show and logs take the run number, job#N or job~N', async () => {
      const shown = await cli(['runs', 'show', 'beta#1']);
      assert.equal(shown.code, 0, shown.err);
      assert.match(shown.out, /^run\s+beta#1$/m);
      assert.match(shown.out, new RegExp(`^run_id\\s+${bad}$`, 'm'));
      const logs = await cli(['logs', 'alpha~1']);
      assert.equal(logs.code, 0, logs.err);
      assert.equal(logs.out, 'first line\na warning\nlast line\n');
      const missing = await cli(['logs', 'alpha#2']);
      assert.equal(missing.code, 2);
      assert.match(missing.err, /no run alpha#2/);
    });

    test('logs prints the stored output in order', async () => {
      const result = await cli(['logs', ok]);
      assert.equal(result.code, 0, result.err);
      assert.equal(result.out, 'first line\na warning\nlast line\n');
      const split = await cli(['logs', ok, '--split']);
      assert.equal(split.out, 'first line\nlast line\n');
      assert.equal(split.err, 'a warning\n');
    });

    test('the heartbeat is refreshed while the command lives', async () => {
      const saved = (await t.withDb((db) => getRun(db, ok)))!;
      const beat = saved.heartbeat_at!.getTime() - saved.started_at!.getTime();
      assert.ok(beat >= 800, `last heartbeat ${beat} ms after the start, expected about 1000 ms with --heartbeat 200ms`);
    });

    test('runs --trigger / --since / --until / --label filter the RunLog as the API does', async () => {
      await t.withDb((db) => db.query(`UPDATE runs SET labels = '{"team":"data"}'::jsonb WHERE run_id = $1`, [ok]));
      const created = (await t.withDb((db) => getRun(db, ok)))!.created_at;
      const ids = async (...args: string[]) => {
        const result = await cli(['runs', '--json', ...args]);
        assert.equal(result.code, 0, result.err);
        return (JSON.parse(result.out) as { run_id: string }[]).map((run) => run.run_id);
      };
      assert.deepEqual(await ids('--label', 'team=data'), [ok]);
      assert.deepEqual(await ids('--trigger', 'manual'), [bad, ok]);
      assert.deepEqual(await ids('--trigger', 'schedule'), []);
      assert.deepEqual(await ids('--since', created.toISOString()), [bad, ok]);
      assert.deepEqual(await ids('--until', created.toISOString()), []);
      assert.deepEqual(await ids('--until', new Date(created.getTime() + 1).toISOString(), '--since', '1d'), [ok]);
      const none = await cli(['runs', '--trigger', 'chain']);
      assert.equal(none.out, 'No runs match.\n');
      const label = await cli(['runs', '--label', '=x']);
      assert.deepEqual([label.code, label.err], [2, 'kubescribe: --label =x: expected key=value, e.g. --label team=data\n']);
    });

    test('suspend and resume without a server write the RunLog, with who and why in job_events', async () => {
      const suspended = await cli(['suspend', 'alpha', '--reason', 'disk full']);
      assert.equal(suspended.code, 0, suspended.err);
      assert.match(suspended.out, /^job alpha suspended: /);
      const again = await cli(['suspend', 'alpha']);
      assert.match(again.out, /^job alpha suspended \(it already was\): /);
      const resumed = JSON.parse((await cli(['resume', 'alpha', '--json'])).out) as { suspended: boolean; changed: boolean };
      assert.deepEqual(resumed, { name: 'alpha', suspended: false, changed: true });
      const events = await t.withDb((db) => db.query<{ type: string; actor: string; reason: string | null }>(
        "SELECT type, actor, detail->>'reason' AS reason FROM job_events WHERE job = 'alpha' ORDER BY at, event_id"));
      assert.deepEqual(events.map((e) => [e.type, e.reason]), [['suspended', 'disk full'], ['resumed', null]]);
      assert.ok(events.every((e) => e.actor), 'the actor is recorded');
      const unknown = await cli(['suspend', 'nope']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.err, /^kubescribe: no job nope in the RunLog or in \S*kubescribe\.yaml\n$/);
    });

    test('an unknown run id is a clear error', async () => {
      const missing = await cli(['logs', uuidv7()]);
      assert.equal(missing.code, 2);
      assert.match(missing.err, /no run .* in the RunLog/);
      const garbage = await cli(['runs', 'show', 'not-an-id!']);
      assert.equal(garbage.code, 2);
      assert.match(garbage.err, /"not-an-id!" is not a run reference: expected a run id, a run number such as report#42/);
    });

    test('migrate reports the schema version, is idempotent, and records the jobs of the config file', async () => {
      // migrate opens the RunLog itself, without migrating first, to report the version it found.
      await t.release();
      const migrate = () => runCliInProcess(['migrate'], { env: t.env });
      const result = await migrate();
      assert.equal(result.code, 0, result.err);
      assert.match(result.out, new RegExp(`schema version ${loadMigrations().length}, up to date`));
      assert.match(result.out, /jobs from .*kubescribe\.yaml: report \(revision 1\)/);
      const again = await migrate();
      assert.match(again.out, /report \(revision 1\)/, 'an unchanged definition keeps its revision');
      const jobs = await t.withDb((db) => db.query<{ name: string; declared: boolean; current_revision: number | null }>(
        'SELECT name, declared, current_revision FROM jobs ORDER BY name'));
      assert.deepEqual(jobs.find((job) => job.name === 'report'), { name: 'report', declared: true, current_revision: 1 });
    });
  });
}

describe('unreachable PostgreSQL for read commands', () => {
  test('one clear line, no stack trace, password redacted', async () => {
    const result = await runCli(['runs'], { env: { DATABASE_URL: 'postgres://me:s3cret@127.0.0.1:1/none', KUBESCRIBE_HOME: '/tmp/ks-unreachable' } });
    assert.equal(result.code, 1);
    assert.equal(result.err.trim().split('\n').length, 1, result.err);
    assert.match(result.err, /^kubescribe: cannot reach the RunLog at postgres:\/\/me:\*\*\*@127\.0\.0\.1:1\/none: /);
    assert.doesNotMatch(result.err, /s3cret/);
  });
});
