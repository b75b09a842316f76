// What the Kubernetes executor tests share: a RunLog on one engine, the API double, a config with
// `executor: kubernetes`, and an executor wired to them with fast retries and timeouts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type KubescribeConfig } from '../../src/config/job-config.ts';
import { KubeClient } from '../../src/kubernetes/client.ts';
import { KubernetesExecutor, type KubeLogEntry, type KubernetesExecutorOptions } from '../../src/kubernetes/kubernetes-executor.ts';
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { readRunEvents } from '../../src/runlog/sql/run-logs.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import type { RunEvent, RunRecord, RunStatus } from '../../src/runlog/types.ts';
import { triggerRun } from '../../src/runs/trigger-run.ts';
import { waitFor } from '../support/cli.ts';
import { startKubeApiDouble, type KubeApiDouble, type KubeApiDoubleOptions } from '../support/kube-api-double.ts';
import { createTestRunLog, type Engine, type TestRunLog } from '../support/runlog-engines.ts';
import { settleFlusher } from '../support/spool-flusher.ts';

export const NAMESPACE = 'ks-test';

export const CONFIG_YAML = `
executor: kubernetes
kubernetes:
  namespace: ${NAMESPACE}
  image: ghcr.io/example/kubescribe:0.1.0
jobs:
  report:
    command: ["python3", "-c", "print('hello')"]
    timeout: 10m
  nightly:
    command: ["python3", "etl.py"]
    schedule: "0 2 * * *"
    time_zone: Europe/Paris
`;

export interface Harness {
  runlog: TestRunLog;
  db: Db;
  api: KubeApiDouble;
  config: KubescribeConfig;
  client: KubeClient;
  executor: KubernetesExecutor;
  logs: KubeLogEntry[];
  trigger(job?: string, params?: Record<string, unknown>): Promise<string>;
  run(runId: string): Promise<RunRecord>;
  events(runId: string): Promise<RunEvent[]>;
  waitForStatus(runId: string, status: RunStatus, timeoutMs?: number): Promise<RunRecord>;
  /** Closes the RunLog (so a child runner can open embedded PGlite); the returned function reopens it as `db`. */
  suspendDb(): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** A harness on `engine`; the executor is started unless `start: false`. */
export async function createHarness(
  engine: Engine,
  options: { api?: KubeApiDoubleOptions; executor?: Partial<KubernetesExecutorOptions>; start?: boolean; yaml?: string } = {},
): Promise<Harness> {
  const runlog = await createTestRunLog(engine);
  let db = await openRunLogDb(runlog.location);
  const scratch = mkdtempSync(join(tmpdir(), 'ks-k8s-'));
  const config = parseConfig(options.yaml ?? CONFIG_YAML, join(scratch, 'kubescribe.yaml'));
  const api = await startKubeApiDouble({ stepMs: 10, ...options.api });
  const client = new KubeClient({ namespace: NAMESPACE, server: api.url, requestTimeoutMs: 1000 });
  // One answered request before the executor starts: a cold process's first request (client code
  // not yet compiled, a loaded machine) took over the 1 s timeout, so start() logged that it could
  // not apply the CronJobs. The 1 s timeout stays for the tests of hung requests.
  await waitFor(() => client.listCronJobs('warm-up=1').then(() => true, () => false), 60_000, 'the API double to answer');
  const logs: KubeLogEntry[] = [];
  const executor = new KubernetesExecutor({
    db, config, settings: config.kubernetes!, client,
    log: (entry) => logs.push(entry),
    retry: { baseMs: 20, maxMs: 200 },
    // The tests drop watches again and again without an event between (each drop is a failure in a
    // row): at the default 100 ms doubled, the sixth drop of a file waited 6.4 s to reconnect.
    watchReconnect: { minMs: 20, maxMs: 200 },
    settleMs: 150,
    startTimeoutMs: 1500,
    reconcileIntervalMs: 0,
    ...options.executor,
  });
  if (options.start !== false) await executor.start();
  const harness: Harness = {
    runlog, db, api, config, client, executor, logs,
    async trigger(job = 'report', params = {}) {
      const result = await triggerRun({ db: harness.db, config, executor }, { job, params, trigger: 'api', triggered_by: 'test' });
      return result.run!.run_id;
    },
    async run(runId) {
      return (await getRun(harness.db, runId))!;
    },
    events: (runId) => readRunEvents(harness.db, runId),
    waitForStatus: (runId, status, timeoutMs = 30_000) =>
      waitFor(async () => {
        const run = await getRun(harness.db, runId);
        return run?.status === status ? run : null;
      }, timeoutMs, `run ${runId} to be ${status}`),
    async suspendDb() {
      await db.close();
      return async () => {
        // A pod's runner that created its run (a CronJob's) wrote it behind: its flusher imports it first.
        await settleFlusher(runlog.home);
        db = await openRunLogDb(runlog.location);
        harness.db = db;
      };
    },
    async close() {
      await executor.stop();
      await api.close();
      await db.close();
      await runlog.cleanup();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
  return harness;
}
