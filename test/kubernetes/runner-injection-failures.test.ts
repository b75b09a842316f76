// When the init container that copies the runner fails — here a KubeScribe image without the
// single-file runner, so `cp` finds nothing — the job's container never runs: the watcher fails the
// run at once, naming the init container and what to check, instead of leaving it to the start
// timeout or recording it `lost`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUNNER_IMAGE_PATH } from '../../src/kubernetes/runner-injection.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { createHarness, NAMESPACE, type Harness } from './harness.ts';

const YAML = `
executor: kubernetes
kubernetes:
  namespace: ${NAMESPACE}
  image: registry.example.com/kubescribe:0.0.9
jobs:
  report:
    image: python:3.12-slim
    command: ["python3", "script.py"]
`;

for (const engine of ENGINES) {
  describe(`a failed runner injection (${engine})`, () => {
    let h: Harness;
    let empty = '';
    before(async () => {
      empty = mkdtempSync(join(tmpdir(), 'ks-old-image-'));
      h = await createHarness(engine, {
        yaml: YAML,
        api: { stepMs: 10, imageFiles: { [RUNNER_IMAGE_PATH]: join(empty, 'no-runner-here') }, scenario: () => ({ kind: 'process', cwd: empty }) },
        // The harness's 1.5 s start timeout is for the tests of it; here the init container is a
        // real process, which a loaded machine can keep Pending longer than that (seen: StartTimeout
        // first). A failure to see the init container's exit would still show, as StartTimeout at 20 s.
        executor: { startTimeoutMs: 20_000 },
      });
    });
    after(async () => {
      await h.close();
      rmSync(empty, { recursive: true, force: true });
    });

    test('the init container\'s copy fails: the run fails at once as InitContainerFailed, naming the image to check', async () => {
      const runId = await h.trigger('report');
      const run = await h.waitForStatus(runId, 'failed', 30_000);
      assert.equal(run.error_type, 'InitContainerFailed');
      assert.match(run.error_message ?? '', /init container kubescribe-runner \(registry\.example\.com\/kubescribe:0\.0\.9\) exited with code 1/);
      assert.match(run.error_message ?? '', /single-file runner at \/app\/dist\/runner\/kubescribe/);
      assert.equal(run.exit_code, null);
    });
  });
}
