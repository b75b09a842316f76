// Automatic retries through a real `kubescribe serve` (local executor): `trigger --wait` names the
// scheduled retry, and a server SIGKILLed between the failure and the retry's due time still retries
// after a restart, exactly once, when it is due; two replicas on one PostgreSQL retry each failure
// once. PostgreSQL when there is one, else PGlite (without the replicas).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, waitFor } from '../support/cli.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';
import { adminToken, startServe, type ServeProcess } from '../faults/harness.ts';

const ENGINE = ENGINES[ENGINES.length - 1]!;
// Long enough to kill the server inside it on a busy machine, short enough for a test.
const BACKOFF_S = 4;

interface ApiRetry { state: string; attempt: number | null; limit: number | null; due_at: string | null; retry_run_id: string | null }
interface ApiRun { run_id: string; status: string; attempt: number; trigger: string; retry_of: string | null; created_at: string; finished_at: string | null; retry?: ApiRetry | null }

describe(`automatic retries across a server restart (${ENGINE})`, () => {
  let t: TestRunLog;
  let dir: string;
  let file: string;
  let token: string;
  const servers: ServeProcess[] = [];

  before(async () => {
    t = await createTestRunLog(ENGINE);
    dir = mkdtempSync(join(tmpdir(), 'ks-retry-restart-'));
    file = join(dir, 'kubescribe.yaml');
    writeFileSync(file, [
      'api:',
      '  rate_limit: off',
      'jobs:',
      '  flaky:',
      `    command: [sh, -c, 'echo attempt; exit 3']`,
      `    retries: {limit: 1, backoff: ${BACKOFF_S}s}`,
      '  twice:',
      `    command: [sh, -c, 'exit 4']`,
      '    retries: {limit: 2, backoff: 300ms}',
      '',
    ].join('\n'));
    token = await adminToken(t.env);
  });
  after(async () => {
    for (const server of servers) await server.kill('SIGKILL');
    await t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const serve = async () => {
    const server = await startServe(t.env, ['-f', file, '--no-scheduler']);
    servers.push(server);
    return server;
  };
  const get = async <T>(url: string, path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200, `${path}: ${response.status}`);
    return response.json() as Promise<T>;
  };

  test('trigger --wait names the scheduled retry; SIGKILL during the backoff, a restart, and the retry runs once when due', { timeout: 120_000 }, async () => {
    const first = await serve();
    const waited = await runCli(['trigger', 'flaky', '--wait'], { env: { ...t.env, KUBESCRIBE_SERVER: first.url, KUBESCRIBE_TOKEN: token } });
    assert.equal(waited.code, 3, waited.err);
    assert.match(waited.err, /: failed after .*, exit code 3: ExitCode: .*; retry 1 of 1 scheduled at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+\n$/);
    const { runs } = await get<{ runs: ApiRun[] }>(first.url, '/runs?job=flaky');
    assert.equal(runs.length, 1);
    const failed = await get<ApiRun>(first.url, `/runs/${runs[0]!.run_id}`);
    assert.equal(failed.retry?.state, 'scheduled');
    assert.equal(new Date(failed.retry!.due_at!).getTime(), new Date(failed.finished_at!).getTime() + BACKOFF_S * 1000);
    assert.ok(Date.now() < new Date(failed.retry!.due_at!).getTime(), 'still inside the backoff when killed');

    await first.kill('SIGKILL');
    const second = await serve();
    const retried = await waitFor(async (): Promise<ApiRetry | null> => {
      const detail = await get<ApiRun>(second.url, `/runs/${failed.run_id}`);
      return detail.retry?.state === 'created' ? detail.retry : null;
    }, 60_000, 'the retry to be created after the restart');
    const retry = await waitFor(async (): Promise<ApiRun | null> => {
      const run = await get<ApiRun>(second.url, `/runs/${retried.retry_run_id}`);
      return run.finished_at ? run : null;
    }, 60_000, 'the retry to end');
    assert.equal(retry.trigger, 'retry');
    assert.equal(retry.retry_of, failed.run_id);
    assert.equal(retry.attempt, 2);
    assert.equal(retry.status, 'failed');
    assert.ok(new Date(retry.created_at).getTime() >= new Date(failed.retry!.due_at!).getTime(), 'not before it was due');
    // The limit (1) is reached: attempt 2 is the last.
    const last = await waitFor(async (): Promise<ApiRun | null> => {
      const detail = await get<ApiRun>(second.url, `/runs/${retry.run_id}`);
      return detail.retry?.state === 'skipped' ? detail : null;
    }, 30_000, 'the last attempt to be decided');
    assert.equal(last.retry!.limit, 1);
    assert.equal((await get<{ runs: ApiRun[] }>(second.url, '/runs?job=flaky')).runs.length, 2);
    // The run page says where the retry went.
    const shown = await runCli(['runs', 'show', failed.run_id], { env: { ...t.env, KUBESCRIBE_SERVER: second.url, KUBESCRIBE_TOKEN: token } });
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, new RegExp(`^retry\\s+retry 1 of 1 is run ${retry.run_id}$`, 'm'));
    assert.match(shown.out, /retry_scheduled .*"due_at"/);
    assert.match(shown.out, new RegExp(`retry_created .*"run_id":"${retry.run_id}"`));
  });

  test('two replicas on one PostgreSQL: each failure is retried once, up to the limit', { skip: ENGINE !== 'postgres' && 'two servers need PostgreSQL', timeout: 120_000 }, async () => {
    const [a, b] = await Promise.all([serve(), serve()]);
    const response = await fetch(`${a!.url}/runs/trigger`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ job: 'twice' }),
    });
    assert.equal(response.status, 202, await response.text());
    // Attempts 1, 2 and 3, each failed; the third is the last (limit 2).
    const runs = await waitFor(async () => {
      const { runs: all } = await get<{ runs: ApiRun[] }>(b!.url, '/runs?job=twice');
      const last = all.find((run) => run.attempt === 3 && run.finished_at);
      if (!last) return null;
      const detail = await get<ApiRun>(b!.url, `/runs/${last.run_id}`);
      return detail.retry?.state === 'skipped' ? all : null;
    }, 60_000, 'three attempts, the last one decided');
    // Both retriers keep looking for a while: still one run per attempt.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const { runs: all } = await get<{ runs: ApiRun[] }>(a!.url, '/runs?job=twice');
    assert.deepEqual(all.map((run) => run.attempt).sort(), [1, 2, 3], JSON.stringify(all));
    assert.equal(runs.length, 3);
    for (const run of all.filter((r) => r.attempt < 3)) {
      const { events } = await get<{ events: { type: string }[] }>(a!.url, `/runs/${run.run_id}/events`);
      assert.equal(events.filter((event) => event.type === 'retry_scheduled').length, 1, run.run_id);
      assert.equal(events.filter((event) => event.type === 'retry_created').length, 1, run.run_id);
      assert.equal(all.filter((other) => other.retry_of === run.run_id).length, 1, `one retry of ${run.run_id}`);
    }
  });
});
