// The CLI as an API client: `kubescribe` (its main() in this process where what it prints and returns
// is checked, the real binary where it is watched as it runs or signalled) over real HTTP against the
// real route groups (ALL_ROUTES, as `serve` registers them) on a real RunLog. A scripted executor holds every
// run where it is until the test moves it on, and the test moves it once the CLI has shown what it
// must: each state is seen, with no sleeps.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/job-config.ts';
import { listRuns } from '../../src/runlog/sql/run-queries.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { Retrier } from '../../src/runs/retrier.ts';
import type { RunStatus } from '../../src/runlog/types.ts';
import { parseSse } from '../../src/api-client/api-client.ts';
import { parseTriggerParams } from '../../src/cli/trigger-command.ts';
import { exitCodeOf } from '../../src/cli/wait-for-run.ts';
import { StatusLine } from '../../src/cli/status-line.ts';
import { localUrlOf, readLocalServer, readLocalToken, removeServerFile, resolveServer, writeLocalToken, writeServerFile } from '../../src/cli/server-file.ts';
import { ALL_ROUTES } from '../support/full-api.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { runCli, runCliInProcess, waitFor } from '../support/cli.ts';
import { ScriptedExecutor, type ScriptedRun } from './scripted-executor.ts';

// Nothing may fall through to the direct RunLog path by accident: its database does not answer.
const DEAD_DB = 'postgres://nobody@127.0.0.1:9/none';

const CONFIG = parseConfig(`
jobs:
  ok:
    command: ["python3", "ok.py"]
    env: { API_TENANT: "not shown" }
    labels: { team: data }
  fail: { command: ["false"] }
  crash: { command: ["false"] }
  slow: { command: ["sleep", "1000"] }
  flaky: { command: ["true"] }
  hang: { command: ["sleep", "1000"] }
  nightly:
    command: ["true"]
    schedule: "0 6 * * *"
    time_zone: Europe/Berlin
`, 'kubescribe.yaml');

const OK_LOG: [ 'stdout' | 'stderr', string][] = [['stdout', 'hello\n'], ['stderr', 'a warning\n'], ['stdout', 'second line\n']];
const lines = (text: string) => text.trimEnd().split('\n');

// The CLI talks HTTP; what differs between the engines is below the API, and the API's own tests
// run on both. Both here would double the slowest CLI file and add no coverage: the one engine is
// PostgreSQL when there is one (the production engine), else PGlite.
const ENGINE = ENGINES[ENGINES.length - 1]!;

describe(`kubescribe as an API client (${ENGINE})`, () => {
  let api: TestApi;
  let home: string;
  let retrier: Retrier;
  const executor = new ScriptedExecutor();
  const env = (extra: Record<string, string> = {}) => ({
    KUBESCRIBE_HOME: home, DATABASE_URL: DEAD_DB, KUBESCRIBE_SERVER: api.url, KUBESCRIBE_TOKEN: api.tokens.trigger, ...extra,
  });
  // What a command prints and returns is checked through main() in this process; a command watched
  // as it runs (its stderr as it comes, a SIGINT) is the real binary.
  const cli = (args: string[], extra: Record<string, string> = {}) => runCliInProcess(args, { env: env(extra) });
  const run = async (id: string) => (await getRun(api.db, id))!;

  /** Starts the CLI and gives its stderr as it comes, to wait on. */
  function watched(args: string[], extra: Record<string, string> = {}) {
    const seen = { err: '', out: '', child: null as ChildProcess | null };
    const result = runCli(args, { env: env(extra), onSpawn: (child) => {
      seen.child = child;
      child.stderr?.on('data', (data: Buffer) => (seen.err += data.toString()));
      child.stdout?.on('data', (data: Buffer) => (seen.out += data.toString()));
    } });
    return { seen, result, shows: (pattern: RegExp, what: string) => waitFor(() => pattern.test(seen.err), 30_000, what) };
  }

  /** Triggers `job` without waiting and plays its run to `succeeded` with the usual log. */
  async function finishedOk(...args: string[]): Promise<string> {
    const result = await cli(['trigger', 'ok', ...args]);
    assert.equal(result.code, 0, result.err);
    const scripted = await executor.nextRun('ok');
    assert.equal(scripted.runId, result.out.trim());
    await scripted.play(OK_LOG, { status: 'succeeded', exit_code: 0 });
    return scripted.runId;
  }

  before(async () => {
    api = await startTestApi(ENGINE, { routes: ALL_ROUTES, config: CONFIG, executor });
    executor.db = api.db;
    // The retrier `serve` runs beside its executor decides every failed run's retry; without one, each
    // failing `--wait` waited out the 3 s it gives a pending decision (a third of this file's time).
    retrier = new Retrier({ db: api.db, config: CONFIG, executor, pollMs: 50 });
    await retrier.start();
    home = mkdtempSync(join(tmpdir(), 'ks-client-'));
  });
  after(async () => {
    await retrier?.stop();
    await api.close();
    rmSync(home, { recursive: true, force: true });
  });

  test('trigger --wait streams the log to stdout, reports each status change on stderr, and exits 0', async () => {
    const waiting = watched(['trigger', 'ok', '--wait', '--reason', 'backfill', '-p', 'n=5', '-p', 'flag=true', '-p', 'day=2026-11-25',
      '-p', 'obj={"a":1}', '-p', 'list=[1,2]', '-p', 'zip="02139"', '-p', 'nothing=null', '-p', 'eq=a=b']);
    const scripted = await executor.nextRun('ok');
    await waiting.shows(/: queued\n/, 'the queued line');
    await scripted.start();
    await waiting.shows(/: running\n/, 'the running line');
    for (const [stream, text] of OK_LOG) await scripted.log(stream, text);
    await scripted.finish({ status: 'succeeded', exit_code: 0 });
    const result = await waiting.result;
    assert.equal(result.code, 0, result.err);
    assert.equal(result.out, 'hello\na warning\nsecond line\n');
    const err = lines(result.err);
    const id = scripted.runId;
    assert.deepEqual(err.slice(0, 3), [`triggered ok: run ${id}`, `run ${id} (ok): queued`, `run ${id} (ok): running`]);
    assert.match(err[3]!, new RegExp(`^run ${id} \\(ok\\): succeeded after (?:\\d+[hms]+)+, exit code 0$`));
    assert.equal(err.length, 4);
    const saved = await run(id);
    assert.deepEqual(saved.params, { n: 5, flag: true, day: '2026-11-25', obj: { a: 1 }, list: [1, 2], zip: '02139', nothing: 'null', eq: 'a=b' });
    assert.equal(saved.triggered_by, 'token:test-trigger');
    const events = JSON.parse((await cli(['runs', 'show', id, '--json'])).out) as { events: { type: string; detail: Record<string, unknown> }[] };
    assert.equal(events.events[0]!.detail.reason, 'backfill');
  });

  test("--wait mirrors the run's exit: its exit code, 1 without one, 124 timed out", async () => {
    const endings: [string, Parameters<ScriptedRun['finish']>[0]][] = [
      ['fail', { status: 'failed', exit_code: 3, error_type: 'RuntimeError', error_message: 'boom' }],
      ['crash', { status: 'failed', exit_code: null, signal: 'SIGKILL' }],
      ['slow', { status: 'timed_out', exit_code: null, signal: 'SIGTERM' }],
    ];
    const results = endings.map(([job]) => cli(['trigger', job, '--wait']));
    await Promise.all(endings.map(async ([job, ending]) => (await executor.nextRun(job)).play([['stdout', `${job} output\n`]], ending)));
    const [fail, crash, slow] = await Promise.all(results);
    assert.equal(fail!.code, 3, fail!.err);
    assert.match(fail!.err, /: failed after (?:\d+[hms]+)+, exit code 3: RuntimeError: boom\n$/);
    assert.equal(fail!.out, 'fail output\n');
    assert.equal(crash!.code, 1, crash!.err);
    assert.match(crash!.err, /: failed after (?:\d+[hms]+)+, SIGKILL\n$/);
    assert.equal(slow!.code, 124, slow!.err);
    assert.match(slow!.err, /: timed_out after /);
  });

  test('--wait ends with 130 when the run is cancelled; cancel says what became of the run; a finished run cannot be cancelled', async () => {
    const waiting = watched(['trigger', 'hang', '--wait']);
    const scripted = await executor.nextRun('hang');
    await scripted.play([['stdout', 'waiting\n']]);
    await waiting.shows(/: running\n/, 'the running line');
    const cancel = await cli(['cancel', scripted.runId.slice(0, 20)]);
    assert.equal(cancel.code, 0, cancel.err);
    assert.equal(cancel.out, `run ${scripted.runId} is being cancelled: its process is being stopped\n`);
    const result = await waiting.result;
    assert.equal(result.code, 130, result.err);
    assert.equal(result.out, 'waiting\n');
    assert.match(result.err, new RegExp(`run ${scripted.runId} \\(hang\\): cancelled after`));
    const again = await cli(['cancel', scripted.runId]);
    assert.deepEqual([again.code, again.out], [0, `run ${scripted.runId} cancelled\n`]);
    const ok = await finishedOk();
    const finished = await cli(['cancel', ok]);
    assert.equal(finished.code, 1);
    assert.equal(finished.err, `kubescribe: run ${ok} already finished (succeeded); only a live run can be cancelled\n`);
  });

  test('a queued run is cancelled at once', async () => {
    const id = (await cli(['trigger', 'hang'])).out.trim();
    await executor.nextRun('hang');
    const cancel = await cli(['cancel', id]);
    assert.deepEqual([cancel.code, cancel.out], [0, `run ${id} cancelled\n`]);
    assert.equal((await run(id)).status, 'cancelled');
  });

  test('Ctrl-C stops the waiting, not the run, and says how to cancel it', async () => {
    const waiting = watched(['trigger', 'hang', '--wait']);
    const scripted = await executor.nextRun('hang');
    await scripted.start();
    await waiting.shows(/ \(hang\): running/, 'the running status line');
    waiting.seen.child!.kill('SIGINT');
    const result = await waiting.result;
    assert.equal(result.code, 130);
    assert.match(result.err, new RegExp(`run ${scripted.runId} goes on \\(stop it with: kubescribe cancel ${scripted.runId}\\)`));
    assert.equal((await run(scripted.runId)).status, 'running');
    assert.equal((await cli(['cancel', scripted.runId])).code, 0);
  });

  test('a log stream that drops is resumed from the last chunk: nothing lost, nothing twice', async () => {
    const proxy = new TcpProxy({ host: '127.0.0.1', port: Number(new URL(api.url).port) });
    await proxy.start();
    try {
      const waiting = watched(['trigger', 'flaky', '--wait'], { KUBESCRIBE_SERVER: `http://127.0.0.1:${proxy.port}` });
      const scripted = await executor.nextRun('flaky');
      await scripted.play([['stdout', 'one\n']]);
      await waitFor(() => waiting.seen.out === 'one\n', 30_000, 'the first chunk');
      // Every open connection gets a reset, the log stream's too, as when a server restarts.
      proxy.reset();
      await scripted.log('stdout', 'two\n');
      await scripted.log('stdout', 'three\n');
      await scripted.finish({ status: 'succeeded', exit_code: 0 });
      const result = await waiting.result;
      assert.equal(result.code, 0, result.err);
      assert.equal(result.out, 'one\ntwo\nthree\n');
    } finally {
      await proxy.close();
    }
  });

  test('without --wait: the run id on stdout, or the API answer with --json; the same idempotency key gets the same run', async () => {
    const plain = await cli(['trigger', 'ok']);
    assert.match(plain.out, /^[0-9a-f-]{36}\n$/);
    assert.match(plain.err, /^triggered ok: run \S+ is queued; follow it with: kubescribe logs -f \S+\n$/);
    await (await executor.nextRun('ok')).play(OK_LOG, { status: 'succeeded', exit_code: 0 });
    const first = JSON.parse((await cli(['trigger', 'ok', '--json', '--idempotency-key', 'nightly-1'])).out) as { run_id: string; status: string; links: object };
    assert.equal(first.status, 'queued');
    assert.ok(first.links);
    const same = await cli(['trigger', 'ok', '--idempotency-key', 'nightly-1']);
    assert.equal(same.out.trim(), first.run_id);
    await (await executor.nextRun('ok')).play(OK_LOG, { status: 'succeeded', exit_code: 0 });
    const waiting = cli(['trigger', 'fail', '-p', 'code=4', '--wait', '--json']);
    await (await executor.nextRun('fail')).play([], { status: 'failed', exit_code: 4 });
    const waited = await waiting;
    assert.equal(waited.code, 4);
    assert.equal((JSON.parse(waited.out) as { status: string }).status, 'failed');
  });

  test('--dry-run shows what would run and creates nothing', async () => {
    const count = async () => (await listRuns(api.db, { limit: 500 })).length;
    const before = await count();
    const result = await cli(['trigger', 'ok', '--dry-run', '-p', 'n=1']);
    assert.equal(result.code, 0, result.err);
    assert.match(result.out, /^job\s+ok\nparams\s+\{"n":1\}\ncommand\s+python3 ok\.py\nenv\s+API_TENANT\nexecutor\s+local\npolicy\s+concurrency Allow\ndry run: nothing was created\n$/);
    assert.doesNotMatch(result.out, /not shown/);
    const json = JSON.parse((await cli(['trigger', 'ok', '--dry-run', '--json'])).out) as Record<string, unknown>;
    assert.deepEqual([json.job, json.params, json.command, json.env_names, json.executor], ['ok', {}, ['python3', 'ok.py'], ['API_TENANT'], 'local']);
    assert.equal(await count(), before);
  });

  test('runs, runs show and logs [-f] go over the API', async () => {
    const id = await finishedOk();
    const followed = await cli(['logs', '-f', id.slice(0, 24)]);
    assert.equal(followed.code, 0, followed.err);
    assert.equal(followed.out, 'hello\na warning\nsecond line\n');
    const split = await cli(['logs', id, '--split']);
    assert.deepEqual([split.out, split.err], ['hello\nsecond line\n', 'a warning\n']);
    const listed = JSON.parse((await cli(['runs', '--job', 'ok', '--status', 'succeeded', '--json'])).out) as { run_id: string; job: string }[];
    assert.equal(listed[0]!.run_id, id);
    assert.ok(listed.every((r) => r.job === 'ok'));
    const table = await cli(['runs', '--limit', '1']);
    assert.match(lines(table.out)[0]!, /^RUN\s+RUN ID\s+JOB\s+STATUS\s+TRIGGER\s+CREATED\s+DURATION\s+EXIT\s+ERROR$/);
    // The time carries its zone: the tests run with this machine's zone, whatever it is.
    assert.match(lines(table.out)[1]!, new RegExp(`^ok#\\d+\\s+${id}\\s+ok\\s+succeeded\\s+api\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d (?:UTC|[+-]\\d\\d:\\d\\d)\\s+\\S+\\s+0$`));
    assert.equal(lines(table.out).length, 2);
    const shown = await cli(['runs', 'show', id]);
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, new RegExp(`^run_id\\s+${id}$`, 'm'));
    assert.match(shown.out, /^status\s+succeeded$/m);
    // The run number in the RUN column names the same run, through the API as straight from the RunLog.
    const number = lines(table.out)[1]!.split(/\s+/)[0]!;
    const byNumber = await cli(['runs', 'show', number]);
    assert.equal(byNumber.code, 0, byNumber.err);
    assert.match(byNumber.out, new RegExp(`^run_id\\s+${id}$`, 'm'));
    assert.equal((await cli(['logs', number.replace('#', '~')])).out, 'hello\na warning\nsecond line\n');
    const unknown = await cli(['runs', 'show', 'ok#999999']);
    assert.deepEqual([unknown.code, unknown.err], [2, 'kubescribe: no run ok#999999\n']);
    assert.match(shown.out, /^trigger\s+api by token:test-trigger$/m);
    assert.match(shown.out, /queued → running/);
    const json = JSON.parse((await cli(['runs', 'show', id, '--json'])).out) as { events: unknown[]; duration_ms: number };
    assert.equal(json.events.length, 3);
    assert.equal(typeof json.duration_ms, 'number');
    assert.equal((await cli(['runs', '--status', 'done'])).code, 2);
  });

  test('runs --since / --until / --label / --trigger filter through the API; bad values name the flag', async () => {
    const id = await finishedOk();
    const ids = async (...args: string[]) => {
      const result = await cli(['runs', '--json', '--limit', '500', ...args]);
      assert.equal(result.code, 0, result.err);
      return (JSON.parse(result.out) as { run_id: string }[]).map((r) => r.run_id);
    };
    const created = (await run(id)).created_at;
    assert.ok((await ids('--since', new Date(created.getTime()).toISOString())).includes(id));
    assert.ok(!(await ids('--since', new Date(created.getTime() + 1).toISOString())).includes(id));
    assert.ok((await ids('--until', new Date(created.getTime() + 1).toISOString())).includes(id));
    assert.ok(!(await ids('--until', created.toISOString())).includes(id));
    assert.ok((await ids('--since', '1h')).includes(id));
    assert.ok((await ids('--label', 'team=data')).includes(id));
    assert.deepEqual(await ids('--label', 'team=web'), []);
    assert.ok((await ids('--trigger', 'api')).includes(id));
    assert.ok(!(await ids('--trigger', 'schedule')).includes(id));
    const none = await cli(['runs', '--trigger', 'chain']);
    assert.deepEqual([none.code, none.out], [0, 'No runs match.\n']);
    const bad: [string[], RegExp][] = [
      [['--since', 'yesterday'], /^kubescribe: --since yesterday: expected a time \(2026-12-01, /],
      [['--until', '2026-13-45'], /^kubescribe: --until 2026-13-45: expected a time/],
      [['--label', 'team'], /^kubescribe: --label team: expected key=value/],
      [['--trigger', 'cron'], /^kubescribe: --trigger cron: expected one of schedule, manual, api, retry, chain/],
      [['--since', '1h', '--until', '2h'], /^kubescribe: --since 1h is not before --until 2h/],
    ];
    for (const [args, message] of bad) {
      const result = await cli(['runs', ...args]);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.err, message);
    }
  });

  test('retry starts a new run with the same params, overridden by -p', async () => {
    const failing = cli(['trigger', 'fail', '-p', 'code=5', '-p', 'day=x', '--wait']);
    await (await executor.nextRun('fail')).play([], { status: 'failed', exit_code: 5 });
    const original = /run (\S+)/.exec((await failing).err)![1]!;
    const retrying = cli(['retry', original.slice(0, 16), '-p', 'code=0', '--wait']);
    await (await executor.nextRun('fail')).play([], { status: 'succeeded', exit_code: 0 });
    const result = await retrying;
    assert.equal(result.code, 0, result.err);
    const id = /^retrying \S+: run (\S+)$/m.exec(result.err)![1]!;
    const retried = await run(id);
    assert.deepEqual([retried.trigger, retried.retry_of, retried.attempt, retried.params], ['retry', original, 2, { code: 0, day: 'x' }]);
  });

  test("jobs lists schedule, next run in the job's own zone, last run, health and suspension; suspend and resume", async () => {
    await finishedOk();
    const listed = async () => {
      const result = await cli(['jobs']);
      assert.equal(result.code, 0, result.err);
      return lines(result.out);
    };
    const [head, ...rows] = await listed();
    assert.match(head!, /^NAME\s+SCHEDULE\s+NEXT RUN\s+LAST RUN\s+HEALTH\s+SUSPENDED$/);
    const row = (name: string, all: string[]) => all.find((line) => line.startsWith(`${name} `))!;
    // 06:00 in Berlin reads 06:00 next to the schedule, with the offset of that day (CET or CEST).
    assert.match(row('nightly', rows), /^nightly\s+at 06:00 every day \(Europe\/Berlin\)\s+\d{4}-\d\d-\d\d 06:00:00 \+0[12]:00\s+-\s+unknown\s+no$/);
    assert.match(row('ok', rows), /^ok\s+-\s+-\s+succeeded \d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?:UTC|[+-]\d\d:\d\d)\s+healthy\s+no$/);
    assert.equal((JSON.parse((await cli(['jobs', '--json'])).out) as unknown[]).length, CONFIG.jobs.size);

    const notAdmin = await cli(['suspend', 'nightly']);
    assert.equal(notAdmin.code, 1);
    assert.match(notAdmin.err, /needs admin; use a token with scope admin/);
    const admin = { KUBESCRIBE_TOKEN: api.tokens.admin };
    const suspended = await cli(['suspend', 'nightly', '--reason', 'maintenance'], admin);
    assert.equal(suspended.code, 0, suspended.err);
    assert.equal(suspended.out, 'job nightly suspended: its schedule fires no runs until `kubescribe resume nightly`; it can still be triggered\n');
    assert.match(row('nightly', await listed()), /^nightly\s+at 06:00 every day \(Europe\/Berlin\)\s+-\s+-\s+unknown\s+yes$/);
    const [event] = await api.db.query<{ actor: string; detail: { reason: string } }>(
      "SELECT actor, detail FROM job_events WHERE job = 'nightly' AND type = 'suspended' ORDER BY at DESC LIMIT 1");
    assert.deepEqual([event!.actor, event!.detail.reason], ['token:test-admin', 'maintenance']);
    const resumed = JSON.parse((await cli(['resume', 'nightly', '--json'], admin)).out) as { suspended: boolean; action: { type: string } };
    assert.deepEqual([resumed.suspended, resumed.action.type], [false, 'resume']);
    assert.match(row('nightly', await listed()), /\s+no$/);
    const unknown = await cli(['suspend', 'nope'], admin);
    assert.deepEqual([unknown.code, unknown.err], [2, 'kubescribe: no job nope\n']);
  });

  test('no token, a bad token, too small a scope, an unknown job: one line each, saying what to do', async () => {
    const none = await cli(['runs'], { KUBESCRIBE_TOKEN: '' });
    assert.equal(none.code, 1);
    assert.equal(none.err, `kubescribe: the KubeScribe API at ${api.url} needs a token: give --token or set KUBESCRIBE_TOKEN (an admin makes one with: kubescribe tokens create --name NAME --scope read|trigger|admin; the first one, straight in the RunLog: kubescribe tokens create --name admin --scope admin --runlog)\n`);
    const bad = await cli(['jobs'], { KUBESCRIBE_TOKEN: 'ksk_wrong' });
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^kubescribe: the KubeScribe API at \S+ refused the token from KUBESCRIBE_TOKEN: .*unknown, revoked or expired; give a valid token with --token or KUBESCRIBE_TOKEN\n$/);
    const small = await cli(['trigger', 'ok'], { KUBESCRIBE_TOKEN: api.tokens.read });
    assert.equal(small.code, 1);
    assert.equal(small.err, 'kubescribe: token test-read has scope read; this endpoint needs trigger; use a token with scope trigger (--token or KUBESCRIBE_TOKEN)\n');
    const flag = await cli(['trigger', 'ok', '--token', api.tokens.admin], { KUBESCRIBE_TOKEN: api.tokens.read });
    assert.equal(flag.code, 0, '--token wins over KUBESCRIBE_TOKEN');
    await (await executor.nextRun('ok')).play(OK_LOG, { status: 'succeeded', exit_code: 0 });
    const unknown = await cli(['trigger', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /^kubescribe: no job nope\b/);
  });

  test('the local dev server is found through its server file and token file; flags and env win over it', async () => {
    const local = mkdtempSync(join(tmpdir(), 'ks-local-'));
    try {
      writeServerFile(local, { url: api.url, pid: process.pid, kind: 'dev' });
      writeLocalToken(local, api.tokens.read);
      const viaFile = await cli(['runs', '--json', '--limit', '1'], { KUBESCRIBE_HOME: local, KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '' });
      assert.equal(viaFile.code, 0, viaFile.err);
      assert.equal((JSON.parse(viaFile.out) as unknown[]).length, 1);
      const port = await freePort();
      const envWins = await cli(['runs'], { KUBESCRIBE_HOME: local, KUBESCRIBE_SERVER: `127.0.0.1:${port}` });
      assert.equal(envWins.err, `kubescribe: cannot reach the KubeScribe API at http://127.0.0.1:${port}: ECONNREFUSED (from KUBESCRIBE_SERVER)\n`);
      const flagWins = await cli(['runs', '--server', api.url], { KUBESCRIBE_HOME: local, KUBESCRIBE_SERVER: `127.0.0.1:${port}` });
      assert.equal(flagWins.code, 0, flagWins.err);
      // A server file whose process is gone means no server: back to the RunLog (here unreachable).
      writeServerFile(local, { url: api.url, pid: deadPid(), kind: 'dev' });
      const stale = await cli(['runs'], { KUBESCRIBE_HOME: local, KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '' });
      assert.equal(stale.code, 1);
      assert.match(stale.err, /^kubescribe: cannot reach the RunLog at postgres:/);
    } finally {
      rmSync(local, { recursive: true, force: true });
    }
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim());
}

describe('client commands without a reachable server', () => {
  const bare = { KUBESCRIBE_HOME: join(tmpdir(), 'ks-client-none'), KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '', DATABASE_URL: DEAD_DB };

  test('an unreachable server: one line naming the URL and the reason, exit 1, no stack trace', async () => {
    const port = await freePort();
    // The first through the real binary (its exit status, nothing else on stderr); the rest through main().
    for (const [i, args] of [['runs'], ['runs', 'show', 'abcd1234'], ['logs', '-f', 'abcd1234'], ['trigger', 'ok', '--wait'], ['cancel', 'abcd'], ['jobs'], ['suspend', 'nightly'], ['resume', 'nightly']].entries()) {
      const result = await (i === 0 ? runCli : runCliInProcess)([...args, '--server', `http://127.0.0.1:${port}`], { env: bare });
      assert.equal(result.code, 1, args.join(' '));
      assert.equal(result.err, `kubescribe: cannot reach the KubeScribe API at http://127.0.0.1:${port}: ECONNREFUSED\n`);
      assert.equal(result.out, '');
    }
  });

  test('no server configured: trigger says how to get one; logs -f is a usage error; bad URLs are named', async () => {
    const trigger = await runCli(['trigger', 'ok'], { env: bare });
    assert.equal(trigger.code, 1);
    assert.match(trigger.err, /^kubescribe: trigger talks to the KubeScribe API and none is configured: start one with `kubescribe dev`, or give --server URL/);
    const follow = await runCliInProcess(['logs', '-f', 'abcd1234'], { env: bare });
    assert.equal(follow.code, 2);
    assert.match(follow.err, /logs -f follows a live run through the KubeScribe API/);
    const url = await runCliInProcess(['jobs', '--server', 'ftp://example.com'], { env: bare });
    assert.equal(url.code, 2);
    assert.equal(url.err, 'kubescribe: --server ftp://example.com: expected an http:// or https:// URL\n');
  });
});

describe('client building blocks', () => {
  test('server and token files: mode 0600, read back, null when missing, torn or dead; resolution order', () => {
    const home = mkdtempSync(join(tmpdir(), 'ks-files-'));
    try {
      assert.equal(readLocalServer(home), null);
      assert.equal(readLocalToken(home), null);
      writeServerFile(home, { url: 'http://127.0.0.1:7070', pid: process.pid, kind: 'dev' });
      writeLocalToken(home, 'ksk_local');
      assert.equal(statSync(join(home, 'server.json')).mode & 0o777, 0o600);
      assert.equal(statSync(join(home, 'token')).mode & 0o777, 0o600);
      assert.deepEqual(readLocalServer(home), { url: 'http://127.0.0.1:7070', token: 'ksk_local', kind: 'dev' });
      const resolve = (env: { server?: string; token?: string }, flags: { server?: string; token?: string } = {}) =>
        resolveServer({ home, server: env.server ?? null, token: env.token ?? null }, flags);
      assert.deepEqual(resolve({}), { url: 'http://127.0.0.1:7070', source: 'local', token: 'ksk_local', tokenSource: 'file' });
      assert.deepEqual(resolve({ server: 'example.com:8080/', token: 'ksk_env' }), { url: 'http://example.com:8080', source: 'env', token: 'ksk_env', tokenSource: 'env' });
      assert.deepEqual(resolve({ server: 'http://a' }, { server: 'https://b/base/', token: 'ksk_flag' }), { url: 'https://b/base', source: 'flag', token: 'ksk_flag', tokenSource: 'flag' });
      assert.throws(() => resolve({}, { server: 'http://me:pw@host' }), /put the API token in --token/);
      removeServerFile(home, process.pid + 1);
      assert.ok(readLocalServer(home), 'another server’s file is left alone');
      removeServerFile(home, process.pid);
      assert.equal(readLocalServer(home), null);
      assert.equal(resolve({}), null);
      writeFileSync(join(home, 'server.json'), '{"url": "http://x", "pi');
      assert.equal(readLocalServer(home), null);
      // A file of an older version names no kind: it was dev's.
      writeFileSync(join(home, 'server.json'), JSON.stringify({ url: 'http://127.0.0.1:7070', pid: process.pid }));
      assert.equal(readLocalServer(home)?.kind, 'dev');
      // serve's file: dev's token file is not its token; without a token of the caller's, no server (the RunLog as before).
      writeServerFile(home, { url: 'http://127.0.0.1:7071', pid: process.pid, kind: 'serve' });
      assert.deepEqual(readLocalServer(home), { url: 'http://127.0.0.1:7071', token: null, kind: 'serve' });
      assert.equal(resolve({}), null);
      assert.deepEqual(resolve({ token: 'ksk_env' }), { url: 'http://127.0.0.1:7071', source: 'local', token: 'ksk_env', tokenSource: 'env' });
      assert.deepEqual(resolve({}, { token: 'ksk_flag' }), { url: 'http://127.0.0.1:7071', source: 'local', token: 'ksk_flag', tokenSource: 'flag' });
      assert.deepEqual(resolve({}, { server: 'http://127.0.0.1:7071' }), { url: 'http://127.0.0.1:7071', source: 'flag', token: null, tokenSource: null });
      // A server bound to every interface is reached on loopback.
      assert.equal(localUrlOf('http://0.0.0.0:8080'), 'http://127.0.0.1:8080');
      assert.equal(localUrlOf('http://[::]:8080'), 'http://[::1]:8080');
      assert.equal(localUrlOf('http://10.0.0.5:8080'), 'http://10.0.0.5:8080');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('-p values: JSON numbers, booleans, objects and arrays as such; JSON strings unquoted; the rest as given', () => {
    assert.deepEqual(parseTriggerParams(['a=1.5', 'b=false', 'c={"x":[1]}', 'd=[]', 'e="007"', 'f=007', 'g=null', 'h=', 'i=x=y', 'j=2026-11-25']), {
      a: 1.5, b: false, c: { x: [1] }, d: [], e: '007', f: '007', g: 'null', h: '', i: 'x=y', j: '2026-11-25',
    });
    assert.throws(() => parseTriggerParams(['novalue']), /-p novalue: expected key=value/);
    assert.throws(() => parseTriggerParams(['=1']), /expected key=value/);
  });

  test('exit codes mirror the run', () => {
    const cases: [RunStatus, number | null, number][] = [
      ['succeeded', 0, 0], ['failed', 3, 3], ['failed', null, 1], ['failed', 0, 1], ['timed_out', null, 124], ['cancelled', null, 130], ['lost', null, 1],
    ];
    for (const [status, exit_code, expected] of cases) assert.equal(exitCodeOf({ status, exit_code }), expected, `${status} ${exit_code}`);
  });

  test('the SSE parser handles split reads, CRLF across reads, comments, multi-line data and a torn last event', async () => {
    const text = ': hello\r\nevent: log\r\nid: 1\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata:plain\n\nevent: end\ndata: {"status":"succeeded"}\n\nevent: log\ndata: torn';
    const bytes = new TextEncoder().encode(text);
    // Every split point, so CRLF pairs and multi-byte boundaries are cut in all the ways a socket can.
    for (let size = 1; size <= bytes.length; size += 3) {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += size) controller.enqueue(bytes.slice(i, i + size));
          controller.close();
        },
      });
      const events = [];
      for await (const event of parseSse(body)) events.push(event);
      assert.deepEqual(events, [
        { event: 'log', id: '1', data: '{"a":\n1}' },
        { event: 'message', id: '1', data: 'plain' },
        { event: 'end', id: '1', data: '{"status":"succeeded"}' },
      ], `read size ${size}`);
    }
  });

  test('the status line: rewritten in place on a terminal and moved aside for log lines; one line per change elsewhere', async () => {
    const sink = () => Object.assign(new (class { text = ''; write(s: string) { this.text += s; return true; } })(), { isTTY: true, columns: 40 });
    const live = sink();
    const line = new StatusLine(live as unknown as NodeJS.WritableStream, true, true);
    line.update('run 1: queued', 'run 1: queued');
    line.update('run 1: running', 'run 1: running 1s');
    await line.around('log\n', async () => {});
    line.update('run 1: running', 'run 1: running 2s and a long tail that will not fit');
    line.finish('run 1: succeeded');
    assert.equal(live.text, '\rrun 1: queued\x1b[K\rrun 1: running 1s\x1b[K\r\x1b[K\rrun 1: running 1s\x1b[K\rrun 1: running 2s and a long tail that…\x1b[K\r\x1b[Krun 1: succeeded\n');
    const plain = sink();
    const lines = new StatusLine(plain as unknown as NodeJS.WritableStream, false, false);
    lines.update('run 1: queued', 'run 1: queued 0s');
    lines.update('run 1: running', 'run 1: running 1s');
    lines.update('run 1: running', 'run 1: running 2s');
    lines.finish('run 1: succeeded');
    assert.equal(plain.text, 'run 1: queued\nrun 1: running\nrun 1: succeeded\n');
  });
});
