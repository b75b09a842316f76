// Schedules → CronJobs against the API double (which validates every CronJob against the official
// schemas): create, leave alone, update, suspend, and delete only what KubeScribe owns; and the real
// `kubescribe apply` command doing the same through a kubeconfig.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/job-config.ts';
import { KubeClient } from '../../src/kubernetes/client.ts';
import { setCronJobSuspended, syncCronJobs } from '../../src/kubernetes/cronjob-sync.ts';
import { REVISION_ANNOTATION } from '../../src/kubernetes/manifests.ts';
import type { Db } from '../../src/runlog/db.ts';
import { setJobSuspended } from '../../src/runlog/sql/jobs.ts';
import { runCli } from '../support/cli.ts';
import { startKubeApiDouble, type KubeApiDouble } from '../support/kube-api-double.ts';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';

const NS = 'ks-cron';
const yaml = (nightlySchedule: string, withHourly = true) => `
executor: kubernetes
kubernetes:
  namespace: ${NS}
jobs:
  nightly:
    command: ["python3", "etl.py"]
    schedule: "${nightlySchedule}"
    time_zone: Europe/Paris
    timeout: 1h
${withHourly ? `  hourly:
    command: ["python3", "poll.py"]
    schedule: "@hourly"
` : ''}  adhoc:
    command: ["python3", "once.py"]
`;

for (const engine of ENGINES) {
  describe(`CronJob sync (${engine})`, () => {
    let runlog: TestRunLog;
    let api: KubeApiDouble;
    let client: KubeClient;
    let scratch: string;
    const file = () => join(scratch, 'kubescribe.yaml');
    const sync = (db: Db, text: string) => {
      const config = parseConfig(text, file());
      return syncCronJobs({ db, client, config, settings: config.kubernetes! });
    };

    before(async () => {
      runlog = await createTestRunLog(engine);
      // The sync tests share one opening of the RunLog (~0.45 s of CPU each on PGlite), until `apply`'s process needs it.
      await runlog.hold();
      api = await startKubeApiDouble();
      client = new KubeClient({ namespace: NS, server: api.url });
      scratch = mkdtempSync(join(tmpdir(), 'ks-cron-'));
    });
    after(async () => {
      await api.close();
      await runlog.cleanup();
      rmSync(scratch, { recursive: true, force: true });
    });

    test('creates one owned CronJob per scheduled job, then leaves them alone while nothing changed', async () => {
      await runlog.withDb(async (db) => {
        const first = await sync(db, yaml('0 2 * * *'));
        assert.deepEqual(first.created.sort(), ['hourly', 'nightly']);
        assert.deepEqual(first.errors, []);
        const cron = api.get('cronjobs', NS, 'nightly')!;
        assert.equal(cron.spec.schedule, '0 2 * * *');
        assert.equal(cron.spec.timeZone, 'Europe/Paris');
        assert.equal(cron.metadata.labels['app.kubernetes.io/managed-by'], 'kubescribe');
        assert.equal(cron.metadata.labels['kubescribe.io/job'], 'nightly');
        assert.equal(cron.metadata.annotations[REVISION_ANNOTATION], '1');
        assert.equal(api.get('cronjobs', NS, 'adhoc'), undefined, 'a job without a schedule has no CronJob');
        const second = await sync(db, yaml('0 2 * * *'));
        assert.deepEqual(second.unchanged.sort(), ['hourly', 'nightly']);
        assert.equal(api.count('update', 'cronjobs'), 0);
      });
    });

    test('a changed schedule updates the CronJob (a compare-and-set on its resourceVersion) with the new revision', async () => {
      await runlog.withDb(async (db) => {
        const result = await sync(db, yaml('30 3 * * *'));
        assert.deepEqual(result.updated, ['nightly']);
        const cron = api.get('cronjobs', NS, 'nightly')!;
        assert.equal(cron.spec.schedule, '30 3 * * *');
        assert.equal(cron.metadata.annotations[REVISION_ANNOTATION], '2');
        const update = api.requests.find((r) => r.verb === 'update' && r.resource === 'cronjobs')!;
        assert.ok((update.body as { metadata: { resourceVersion?: string } }).metadata.resourceVersion, 'sent with the resourceVersion it read');
      });
    });

    test('a suspended job\'s CronJob is suspended, and suspend/resume patch spec.suspend', async () => {
      await runlog.withDb(async (db) => {
        await setJobSuspended(db, 'hourly', true, { actor: 'test', reason: null });
        assert.deepEqual((await sync(db, yaml('30 3 * * *'))).updated, ['hourly']);
        assert.equal(api.get('cronjobs', NS, 'hourly')!.spec.suspend, true);
        assert.equal(await setCronJobSuspended(client, 'hourly', false), true);
        assert.equal(api.get('cronjobs', NS, 'hourly')!.spec.suspend, false);
        const patch = api.requests.filter((r) => r.verb === 'patch').at(-1)!;
        assert.equal(patch.contentType, 'application/merge-patch+json');
        assert.deepEqual(patch.body, { spec: { suspend: false } });
        assert.equal(await setCronJobSuspended(client, 'adhoc', true), false, 'no CronJob, nothing to patch');
        await setJobSuspended(db, 'hourly', false, { actor: 'test', reason: null });
      });
    });

    test('deletes only owned CronJobs whose job was removed; a foreign CronJob is reported and never touched', async () => {
      api.createObject('cronjobs', NS, {
        metadata: { name: 'theirs', labels: { team: 'data' } },
        spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } } },
      });
      api.createObject('cronjobs', NS, {
        metadata: { name: 'adhoc', labels: { team: 'data' } },
        spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } } },
      });
      await runlog.withDb(async (db) => {
        const text = yaml('30 3 * * *', false).replace('python3", "once.py"]', 'python3", "once.py"]\n    schedule: "@daily"');
        const result = await sync(db, text);
        assert.deepEqual(result.deleted, ['hourly']);
        assert.equal(result.errors.length, 1);
        assert.equal(result.errors[0]!.job, 'adhoc');
        assert.match(result.errors[0]!.message, /already exists .* without the label app\.kubernetes\.io\/managed-by=kubescribe/);
        assert.equal(api.get('cronjobs', NS, 'hourly'), undefined);
        assert.ok(api.get('cronjobs', NS, 'theirs'), 'not ours: kept');
        assert.equal(api.get('cronjobs', NS, 'adhoc')!.metadata.labels.team, 'data', 'not ours: unchanged');
      });
      api.removeObject('cronjobs', NS, 'adhoc');
    });

    test('`kubescribe apply` syncs through the kubeconfig and prints what it did', async () => {
      await runlog.release();
      const kubeconfig = join(scratch, 'kubeconfig');
      writeFileSync(kubeconfig, [
        'apiVersion: v1', 'kind: Config', 'current-context: double',
        'clusters: [{name: double, cluster: {server: "' + api.url + '", insecure-skip-tls-verify: true}}]',
        'users: [{name: test, user: {token: not-checked}}]',
        'contexts: [{name: double, context: {cluster: double, user: test}}]', '',
      ].join('\n'));
      writeFileSync(file(), yaml('0 4 * * *'));
      const env = { ...runlog.env, KUBECONFIG: kubeconfig };
      const dry = await runCli(['apply', '-f', file(), '--dry-run'], { env });
      assert.equal(dry.code, 0, dry.err);
      assert.match(dry.out, /cronjob\/nightly would be configured/);
      assert.match(dry.out, /cronjob\/hourly would be created/);
      assert.equal(api.get('cronjobs', NS, 'nightly')!.spec.schedule, '30 3 * * *', 'a dry run changes nothing');
      const applied = await runCli(['apply', '-f', file()], { env });
      assert.equal(applied.code, 0, applied.err);
      assert.match(applied.out, /cronjob\/nightly configured/);
      assert.equal(api.get('cronjobs', NS, 'nightly')!.spec.schedule, '0 4 * * *');
      api.deny('create', 'cronjobs');
      api.removeObject('cronjobs', NS, 'hourly');
      const denied = await runCli(['apply', '-f', file()], { env });
      assert.equal(denied.code, 1);
      assert.match(denied.err, /jobs\.hourly: Kubernetes denied "create" on "cronjobs" \(API group "batch"\)/);
    });
  });
}
