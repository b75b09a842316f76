// The one job name rule (src/config/job-name.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { jobNameProblem, MAX_JOB_NAME } from '../../src/config/job-name.ts';
import { ADHOC_JOB } from '../../src/runner/invocation.ts';

describe('job names', () => {
  test('valid names pass; the rule is DNS-1123 of at most 52 characters', () => {
    for (const name of ['report', 'sales-report-2', 'a', '0', 'a'.repeat(MAX_JOB_NAME)]) assert.equal(jobNameProblem(name), null, name);
    for (const name of ['', 'Report', 'sales_report', '-report', 'report-', 'a'.repeat(MAX_JOB_NAME + 1), '../../etc/passwd', 'a b', 'é', 'a\u0000b']) {
      assert.match(jobNameProblem(name) ?? '', /^invalid job name .*: use lowercase letters, digits and "-"/, JSON.stringify(name));
    }
  });

  test('the message escapes control characters and cuts long names', () => {
    assert.equal(jobNameProblem('a\u0000\u001b\nb')!.split(':')[0], 'invalid job name "a\\u0000\\u001b\\nb"');
    const long = jobNameProblem('x'.repeat(5000))!;
    assert.ok(long.length < 250, long);
    assert.match(long, /"x{60}…" \(5000 characters\)/);
  });

  test('the job of ad-hoc runs (no --job) obeys the rule', () => {
    assert.equal(jobNameProblem(ADHOC_JOB), null);
  });
});
