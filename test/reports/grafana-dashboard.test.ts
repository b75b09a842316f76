// deploy/grafana/kubescribe.json: valid dashboard JSON with its data-source variables and panels;
// every PromQL query parses (promtool) and names only metrics /metrics exposes; every SQL query runs
// on the RunLog (both engines) with Grafana's macros expanded.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { renderMetrics } from '../../src/reports/prometheus-metrics.ts';
import { promtool } from '../support/promtool.ts';
import { createTestRunLog, ENGINES } from '../support/runlog-engines.ts';
import type { MetricsSnapshot } from '../../src/reports/metrics-snapshot.ts';

interface Target { refId: string; datasource: { type: string; uid: string }; expr?: string; rawSql?: string }
interface Panel { id: number; type: string; title: string; datasource?: { type: string; uid: string }; targets?: Target[]; gridPos: { x: number; y: number; w: number; h: number } }
interface Dashboard { uid: string; title: string; panels: Panel[]; templating: { list: { name: string; type: string; query: unknown }[] } }

const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/kubescribe.json', import.meta.url), 'utf8')) as Dashboard;
const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
const targets = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));
const PROMETHEUS = { type: 'prometheus', uid: '${datasource}' };
const POSTGRES = { type: 'grafana-postgresql-datasource', uid: '${runlog}' };

/** A PromQL query as Grafana would send it: its variables replaced by values of the right kind. */
function expandPromql(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$job_name', '.*');
}

/** A SQL query as Grafana's PostgreSQL data source would send it: its macros expanded. */
function expandSql(sql: string): string {
  return sql
    .replace(/\$__timeFilter\(([\w.]+)\)/g, "$1 BETWEEN now() - interval '7 days' AND now()")
    .replace(/\$__timeGroupAlias\(([\w.]+), 1d\)/g, "date_trunc('day', $1) AS time")
    .replaceAll('${job_name:regex}', '.*');
}

describe('the Grafana dashboard', () => {
  test('is a dashboard with its data-source variables (Prometheus, the RunLog) and a job variable', () => {
    assert.equal(dashboard.uid, 'kubescribe');
    const variables = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
    assert.deepEqual([variables.datasource?.type, variables.datasource?.query], ['datasource', 'prometheus']);
    assert.deepEqual([variables.runlog?.type, variables.runlog?.query], ['datasource', 'grafana-postgresql-datasource']);
    assert.equal(variables.job_name?.type, 'query');
  });

  test('has the job health table, success rate, duration, queue, slots and SLA panels, each on its data source', () => {
    const titles = panels.map((panel) => panel.title);
    for (const title of ['Job health', 'Success rate', 'Run duration p50 / p95', 'Queue', 'Schedule slots by outcome', 'SLA by job (RunLog)',
      'Durations by job (RunLog, exact)', 'Daily success rate (RunLog)', 'Recent failures (RunLog)']) {
      assert.ok(titles.includes(title), `panel "${title}"`);
    }
    assert.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, 'panel ids are unique');
    for (const { panel, target } of targets) {
      const expected = target.expr !== undefined ? PROMETHEUS : POSTGRES;
      assert.ok((target.expr === undefined) !== (target.rawSql === undefined), `${panel.title} ${target.refId}: a PromQL or a SQL query`);
      assert.deepEqual(panel.datasource, expected, panel.title);
      assert.deepEqual(target.datasource, expected, `${panel.title} ${target.refId}`);
    }
    for (const panel of panels) assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} fits the grid`);
  });

  test('every PromQL query parses (promtool) and names only metrics that /metrics exposes', async () => {
    const exposed = await renderMetrics({
      runsTotal: [], runDurations: [], runsActive: [], runsQueued: [], jobs: [], scheduleSlots: [], notifications: [],
      schedulerFireLag: { buckets: [], count: 0, sum: 0 },
    } satisfies MetricsSnapshot, { scheduleIntervals: [], triggerDurations: [] });
    const names = new Set([...exposed.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
      type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!]));
    const queries = targets.filter(({ target }) => target.expr !== undefined);
    assert.ok(queries.length >= 10);
    for (const { panel, target } of queries) {
      for (const [name] of target.expr!.matchAll(/kubescribe_[a-z_]+/g)) assert.ok(names.has(name), `${panel.title}: ${name} is not exposed by /metrics`);
    }
    // Each query as a recording rule: `promtool check rules` parses every expression.
    const dir = mkdtempSync(join(tmpdir(), 'ks-dashboard-'));
    try {
      const rules = { groups: [{ name: 'dashboard', rules: queries.map(({ target }, i) => ({ record: `dashboard:query_${i}`, expr: expandPromql(target.expr!) })) }] };
      writeFileSync(join(dir, 'queries.yaml'), stringify(rules));
      const { code, out } = await promtool(['check', 'rules', 'queries.yaml'], undefined, dir);
      assert.equal(code, 0, out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const engine of ENGINES) {
    test(`every SQL query runs on the RunLog's views (${engine})`, async () => {
      const runlog = await createTestRunLog(engine);
      try {
        await runlog.withDb(async (db) => {
          await db.query(`INSERT INTO jobs (name) VALUES ('report')`);
          await db.query(`INSERT INTO runs (run_id, job, trigger, status, created_at, started_at, finished_at, error_type, error_message)
                          VALUES ('0190a000-0000-7000-8000-000000000001', 'report', 'schedule', 'failed', now() - interval '1 hour', now() - interval '59 minutes', now() - interval '58 minutes', 'ValueError', 'bad row')`);
          await db.query(`INSERT INTO schedule_slots (job, scheduled_for, state, run_id) VALUES ('report', now() - interval '1 hour', 'started', '0190a000-0000-7000-8000-000000000001')`);
          const queries = targets.filter(({ target }) => target.rawSql !== undefined);
          assert.ok(queries.length >= 4);
          for (const { panel, target } of queries) {
            const rows = await db.query(expandSql(target.rawSql!)).catch((error: Error) => assert.fail(`${panel.title}: ${error.message}`));
            assert.ok(rows.length >= 1, `${panel.title} finds the seeded run`);
          }
        });
      } finally {
        await runlog.cleanup();
      }
    });
  }
});
