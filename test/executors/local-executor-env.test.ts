// What a server-started job's process gets, and what happens when it cannot be started (issue 9,
// defects 4 and 8): real in-process runners, real Python children, a real PGlite RunLog.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type KubescribeConfig } from '../../src/config/job-config.ts';
import { LocalExecutor } from '../../src/executors/local-executor.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { readLogChunks } from '../../src/runlog/sql/run-logs.ts';
import { getRun, insertRun } from '../../src/runlog/sql/runs.ts';
import { syncJobs } from '../../src/runlog/sync-jobs.ts';
import type { RunRecord } from '../../src/runlog/types.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { REPO_ROOT, waitFor } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'];
// Values no job may ever see: each is unique, so finding it anywhere in a stored log is a leak.
const SECRETS = {
  DATABASE_URL: 'postgres://runlog:db-secret-7f3a@127.0.0.1:5432/runlog',
  PGPASSWORD: 'pg-secret-91bc',
  PGHOST: 'pghost-secret-55d0.internal',
  SMTP_URL: 'smtp://alerts:smtp-secret-c2e8@127.0.0.1:2525',
  SLACK_WEBHOOK_URL: 'https://hooks.slack.test/services/T000/B000/slack-secret-0d4e',
  NOTIFY_EMAIL_TO: 'oncall-secret-a1b2@example.test',
  KUBESCRIBE_TOKEN: 'ks_token-secret-77aa',
  // Not a KubeScribe secret, but nothing a server-started job asked for either: the base set only.
  AWS_SECRET_ACCESS_KEY: 'aws-secret-3e9f',
};
const PRINT_ENV = JSON.stringify(['python3', '-c', 'import os\nfor k, v in sorted(os.environ.items()): print(k + "=" + v)']);
const PARAMS_PROBE = JSON.stringify(['python3', '-c', [
  'import os, sys', 'sys.path.insert(0, "helpers/python")', 'import kubescribe', 'p = kubescribe.params()',
  'print("blob", len(p["blob"]), "env" if "KUBESCRIBE_PARAMS" in os.environ else "no-env",',
  '      "file" if os.environ.get("KUBESCRIBE_PARAMS_FILE") else "no-file")',
].join('\n')]);

// PostgreSQL when the suite has one (CI): a runner on it starts in a fraction of PGlite's time.
const ENGINE = ENGINES.at(-1)!;

describe(`local executor: the job environment and failed starts (${ENGINE})`, () => {
  let runlog: TestRunLog;
  let db: Db;
  let scratch: string;
  let config: KubescribeConfig;
  const saved: Record<string, string | undefined> = {};

  const queue = async (job: string, params: Record<string, unknown> = {}) => {
    const runId = uuidv7();
    await insertRun(db, {
      run_id: runId, job, job_content_hash: null, trigger: 'api', triggered_by: 'test', params,
      status: 'queued', executor: 'local', created_at: new Date(),
    }, { event_id: uuidv7(), at: new Date(), type: 'created', actor: 'test' });
    return runId;
  };
  const runToEnd = async (job: string, params: Record<string, unknown> = {}, passEnv: string[] = []): Promise<{ run: RunRecord; log: string }> => {
    const executor = new LocalExecutor({ db, config, home: runlog.home, cwd: REPO_ROOT, pollMs: 100, passEnv });
    await executor.start();
    try {
      const runId = await queue(job, params);
      await executor.dispatch(runId);
      const run = await waitFor(async () => {
        const current = await getRun(db, runId);
        return current && TERMINAL.includes(current.status) ? current : null;
      }, 120_000, `run ${runId} of ${job} to end`);
      const log = (await readLogChunks(db, runId)).map((chunk) => chunk.text).join('');
      return { run, log };
    } finally {
      await executor.stop();
    }
  };

  before(async () => {
    runlog = await createTestRunLog(ENGINE);
    db = await openRunLogDb(runlog.location);
    scratch = mkdtempSync(join(tmpdir(), 'ks-executor-env-'));
    config = parseConfig(`
jobs:
  printenv:
    command: ${PRINT_ENV}
    env: {DECLARED_BY_JOB: "declared-value"}
  bigparams:
    command: ${PARAMS_PROBE}
  missing:
    command: ["no-such-command-ks-h3"]
`, join(scratch, 'kubescribe.yaml'));
    await syncJobs(db, config);
    // The server's environment, as `serve` would have it (the in-process runner reads process.env).
    for (const [name, value] of Object.entries({ ...SECRETS, AWS_REGION: 'eu-west-1' })) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
  });
  after(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await db.close();
    await runlog.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('a job that prints its whole environment stores none of the server\'s secrets, only the base set, its env and the protocol', async () => {
    const { run, log } = await runToEnd('printenv');
    assert.equal(run.status, 'succeeded', run.error_message ?? '');
    for (const [name, value] of Object.entries(SECRETS)) {
      assert.ok(!log.includes(value), `${name}'s value reached the job's stored log`);
      assert.ok(!log.split('\n').some((line) => line.startsWith(`${name}=`)), `${name} reached the job's environment`);
    }
    const names = log.split('\n').filter(Boolean).map((line) => line.slice(0, line.indexOf('=')));
    assert.ok(names.includes('PATH'), 'PATH is passed');
    assert.ok(log.includes('DECLARED_BY_JOB=declared-value\n'), "the job's declared env is passed");
    assert.ok(log.includes(`KUBESCRIBE_RUN_ID=${run.run_id}\n`) && log.includes('KUBESCRIBE_JOB=printenv\n'));
    assert.ok(log.includes('KUBESCRIBE_PARAMS={}\n') && /\nKUBESCRIBE_OUTPUT=\S+output\.jsonl\n/.test(log));
    const unexpected = names.filter((name) => name.startsWith('KUBESCRIBE_') &&
      !['KUBESCRIBE_RUN_ID', 'KUBESCRIBE_JOB', 'KUBESCRIBE_PARAMS', 'KUBESCRIBE_OUTPUT'].includes(name));
    assert.deepEqual(unexpected, [], 'only the protocol variables are KUBESCRIBE_*');
    assert.ok(!names.includes('AWS_REGION'), 'a variable outside the base set is not passed by default');
  });

  test('KUBESCRIBE_PASS_ENV names variables the server passes on to every job', async () => {
    const { run, log } = await runToEnd('printenv', {}, ['AWS_REGION']);
    assert.equal(run.status, 'succeeded', run.error_message ?? '');
    assert.ok(log.includes('AWS_REGION=eu-west-1\n'));
    assert.ok(!log.includes(SECRETS.AWS_SECRET_ACCESS_KEY));
  });

  test('params over 64 KiB reach the job through KUBESCRIBE_PARAMS_FILE, and the helper reads them', async () => {
    const blob = 'x'.repeat(200 * 1024);
    const { run, log } = await runToEnd('bigparams', { blob });
    assert.equal(run.status, 'succeeded', `${run.error_type}: ${run.error_message} ${run.error_tail ?? ''}`);
    assert.equal(log, `blob ${blob.length} no-env file\n`);
    // (Small params travel in KUBESCRIBE_PARAMS: the printenv test sees KUBESCRIBE_PARAMS={}.)
  });

  test('a command that cannot start is recorded failed with the spawn error', async () => {
    const { run } = await runToEnd('missing');
    assert.equal(run.status, 'failed');
    assert.equal(run.error_type, 'SpawnError');
    assert.match(run.error_message ?? '', /command not found: no-such-command-ks-h3/);
  });
});

describe('local executor: a spawn that fails with E2BIG', () => {
  test('is recorded failed with the spawn error, and leaves nothing that keeps the process alive', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'ks-executor-e2big-'));
    const runlog = await createTestRunLog(ENGINE);
    try {
      const file = join(scratch, 'kubescribe.yaml');
      // One environment string over 128 KiB: Linux refuses the exec (MAX_ARG_STRLEN), Node throws E2BIG.
      writeFileSync(file, `jobs:\n  hugeenv:\n    command: ["python3", "-c", "print('never')"]\n    env: {BLOB: "${'y'.repeat(200 * 1024)}"}\n`);
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/executor-once.ts', file, 'hugeenv', JSON.stringify(runlog.location)], {
        cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (data: Buffer) => { out += data; });
      child.stderr.on('data', (data: Buffer) => { err += data; });
      const code = await new Promise<number | null>((resolve) => {
        // Generous (a loaded machine took 40 s to open PGlite): it normally exits within seconds; a
        // leaked heartbeat timer keeps it alive for ever.
        const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(null); }, 150_000);
        child.once('close', (exitCode) => { clearTimeout(timer); resolve(exitCode); });
      });
      const run = out.trim() ? JSON.parse(out.trim()) as Record<string, unknown> : null;
      assert.ok(run, `no run printed; stderr: ${err}`);
      assert.equal(run.status, 'failed');
      assert.equal(run.error_type, 'SpawnError');
      assert.match(String(run.error_message), /E2BIG/);
      assert.notEqual(code, null, 'the process did not end by itself after the executor stopped: something of the runner is still alive');
      assert.equal(code, 0, err);
    } finally {
      await runlog.cleanup();
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
