// GET /jobs/{name}/stats and GET /stats over real HTTP on each engine: the numbers against an
// independent computation over the seeded runs, strict query validation naming the field, 404 for an
// unknown job, scope read, and every response checked against the published OpenAPI document.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statsRoutes } from '../../src/api/routes/stats.ts';
import { windowRange } from '../../src/reports/stats.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { checkResponse, fetchOpenApi, type OpenApiDocument } from '../support/openapi-contract.ts';
import { ENGINES } from '../support/runlog-engines.ts';
import { assertClose, expectedBuckets, expectedMetric, expectedStats, seedRuns, type SeededRun, type SeedSlot } from '../support/stats-oracle.ts';

const HOUR = 3_600_000;


for (const engine of ENGINES) {
  describe(`stats API (${engine})`, () => {
    let api: TestApi;
    let openapi: OpenApiDocument;
    let runs: SeededRun[];
    const slots: SeedSlot[] = [];
    // The request's own `now` is the server's clock: runs are seeded hours away from any window end.
    const base = Date.now();
    const at = (ms: number) => new Date(base - ms);

    before(async () => {
      api = await startTestApi(engine, { routes: [statsRoutes] });
      openapi = await fetchOpenApi(api.url);
      const specs = [];
      for (let i = 0; i < 40; i++) {
        const created = at(i * 5 * HOUR + 30 * 60_000);
        const status = (['succeeded', 'failed', 'succeeded', 'lost', 'succeeded'] as const)[i % 5]!;
        specs.push({
          job: 'etl', status, created_at: created, started_at: new Date(created.getTime() + 2_000),
          finished_at: new Date(created.getTime() + 2_000 + (30 + i * 11) * 1_000),
          error_type: status === 'succeeded' ? null : 'ExitCode', error_message: status === 'succeeded' ? null : `failed at step ${i}`,
          metrics: status === 'succeeded' ? { rows_read: 100 * i } : {},
        });
      }
      specs.push({ job: 'etl', status: 'running' as const, created_at: at(20 * 60_000), started_at: at(19 * 60_000) });
      slots.push({ job: 'etl', scheduled_for: new Date(specs[1]!.created_at.getTime() - 1_000), state: 'started', run: 1 });
      slots.push({ job: 'etl', scheduled_for: at(3 * HOUR), state: 'missed' });
      runs = await seedRuns(api.db, specs, slots);
      await ensureUndeclaredJob(api.db, 'quiet');
    });
    after(() => api.close());

    const get = async (path: string, scope: 'read' | null = 'read') => {
      const response = await api.call('GET', path, { scope });
      return { status: response.status, body: (await response.json()) as any };
    };

    test('GET /jobs/{name}/stats answers the numbers of the independent computation, for each window', async () => {
      for (const window of ['24h', '7d', '30d', '90d'] as const) {
        const { status, body } = await get(`/jobs/etl/stats?window=${window}`);
        assert.equal(status, 200);
        checkResponse(openapi, 'get', '/jobs/{name}/stats', 200, body);
        const { from, to } = windowRange(window, new Date(body.to));
        assert.equal(body.from, from.toISOString());
        assertClose(body, expectedStats(runs, slots, 'etl', window, from, to, new Date(body.to)));
      }
      const { body } = await get('/jobs/etl/stats');
      assert.equal(body.window, '30d', 'the default window');
      assert.equal(body.runs.running, 1);
      assert.equal(body.sla.missed, 1);
      assert.equal(body.sla.on_time, 1);
    });

    test('bucket and metric add the chart series', async () => {
      const { status, body } = await get('/jobs/etl/stats?window=7d&bucket=1d&metric=rows_read');
      assert.equal(status, 200);
      checkResponse(openapi, 'get', '/jobs/{name}/stats', 200, body);
      const { from, to } = windowRange('7d', new Date(body.to));
      assertClose(body.buckets, expectedBuckets(runs, 'etl', from, to, '1d'));
      assertClose(body.metric, { name: 'rows_read', bucket: '1d', buckets: expectedMetric(runs, 'etl', 'rows_read', from, to, '1d') });
      const hourly = await get('/jobs/etl/stats?window=24h&bucket=1h');
      assert.ok(hourly.body.buckets.length === 24 || hourly.body.buckets.length === 25, 'every hour of the window');
      assert.equal(hourly.body.metric, undefined);
    });

    test('GET /stats lists every job, the quiet one with zeros', async () => {
      const { status, body } = await get('/stats?window=7d');
      assert.equal(status, 200);
      checkResponse(openapi, 'get', '/stats', 200, body);
      assert.equal(body.window, '7d');
      assert.deepEqual(body.jobs.map((j: { job_name: string }) => j.job_name), ['etl', 'quiet']);
      const quiet = body.jobs[1];
      assert.equal(quiet.runs.total, 0);
      assert.equal(quiet.success_rate, null);
      const { from, to } = windowRange('7d', new Date(body.jobs[0].to));
      assertClose(body.jobs[0], expectedStats(runs, slots, 'etl', '7d', from, to, new Date(body.jobs[0].to)));
    });

    test('bad input is a 400 naming the field, an unknown job a 404, no token a 401', async () => {
      const cases: Array<[string, string]> = [
        ['/jobs/etl/stats?window=1y', 'querystring.window'],
        ['/jobs/etl/stats?bucket=1w', 'querystring.bucket'],
        ['/jobs/etl/stats?metric=', 'querystring.metric'],
        ['/jobs/etl/stats?windw=7d', 'querystring.windw'],
        ['/stats?window=7', 'querystring.window'],
        ['/stats?bucket=1d', 'querystring.bucket'],
      ];
      for (const [path, field] of cases) {
        const { status, body } = await get(path);
        assert.equal(status, 400, path);
        assert.equal(body.error.code, 'invalid_request', path);
        assert.equal(body.error.details[0].field, field, path);
        checkResponse(openapi, 'get', path.startsWith('/stats') ? '/stats' : '/jobs/{name}/stats', 400, body);
      }
      const missing = await get('/jobs/nope/stats');
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.body.error, { code: 'job_not_found', message: 'no job nope', details: { job: 'nope' } });
      assert.equal((await get('/stats', null)).status, 401);
      assert.equal((await get('/jobs/etl/stats', null)).status, 401);
    });
  });
}
