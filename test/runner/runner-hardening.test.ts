// `kubescribe run` against hostile input and a hostile end (issue 9, defects 8 and 10): bad job names,
// the runner's own secrets, and a runner killed with SIGKILL while its command runs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, waitFor } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

// PostgreSQL when the suite has one (CI): a runner on it starts in a fraction of PGlite's time.
const ENGINE = ENGINES.at(-1)!;

// A run takes 2-5 s; on a machine loaded with other suites, PGlite's first open alone took 40 s.
const LOADED_MS = 150_000;

/** True while `pid` is a live (not zombie) process. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

describe(`kubescribe run: hostile names, secrets and SIGKILL (${ENGINE})`, () => {
  let t: TestRunLog;
  let scratch: string;
  before(async () => {
    t = await createTestRunLog(ENGINE);
    scratch = mkdtempSync(join(tmpdir(), 'ks-runner-hardening-'));
  });
  after(async () => {
    await t.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('a job name that breaks the config\'s rule is refused before anything is recorded', async () => {
    const home = join(scratch, 'names-home');
    for (const [name, shown] of [
      ['../../etc/passwd', /invalid job name "\.\.\/\.\.\/etc\/passwd"/],
      // (A NUL cannot be in an argument at all: exec refuses it before the runner could.)
      ['report\u0007\u001b[31mred\nline', /invalid job name "report\\u0007\\u001b\[31mred\\nline"/],
      ['a'.repeat(5000), /invalid job name "a{60}…" \(5000 characters\)/],
    ] as const) {
      const result = await runCli(['run', '--job', name, '--', 'true'], { env: { KUBESCRIBE_HOME: home, DATABASE_URL: '' }, timeoutMs: LOADED_MS });
      assert.equal(result.code, 2, result.err);
      assert.match(result.err, shown);
      assert.match(result.err, /use lowercase letters, digits and "-", starting and ending with a letter or digit, at most 52 characters/);
      assert.ok(result.err.length < 400, 'the message stays short whatever the name');
      assert.doesNotMatch(result.err, /\n {4}at /, 'no stack trace');
    }
    assert.equal(existsSync(join(home, 'runlog')), false, 'the RunLog was never opened');
  });

  test('the command gets the runner\'s environment minus the deny-list; KUBESCRIBE_PASS_ENV lets a name through', async () => {
    const secrets = {
      PGPASSWORD: 'pg-secret-4411', SMTP_URL: 'smtp://a:smtp-secret-4413@127.0.0.1:2525',
      SLACK_WEBHOOK_URL: 'https://hooks.slack.test/slack-secret-4414', NOTIFY_EMAIL_FROM: 'notify-secret-4415@example.test',
      KUBESCRIBE_TOKEN: 'ks_token-secret-4416', KUBESCRIBE_SERVER: 'http://127.0.0.1:1/server-secret-4417',
    };
    const printEnv = ['python3', '-c', 'import os\nfor k, v in sorted(os.environ.items()): print(k + "=" + v)'];
    // One run (each costs seconds): PGUSER is on the deny-list too, and KUBESCRIBE_PASS_ENV names it.
    const result = await runCli(['run', '-q', '--job', 'envdump', '--', ...printEnv], {
      timeoutMs: LOADED_MS,
      env: { ...t.env, ...secrets, PGUSER: 'pg-user-passed-4412', KUBESCRIBE_PASS_ENV: 'PGUSER, NOT_SET_AT_ALL', AWS_ACCESS_KEY_ID: 'user-var-from-the-pod-spec' },
    });
    assert.equal(result.code, 0, result.err);
    for (const [name, value] of Object.entries(secrets)) assert.ok(!result.out.includes(value), `${name} reached the command`);
    assert.match(result.out, /^AWS_ACCESS_KEY_ID=user-var-from-the-pod-spec$/m, 'a standalone runner passes its other variables on');
    assert.match(result.out, /^PGUSER=pg-user-passed-4412$/m, 'KUBESCRIBE_PASS_ENV passes a denied name');
    assert.doesNotMatch(result.out, /^KUBESCRIBE_PASS_ENV=/m);
    assert.match(result.out, /^KUBESCRIBE_JOB=envdump$/m);
  });

  test('after SIGKILL of the runner, the command does not run on as an orphan', async () => {
    const pidFile = join(scratch, 'child.pid');
    const child = ['python3', '-c', `import os, time\nopen(${JSON.stringify(pidFile)}, "w").write(str(os.getpid()))\ntime.sleep(120)`];
    let pid = 0;
    const runner = runCli(['run', '-q', '--job', 'orphan', '--grace', '1s', '--flush-timeout', '1s', '--', ...child], {
      env: t.env,
      timeoutMs: LOADED_MS,
      onSpawn: (proc) => {
        void waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '', 120_000, 'the child to start').then(async () => {
          pid = Number(readFileSync(pidFile, 'utf8'));
          // The watchdog starts 50 ms into the command (docs/runner.md); give a loaded machine ample time.
          await new Promise((resolve) => setTimeout(resolve, 500));
          proc.kill('SIGKILL');
        });
      },
    });
    const result = await runner;
    assert.equal(result.signal, 'SIGKILL');
    assert.ok(pid > 0);
    try {
      await waitFor(() => !alive(pid), 20_000, `the orphaned command (pid ${pid}) to be killed by the watchdog`);
    } finally {
      // Never leave it behind, whatever the assertion said.
      try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  });
});
