// GET /metrics: the Prometheus exposition of the RunLog (docs/reporting.md#prometheus-metrics). Its
// output passes `promtool check metrics`; values follow seeded runs (a failure, then a success that
// clears it); labels are bounded (never a run id); scope read is enforced.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { metricsRouteGroup, SnapshotCache } from '../../src/api/routes/metrics.ts';
import { runsWriteRoutes } from '../../src/api/routes/runs-write.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import type { MetricsSnapshot } from '../../src/reports/metrics-snapshot.ts';
import { insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import type { RunStatus } from '../../src/runlog/types.ts';
import { syncJobs } from '../../src/runlog/sync-jobs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { parseSamples, valueOf, type Sample } from '../support/prometheus-text.ts';
import { promtool } from '../support/promtool.ts';
import { createTestRunLog, ENGINES } from '../support/runlog-engines.ts';
import { TcpProxy, targetOf } from '../support/tcp-proxy.ts';
import { buildApp } from '../../src/api/app.ts';
import { RecordingExecutor } from '../../src/executors/executor.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { createToken } from '../../src/runlog/sql/tokens.ts';

const CONFIG = parseConfig(`
jobs:
  report:
    command: ["true"]
    schedule: "0 3 * * *"
    time_zone: Europe/Berlin
  adhoc:
    command: ["true"]
`, 'kubescribe.yaml');

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const ALLOWED_LABELS = new Set(['job_name', 'status', 'trigger', 'executor', 'outcome', 'channel', 'result', 'code', 'le']);

for (const engine of ENGINES) {
  describe(`GET /metrics (${engine})`, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(engine, { config: CONFIG, routes: [metricsRouteGroup({ snapshotTtlMs: 0 }), runsWriteRoutes] });
      await syncJobs(api.db, CONFIG);
    });
    after(() => api?.close());

    /** A run of `job` that started `seconds` before it ended with `status`, just now. */
    async function finishedRun(job: string, status: RunStatus, seconds: number, trigger: 'manual' | 'schedule' = 'manual'): Promise<string> {
      const runId = uuidv7();
      const started = new Date(Date.now() - seconds * 1000);
      await insertRun(api.db, { run_id: runId, job, job_content_hash: null, trigger, triggered_by: 't', params: {}, status: 'running', executor: 'local', created_at: started },
        { event_id: uuidv7(), at: started, type: 'created', actor: 't' });
      await api.db.query('UPDATE runs SET started_at = created_at WHERE run_id = $1', [runId]);
      await transitionRun(api.db, runId, ['running'], status, { finished_at: new Date(), exit_code: status === 'succeeded' ? 0 : 1 }, { event_id: uuidv7(), at: new Date(), type: status, actor: 't' });
      return runId;
    }

    async function scrape(): Promise<{ text: string; samples: Sample[] }> {
      const res = await api.call('GET', '/metrics', { scope: 'read' });
      assert.equal(res.status, 200, await res.clone().text());
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      return { text, samples: parseSamples(text) };
    }

    test('401 without a token, 200 with a read token', async () => {
      const res = await api.call('GET', '/metrics', { scope: null });
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unauthorized');
      await scrape();
    });

    test('a failed run, then a successful one: last_run_status flips, last success is set, counters and the histogram count both', async () => {
      const failedAt = Date.now();
      await finishedRun('report', 'failed', 3, 'schedule');
      let { samples, text } = await scrape();
      const status = (s: string) => valueOf(samples, 'kubescribe_job_last_run_status', { job_name: 'report', status: s });
      assert.equal(status('failed'), 1);
      for (const other of ['succeeded', 'cancelled', 'timed_out', 'lost']) assert.equal(status(other), 0, other);
      assert.equal(valueOf(samples, 'kubescribe_job_last_success_timestamp_seconds', { job_name: 'report' }), undefined);
      assert.equal(valueOf(samples, 'kubescribe_runs_total', { job_name: 'report', status: 'failed', trigger: 'schedule', executor: 'local' }), 1);
      // A job without finished runs has no last status, but a queued gauge at 0.
      assert.equal(samples.filter((s) => s.name === 'kubescribe_job_last_run_status' && s.labels.job_name === 'adhoc').length, 0);
      assert.equal(valueOf(samples, 'kubescribe_runs_queued', { job_name: 'adhoc' }), 0);
      assert.match(text, /# TYPE kubescribe_runs_total counter/);

      await finishedRun('report', 'succeeded', 20);
      ({ samples, text } = await scrape());
      assert.equal(status('failed'), 0);
      assert.equal(status('succeeded'), 1);
      const lastSuccess = valueOf(samples, 'kubescribe_job_last_success_timestamp_seconds', { job_name: 'report' })!;
      assert.ok(lastSuccess * 1000 >= failedAt - 1000 && lastSuccess * 1000 <= Date.now() + 1000, `last success ${lastSuccess}`);
      assert.equal(valueOf(samples, 'kubescribe_runs_total', { job_name: 'report', status: 'succeeded', trigger: 'manual', executor: 'local' }), 1);
      // Durations 3 s and 20 s: buckets are cumulative, +Inf is the count, the sum is about 23 s.
      const bucket = (le: string) => valueOf(samples, 'kubescribe_run_duration_seconds_bucket', { job_name: 'report', le });
      assert.equal(bucket('1'), 0);
      assert.equal(bucket('5'), 1);
      assert.equal(bucket('30'), 2);
      assert.equal(bucket('+Inf'), 2);
      assert.equal(valueOf(samples, 'kubescribe_run_duration_seconds_count', { job_name: 'report' }), 2);
      const sum = valueOf(samples, 'kubescribe_run_duration_seconds_sum', { job_name: 'report' })!;
      assert.ok(sum > 22 && sum < 25, `sum ${sum}`);
      // The schedule: next fire time in the future, the longest gap a day, not suspended.
      const next = valueOf(samples, 'kubescribe_job_next_schedule_timestamp_seconds', { job_name: 'report' })!;
      assert.ok(next * 1000 > Date.now() && next * 1000 <= Date.now() + 86_400_000, `next ${next}`);
      assert.equal(valueOf(samples, 'kubescribe_job_schedule_interval_seconds', { job_name: 'report' }), 86_400);
      assert.equal(valueOf(samples, 'kubescribe_job_schedule_interval_seconds', { job_name: 'adhoc' }), undefined);
      assert.equal(valueOf(samples, 'kubescribe_job_suspended', { job_name: 'report' }), 0);
      assert.match(text, /# TYPE kubescribe_run_duration_seconds histogram/);
      assert.match(text, /# HELP kubescribe_trigger_duration_seconds .*Per process/);
    });

    test('live runs are active or queued gauges; a trigger is timed by this process', async () => {
      const queued = uuidv7();
      await insertRun(api.db, { run_id: queued, job: 'adhoc', job_content_hash: null, trigger: 'api', triggered_by: 't', params: {}, status: 'queued', executor: 'local', created_at: new Date() },
        { event_id: uuidv7(), at: new Date(), type: 'created', actor: 't' });
      const running = uuidv7();
      await insertRun(api.db, { run_id: running, job: 'adhoc', job_content_hash: null, trigger: 'api', triggered_by: 't', params: {}, status: 'running', executor: 'local', created_at: new Date() },
        { event_id: uuidv7(), at: new Date(), type: 'created', actor: 't' });
      const trigger = await api.call('POST', '/runs/trigger', { scope: 'trigger', body: { job: 'adhoc' } });
      assert.equal(trigger.status, 202, await trigger.clone().text());
      const refused = await api.call('POST', '/runs/trigger', { scope: 'trigger', body: { job: 'no-such-job' } });
      assert.equal(refused.status, 404);
      const { samples } = await scrape();
      assert.equal(valueOf(samples, 'kubescribe_runs_queued', { job_name: 'adhoc' }), 2);
      assert.equal(valueOf(samples, 'kubescribe_runs_active', { job_name: 'adhoc', executor: 'local' }), 1);
      assert.equal(valueOf(samples, 'kubescribe_trigger_duration_seconds_count', { code: '2xx' }), 1);
      assert.equal(valueOf(samples, 'kubescribe_trigger_duration_seconds_count', { code: '4xx' }), 1);
      assert.equal(valueOf(samples, 'kubescribe_trigger_duration_seconds_bucket', { code: '2xx', le: '+Inf' }), 1);
    });

    test('promtool check metrics accepts the output; every label is bounded and none holds a run id', async () => {
      const { text, samples } = await scrape();
      const checked = await promtool(['check', 'metrics'], text);
      assert.equal(checked.code, 0, checked.out);
      assert.equal(checked.out.trim(), '', `promtool has remarks:\n${checked.out}`);
      const names = new Set(samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
      for (const name of [
        'kubescribe_runs_total', 'kubescribe_run_duration_seconds', 'kubescribe_runs_active', 'kubescribe_runs_queued',
        'kubescribe_job_last_run_status', 'kubescribe_job_last_success_timestamp_seconds', 'kubescribe_job_next_schedule_timestamp_seconds',
        'kubescribe_trigger_duration_seconds', 'kubescribe_scheduler_fire_lag_seconds',
      ]) assert.ok(names.has(name), `${name} is exposed`);
      for (const sample of samples) {
        for (const [label, value] of Object.entries(sample.labels)) {
          assert.ok(ALLOWED_LABELS.has(label), `${sample.name} has label ${label}`);
          assert.doesNotMatch(value, UUID, `${sample.name}{${label}="${value}"}`);
        }
      }
    });
  });
}

// A RunLog that refuses connections (a database restart): /metrics answers 503 with Retry-After, as
// every route of the API does, and the next scrape after it is back answers 200. PostgreSQL only: the
// outage is a TCP proxy in front of it.
if (ENGINES.includes('postgres')) {
  test('a RunLog outage answers 503 database_unavailable with Retry-After, then 200 once it is back', async () => {
    const runlog = await createTestRunLog('postgres');
    const proxy = new TcpProxy(targetOf(process.env.DATABASE_URL!));
    await proxy.start();
    const db = await openRunLogDb({ ...runlog.location, databaseUrl: proxy.urlFor(process.env.DATABASE_URL!) });
    const { token } = await createToken(db, { name: 'prometheus', scope: 'read', expires_at: null, created_by: 'test' });
    const app = await buildApp({ db, config: CONFIG, executor: new RecordingExecutor() }, [metricsRouteGroup({ snapshotTtlMs: 0 })]);
    try {
      const scrape = () => app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } });
      assert.equal((await scrape()).statusCode, 200);
      await proxy.cut();
      const down = await scrape();
      assert.equal(down.statusCode, 503, down.body);
      assert.ok(Number(down.headers['retry-after']) > 0);
      assert.equal(down.json().error.code, 'database_unavailable');
      await proxy.restore();
      let back = await scrape();
      for (let i = 0; i < 20 && back.statusCode !== 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        back = await scrape();
      }
      assert.equal(back.statusCode, 200, back.body);
    } finally {
      await app.close();
      await db.close();
      await proxy.close();
      await runlog.cleanup();
    }
  });
}

describe('the snapshot cache', () => {
  const snapshot = { runsTotal: [] } as unknown as MetricsSnapshot;

  test('concurrent scrapes share one read; a fresh snapshot is served for the TTL, then read again', async () => {
    let reads = 0;
    let now = 0;
    let release: () => void = () => {};
    const cache = new SnapshotCache(() => {
      reads += 1;
      return new Promise((resolve) => (release = () => resolve(snapshot)));
    }, 5000, () => now);
    const waiting = [cache.get(), cache.get(), cache.get()];
    release();
    assert.deepEqual(await Promise.all(waiting), [snapshot, snapshot, snapshot]);
    assert.equal(reads, 1);
    now = 4999;
    await cache.get();
    assert.equal(reads, 1);
    now = 5000;
    const next = cache.get();
    release();
    await next;
    assert.equal(reads, 2);
  });

  test('a failed read is not kept: its waiters get the error, the next scrape reads again', async () => {
    let reads = 0;
    const cache = new SnapshotCache(async () => {
      reads += 1;
      if (reads === 1) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
      return snapshot;
    }, 5000);
    await Promise.all([
      assert.rejects(cache.get(), /connection refused/),
      assert.rejects(cache.get(), /connection refused/),
    ]);
    assert.equal(await cache.get(), snapshot);
    assert.equal(reads, 2);
  });
});
