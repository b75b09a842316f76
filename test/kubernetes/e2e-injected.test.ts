// The injected runner end to end on the Kubernetes API double: the executor creates the Job
// (`runner: inject`, the default), the double's kubelet runs its init container — `cp` of the KubeScribe
// image's single-file runner, here the real executable built by scripts/build-runner.mjs, into the pod's
// emptyDir — and then the job's container: an unchanged "user image" command, `python3 script.py` in a
// working directory without node_modules and with no node on its PATH, behind the copied runner. The
// runner records the run through the API with the pod's projected token (no DATABASE_URL in the pod);
// with `runner_runlog: direct` (PostgreSQL), straight into the RunLog with the bundled pg driver.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { runnerRoutes } from '../../src/api/routes/runner.ts';
import { runJobName } from '../../src/kubernetes/manifests.ts';
import { RUNNER_IMAGE_PATH, RUNNER_INIT_CONTAINER, RUNNER_PATH } from '../../src/kubernetes/runner-injection.ts';
import { podTokenAuthenticator } from '../../src/kubernetes/token-review.ts';
import { WATCHDOG_ARG } from '../../src/runner/orphan-watchdog.ts';
import { readLogChunks } from '../../src/runlog/sql/run-logs.ts';
import { waitFor } from '../support/cli.ts';
import type { KubeObject } from '../support/kube-api-double.ts';
import { podCredentialProblems } from '../support/pod-credentials.ts';
import { runnerExecutable, runnerExecutableUnavailable } from '../support/runner-executable.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { createHarness, NAMESPACE, type Harness } from './harness.ts';

const SCRIPT = `import json, os, shutil, sys
print("user image: node on PATH:", shutil.which("node"), "| node_modules here:", os.path.exists("node_modules"))
rows = int(os.environ.get("ROWS", "0"))
if rows < 0:
    raise ValueError(f"negative row count {rows}")
with open(os.environ["KUBESCRIBE_OUTPUT"], "a") as out:
    out.write(json.dumps({"metric": "rows", "value": rows}) + "\\n")
print("report written", file=sys.stderr)
`;

const yaml = (runlog: 'api' | 'direct') => `
executor: kubernetes
kubernetes:
  namespace: ${NAMESPACE}
  image: registry.example.com/kubescribe:0.1.0
  runner_runlog: ${runlog}
jobs:
  sales-report:
    image: python:3.12-slim
    command: ["python3", "script.py"]
    env: {ROWS: "42"}
  broken-report:
    image: python:3.12-slim
    command: ["python3", "script.py"]
    env: {ROWS: "-1"}
`;

// Never skipped: without postject (a devDependency) the file fails, saying so.
const unavailable = runnerExecutableUnavailable();
if (unavailable) throw new Error(unavailable);

/** A directory standing in for the user image: the script, no node_modules; and a PATH with python3 only. */
function userImage(): { workdir: string; path: string } {
  const workdir = mkdtempSync(join(tmpdir(), 'ks-user-image-'));
  writeFileSync(join(workdir, 'script.py'), SCRIPT);
  const bin = join(workdir, '.bin');
  execFileSync('mkdir', [bin]);
  // The interpreter itself, not a version manager's shim (which would need more of the host's PATH).
  const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  symlinkSync(python, join(bin, 'python3'));
  return { workdir, path: bin };
}

for (const engine of ENGINES) {
  for (const runlog of engine === 'postgres' ? ['api', 'direct'] as const : ['api'] as const) {
    describe(`the injected single-file runner in an unchanged user image (${engine}, runner_runlog: ${runlog})`, () => {
      let h: Harness;
      let app: FastifyInstance | null = null;
      let apiUrl = '';
      let home = '';
      let image: { workdir: string; path: string };
      let exe = '';

      before(async () => {
        exe = runnerExecutable();
        home = mkdtempSync(join(tmpdir(), 'ks-pod-home-'));
        image = userImage();
        const text = yaml(runlog);
        h = await createHarness(engine, {
          yaml: text,
          api: {
            stepMs: 10,
            imageFiles: { [RUNNER_IMAGE_PATH]: exe },
            // The pod's DATABASE_URL Secret (runner_runlog: direct) is this test's RunLog.
            secrets: { 'kubescribe-database': { DATABASE_URL: engine === 'postgres' ? process.env.DATABASE_URL! : '' } },
            scenario: () => ({
              kind: 'process', cwd: image.workdir,
              env: {
                PATH: image.path, KUBESCRIBE_CONFIG: h.config.file!, KUBESCRIBE_HOME: home,
                ...(runlog === 'api' ? { KUBESCRIBE_API_URL: apiUrl } : { KUBESCRIBE_DB_SCHEMA: h.runlog.location.databaseSchema ?? '' }),
              },
            }),
          },
          executor: { watch: false },
        });
        writeFileSync(h.config.file!, text);
        if (runlog === 'api') {
          app = await buildApp({
            db: h.db, config: h.config, executor: h.executor, logger: false,
            runnerAuthenticators: [podTokenAuthenticator({ client: h.client, serviceAccount: h.config.kubernetes!.service_account })],
          }, [runnerRoutes]);
          apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
        }
      });
      after(async () => {
        await app?.close();
        await h?.close();
        rmSync(home, { recursive: true, force: true });
        if (image) rmSync(image.workdir, { recursive: true, force: true });
      });

      const podOf = (k8sJob: string) => waitFor(() => {
        const found = h.api.list('pods', NAMESPACE).find((p: KubeObject) => p.metadata.labels['job-name'] === k8sJob);
        return found && ['Succeeded', 'Failed'].includes(found.status.phase) ? found : null;
      }, 120_000, `the pod of ${k8sJob} to end`);

      test('the init container copies the runner; the user\'s command runs behind it and the run is recorded in full', async () => {
        const runId = await h.trigger('sales-report');
        const k8sJob = h.api.get('jobs', NAMESPACE, runJobName('sales-report', runId))!;
        const spec = k8sJob.spec.template.spec;
        assert.equal(spec.containers[0].image, 'python:3.12-slim');
        assert.equal(spec.containers[0].command[0], RUNNER_PATH);
        assert.deepEqual(spec.initContainers.map((c: KubeObject) => c.name), [RUNNER_INIT_CONTAINER]);
        if (runlog === 'api') assert.deepEqual(podCredentialProblems(spec), []);
        const pod = await podOf(k8sJob.metadata.name);
        assert.equal(pod.status.phase, 'Succeeded', h.api.kubelet.logOf(pod.metadata.name));
        const run = await h.waitForStatus(runId, 'succeeded', 60_000);
        assert.equal(run.exit_code, 0);
        assert.deepEqual(run.metrics, { rows: 42 });
        const log = (await readLogChunks(h.db, runId)).map((chunk) => chunk.text).join('');
        // No node and no node_modules where the user's command ran: the runner brought its own.
        assert.match(log, /user image: node on PATH: None \| node_modules here: False/);
        assert.match(log, /report written/);
        assert.equal(existsSync(exe), true);
      });

      test('a failing script: the Python exception is the run\'s error', async () => {
        const runId = await h.trigger('broken-report');
        const run = await h.waitForStatus(runId, 'failed', 60_000);
        assert.equal(run.exit_code, 1);
        assert.equal(run.error_type, 'ValueError');
        assert.match(run.error_message ?? '', /negative row count -1/);
      });
    });
  }
}

// In an image without /bin/sh (distroless) the runner's orphan watchdog is the executable itself
// (it cannot run `node -e`): it must still kill the job's process group when the runner dies.
describe('the single-file runner as the orphan watchdog of an image without a shell', () => {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const job = () => spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });

  test('its pipe closing without "done" (the runner died) kills the job\'s group; "done" leaves it alone', async () => {
    const exe = runnerExecutable();
    const orphan = job();
    const dying = spawn(exe, [WATCHDOG_ARG, String(orphan.pid), '200'], { stdio: ['pipe', 'ignore', 'inherit'] });
    dying.stdin!.end();
    await waitFor(() => !alive(orphan.pid!), 10_000, 'the orphaned job to be killed');

    const kept = job();
    try {
      const released = spawn(exe, [WATCHDOG_ARG, String(kept.pid), '200'], { stdio: ['pipe', 'ignore', 'inherit'] });
      const exited = new Promise<number | null>((resolve) => released.once('exit', resolve));
      released.stdin!.end('done\n');
      assert.equal(await exited, 0);
      assert.equal(alive(kept.pid!), true);
    } finally {
      kept.kill('SIGKILL');
    }
  });
});
