// A real Prometheus (Debian's `prometheus` package) scrapes the API's /metrics with a read token from
// a credentials file, as docs/reporting.md tells operators to, and evaluates deploy/prometheus/rules.yaml:
// KubeScribeJobFailing fires when the job's run fails and clears once a later run succeeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { metricsRouteGroup } from '../../src/api/routes/metrics.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import { insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import type { RunStatus } from '../../src/runlog/types.ts';
import { syncJobs } from '../../src/runlog/sync-jobs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { startTestApi } from '../support/api.ts';
import { waitFor } from '../support/cli.ts';
import { ENGINES } from '../support/runlog-engines.ts';

const PROMETHEUS = process.env.PROMETHEUS || 'prometheus';
const RULES = fileURLToPath(new URL('../../deploy/prometheus/rules.yaml', import.meta.url));
const CONFIG = parseConfig('jobs:\n  report:\n    command: ["true"]\n    schedule: "0 3 * * *"\n', 'kubescribe.yaml');
// The engine the end-to-end check runs on: PostgreSQL when the suite has it, as in production.
const ENGINE = ENGINES.at(-1)!;

/** A port free a moment ago: Prometheus takes its listen address as a flag and does not report a port 0 it was given. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test(`Prometheus scrapes /metrics with a read token and the job-failing alert fires, then clears (${ENGINE})`, async () => {
  const api = await startTestApi(ENGINE, { config: CONFIG, routes: [metricsRouteGroup({ snapshotTtlMs: 0 })] });
  const dir = mkdtempSync(join(tmpdir(), 'ks-prometheus-'));
  let prometheus: ChildProcess | undefined;
  let log = '';
  try {
    await syncJobs(api.db, CONFIG);
    const target = new URL(api.url).host;
    writeFileSync(join(dir, 'token'), `${api.tokens.read}\n`, { mode: 0o600 });
    copyFileSync(RULES, join(dir, 'rules.yaml'));
    // Prometheus (2.42) applies its targets on a 5 s tick, so the first scrape comes ~5 s after its
    // start whatever the config says; after that, each step (the scrape that sees a run, the rule
    // evaluation) waits up to one interval: 500 ms rather than 1 s, and the scrape still has 500 ms.
    writeFileSync(join(dir, 'prometheus.yml'), [
      'global: {scrape_interval: 500ms, scrape_timeout: 500ms, evaluation_interval: 500ms}',
      'rule_files: [rules.yaml]',
      'scrape_configs:',
      '  - job_name: kubescribe',
      '    authorization: {credentials_file: token}',
      `    static_configs: [{targets: ["${target}"]}]`,
      '',
    ].join('\n'));
    const port = await freePort();
    prometheus = spawn(PROMETHEUS, [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    ], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    prometheus.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<never>((_, reject) => {
      prometheus!.once('error', (error) => reject(new Error(`${PROMETHEUS} did not start (install Debian's prometheus package): ${error.message}`)));
      prometheus!.once('exit', (code) => reject(new Error(`prometheus exited ${code}:\n${log}`)));
    });
    exited.catch(() => {});
    const query = async (path: string) => {
      const res = await Promise.race([fetch(`http://127.0.0.1:${port}${path}`).catch(() => null), exited]);
      return res && res.ok ? ((await res.json()) as { data: any }).data : null;
    };
    const failing = async () => {
      const data = await query('/api/v1/alerts');
      return data ? (data.alerts as { labels: Record<string, string>; state: string }[]).filter((a) => a.labels.alertname === 'KubeScribeJobFailing') : null;
    };

    // The scrape is authorised by the token file: the target is up.
    await waitFor(async () => (await query('/api/v1/query?query=up'))?.result?.[0]?.value?.[1] === '1', 30_000, `the target up in Prometheus\n${log}`);

    async function finished(status: RunStatus): Promise<void> {
      const runId = uuidv7();
      const at = new Date();
      await insertRun(api.db, { run_id: runId, job: 'report', job_content_hash: null, trigger: 'schedule', triggered_by: 't', params: {}, status: 'running', executor: 'local', created_at: at },
        { event_id: uuidv7(), at, type: 'created', actor: 't' });
      await transitionRun(api.db, runId, ['running'], status, { finished_at: new Date(), exit_code: status === 'succeeded' ? 0 : 1 }, { event_id: uuidv7(), at: new Date(), type: status, actor: 't' });
    }

    await finished('failed');
    const fired = await waitFor(async () => {
      const alerts = await failing();
      return alerts?.find((a) => a.state === 'firing');
    }, 30_000, `KubeScribeJobFailing firing\n${log}`);
    assert.deepEqual({ job_name: fired.labels.job_name, status: fired.labels.status, severity: fired.labels.severity }, { job_name: 'report', status: 'failed', severity: 'warning' });

    await finished('succeeded');
    await waitFor(async () => (await failing())?.length === 0, 30_000, `KubeScribeJobFailing cleared\n${log}`);
    // And the success is on record in Prometheus too.
    const success = await query('/api/v1/query?query=kubescribe_job_last_success_timestamp_seconds');
    assert.equal(success.result[0].metric.job_name, 'report');
  } finally {
    if (prometheus && prometheus.exitCode === null) {
      const gone = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
    await api.close();
  }
});
