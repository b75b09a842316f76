// deploy/prometheus/rules.yaml is valid for Prometheus, and its unit tests (rules.test.yaml: input
// series -> the alerts expected to fire, and to clear) pass in promtool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { promtool } from '../support/promtool.ts';

const DIR = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));

test('promtool check rules accepts deploy/prometheus/rules.yaml', async () => {
  const { code, out } = await promtool(['check', 'rules', 'rules.yaml'], undefined, DIR);
  assert.equal(code, 0, out);
  assert.match(out, /SUCCESS: 4 rules found/);
});

test('promtool test rules: every alert fires on its input series and clears after', async () => {
  const { code, out } = await promtool(['test', 'rules', 'rules.test.yaml'], undefined, DIR);
  assert.equal(code, 0, out);
  assert.match(out, /SUCCESS/);
});

test('every alert of rules.yaml is unit-tested both firing and cleared', () => {
  const rules = parse(readFileSync(`${DIR}rules.yaml`, 'utf8')) as { groups: { rules: { alert: string }[] }[] };
  const tests = parse(readFileSync(`${DIR}rules.test.yaml`, 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
  const checks = tests.tests.flatMap((t) => t.alert_rule_test);
  for (const { alert } of rules.groups.flatMap((group) => group.rules)) {
    assert.ok(checks.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} is never expected to fire`);
    const firing = checks.findIndex((c) => c.alertname === alert && c.exp_alerts.length > 0);
    assert.ok(checks.slice(firing + 1).some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} is never expected to clear after firing`);
  }
});
