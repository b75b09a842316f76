// `kubescribe serve` with `executor: kubernetes`, as a real process reaching the API double through a
// kubeconfig: it applies the CronJobs at start and turns POST /runs/trigger into a Job.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, REPO_ROOT, runCli, waitFor } from '../support/cli.ts';
import { startKubeApiDouble, type KubeApiDouble } from '../support/kube-api-double.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

const NS = 'ks-serve';
const YAML = `
executor: kubernetes
kubernetes:
  namespace: ${NS}
jobs:
  hello:
    command: ["python3", "-c", "print('hi')"]
  nightly:
    command: ["python3", "etl.py"]
    schedule: "0 2 * * *"
`;

for (const engine of ENGINES) {
  describe(`kubescribe serve on Kubernetes (${engine})`, () => {
    let runlog: TestRunLog;
    let api: KubeApiDouble;
    let scratch: string;
    let server: ChildProcess | null = null;
    let stderr = '';

    before(async () => {
      runlog = await createTestRunLog(engine);
      api = await startKubeApiDouble({ scenario: () => ({ kind: 'hold' }) });
      scratch = mkdtempSync(join(tmpdir(), 'ks-serve-'));
    });
    after(async () => {
      if (server && server.exitCode === null) {
        server.kill('SIGKILL');
        await new Promise((resolve) => server!.once('exit', resolve));
      }
      await api.close();
      await runlog.cleanup();
      rmSync(scratch, { recursive: true, force: true });
    });

    test('applies the CronJobs at start and creates a Job for a triggered run', async () => {
      const file = join(scratch, 'kubescribe.yaml');
      writeFileSync(file, YAML);
      const kubeconfig = join(scratch, 'kubeconfig');
      writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\ncurrent-context: double\n` +
        `clusters: [{name: double, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}]\n` +
        `users: [{name: test, user: {token: not-checked}}]\ncontexts: [{name: double, context: {cluster: double, user: test}}]\n`);
      const env = { ...runlog.env, KUBECONFIG: kubeconfig };
      const created = await runCli(['tokens', 'create', '--name', 'ci', '--scope', 'admin', '--runlog'], { env });
      assert.equal(created.code, 0, created.err);
      const token = created.out.trim();

      server = spawn(process.execPath, [BIN, 'serve', '-f', file, '--host', '127.0.0.1', '--port', '0'], {
        cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
      });
      server.stderr!.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
      const url = await waitFor(() => stderr.match(/KubeScribe API on (http:\/\/\S+)/)?.[1], 120_000, `the server to listen (${stderr})`);

      const cron = await waitFor(() => api.get('cronjobs', NS, 'nightly'), 30_000, 'the CronJob');
      assert.equal(cron.metadata.labels['kubescribe.io/job'], 'nightly');

      const response = await fetch(`${url}/runs/trigger`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ job: 'hello' }),
      });
      assert.ok(response.ok, await response.clone().text());
      const body = (await response.json()) as { run_id?: string; run?: { run_id: string } };
      const runId = body.run_id ?? body.run!.run_id;
      const job = await waitFor(() => api.list('jobs', NS).find((j) => j.metadata.labels['kubescribe.io/run-id'] === runId), 30_000, 'the Job');
      assert.match(job.metadata.name, /^hello-/);

      // The runner endpoints take the Job's pod's ServiceAccount token (checked through the same kubeconfig with TokenReview).
      const pod = await waitFor(() => api.list('pods', NS).find((p) => p.metadata.labels['job-name'] === job.metadata.name && p.status.phase === 'Running'), 30_000, 'the pod');
      const podToken = api.issueToken({ namespace: NS, pod: pod.metadata.name, audiences: ['kubescribe'] });
      const own = await fetch(`${url}/runner/runs/${runId}`, { headers: { authorization: `Bearer ${podToken}` } });
      assert.equal(own.status, 200, await own.clone().text());
      assert.equal(((await own.json()) as { status: string }).status, 'queued');
      const second = await fetch(`${url}/runs/trigger`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ job: 'hello' }),
      });
      const secondId = ((await second.json()) as { run_id: string }).run_id;
      const other = await fetch(`${url}/runner/runs/${secondId}`, { headers: { authorization: `Bearer ${podToken}` } });
      assert.equal(other.status, 403, await other.text());
      assert.ok(api.count('create', 'tokenreviews') >= 1);

      server.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => server!.once('exit', (exitCode) => resolve(exitCode)));
      assert.equal(code, 0, stderr);
    });
  });
}
