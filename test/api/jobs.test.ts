// Jobs over real HTTP on each engine: the RunLog's jobs merged with the config, schedule in words and
// next fire times, last run and health, definition and revisions, suspend and resume. Every response
// is checked against the OpenAPI document the server publishes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINES } from '../support/runlog-engines.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { checkResponse, fetchOpenApi, type OpenApiDocument } from '../support/openapi-contract.ts';
import { jobsRoutes } from '../../src/api/routes/jobs.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import type { Db } from '../../src/runlog/db.ts';
import { ensureUndeclaredJob, syncJobDefinition } from '../../src/runlog/sql/jobs.ts';
import { insertRun, transitionRun } from '../../src/runlog/sql/runs.ts';
import { jobSyncOf } from '../../src/runlog/sync-jobs.ts';
import type { RunStatus } from '../../src/runlog/types.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { Cron } from 'croner';
import { describeCron, describeSchedule, nextFireTimes } from '../../src/scheduler/describe-schedule.ts';

const CONFIG = `
version: 1
jobs:
  nightly:
    description: Nightly export
    command: ["python3", "nightly.py"]
    schedule: "0 6 * * *"
    time_zone: Europe/Berlin
    env: {API_TENANT: "s3cr3t-value", MODE: fast}
  adhoc:
    command: ["true"]
  fresh:
    command: ["true"]
    schedule: "*/15 * * * *"
`;

async function seedRun(db: Db, job: string, status: RunStatus, createdAt: Date): Promise<string> {
  const runId = uuidv7();
  await insertRun(
    db,
    { run_id: runId, job, job_content_hash: null, trigger: 'schedule', triggered_by: 'cron', params: {}, status: 'running', executor: 'local', created_at: createdAt },
    { event_id: uuidv7(), at: createdAt, type: 'created', actor: 'cron' },
  );
  if (status !== 'running') {
    const finished = new Date(createdAt.getTime() + 1000);
    await transitionRun(db, runId, ['running'], status, { started_at: createdAt, finished_at: finished }, { event_id: uuidv7(), at: finished, type: status, actor: 'test' });
  }
  return runId;
}

/** The hour of `iso` on the wall clock of `timeZone`. */
function localHour(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso));
}

for (const engine of ENGINES) {
  describe(`API: jobs (${engine})`, () => {
    let api: TestApi;
    let doc: OpenApiDocument;
    const config = parseConfig(CONFIG, '/srv/kubescribe.yaml');
    let newestNightly: string;

    async function call(method: 'GET' | 'POST', path: string, template: string, options: { scope?: 'read' | 'trigger' | 'admin' | null; body?: unknown } = {}) {
      const response = await api.call(method, path, { scope: options.scope === undefined ? 'read' : options.scope, body: options.body });
      const text = await response.text();
      const body = JSON.parse(text);
      checkResponse(doc, method, template, response.status, body);
      return { status: response.status, body, text };
    }
    const jobNamed = async (name: string) => {
      const { status, body } = await call('GET', '/jobs', '/jobs');
      assert.equal(status, 200);
      return body.jobs.find((job: { name: string }) => job.name === name);
    };

    before(async () => {
      api = await startTestApi(engine, { routes: [jobsRoutes], config });
      doc = await fetchOpenApi(api.url);
      const nightly = config.jobs.get('nightly')!;
      // Two revisions of nightly; `fresh` is declared but not yet in the RunLog.
      await syncJobDefinition(api.db, jobSyncOf({ ...nightly, command: ['python3', 'old.py'] }, config.file));
      await syncJobDefinition(api.db, jobSyncOf(nightly, config.file));
      await syncJobDefinition(api.db, jobSyncOf(config.jobs.get('adhoc')!, config.file));
      await ensureUndeclaredJob(api.db, 'legacy');
      const day = Date.UTC(2026, 2, 1, 5, 0, 0);
      await seedRun(api.db, 'nightly', 'failed', new Date(day));
      await seedRun(api.db, 'nightly', 'succeeded', new Date(day + 86_400_000));
      newestNightly = await seedRun(api.db, 'nightly', 'running', new Date(day + 2 * 86_400_000));
      await seedRun(api.db, 'legacy', 'succeeded', new Date(day));
      await seedRun(api.db, 'legacy', 'lost', new Date(day + 1000));
      await seedRun(api.db, 'adhoc', 'cancelled', new Date(day));
    });
    after(() => api.close());

    test('the OpenAPI document is valid and documents every jobs endpoint', () => {
      assert.ok(doc.paths['/jobs']?.get);
      assert.ok(doc.paths['/jobs/{name}']?.get);
      assert.ok(doc.paths['/jobs/{name}/suspend']?.post);
      assert.ok(doc.paths['/jobs/{name}/resume']?.post);
    });

    test('lists the RunLog’s jobs merged with the config, by name', async () => {
      const { status, body } = await call('GET', '/jobs', '/jobs');
      assert.equal(status, 200);
      assert.deepEqual(body.jobs.map((job: { name: string }) => job.name), ['adhoc', 'fresh', 'legacy', 'nightly']);
      const [adhoc, fresh, legacy] = body.jobs;
      assert.deepEqual(
        { ...legacy, last_run: undefined },
        { name: 'legacy', description: null, declared: false, suspended: false, current_revision: null, schedule: null, time_zone: null,
          schedule_text: null, next_runs: [], last_run: undefined, health: 'failing' },
      );
      assert.equal(legacy.last_run.status, 'lost');
      assert.equal(adhoc.health, 'unknown', 'a cancelled run says nothing about health');
      assert.equal(adhoc.current_revision, 1);
      assert.equal(fresh.current_revision, null, 'declared but not yet recorded');
      assert.equal(fresh.declared, true);
      assert.equal(fresh.last_run, null);
      assert.equal(fresh.health, 'unknown');
      assert.equal(fresh.schedule_text, 'every 15 minutes (UTC)');
      const times = fresh.next_runs.map((iso: string) => Date.parse(iso));
      assert.equal(times.length, 3);
      assert.equal(times[1] - times[0], 15 * 60_000);
      assert.equal(times[2] - times[1], 15 * 60_000);
    });

    test('a scheduled job: schedule in words, 3 increasing next fire times, last run and health', async () => {
      const nightly = await jobNamed('nightly');
      assert.equal(nightly.description, 'Nightly export');
      assert.equal(nightly.declared, true);
      assert.equal(nightly.current_revision, 2);
      assert.equal(nightly.schedule, '0 6 * * *');
      assert.equal(nightly.time_zone, 'Europe/Berlin');
      assert.equal(nightly.schedule_text, 'at 06:00 every day (Europe/Berlin)');
      assert.equal(nightly.next_runs.length, 3);
      // A minute of slack: the first fire time may pass between the answer and this check.
      let previous = Date.now() - 60_000;
      for (const iso of nightly.next_runs) {
        assert.ok(Date.parse(iso) > previous, `${iso} comes after the previous fire time`);
        previous = Date.parse(iso);
        assert.equal(localHour(iso, 'Europe/Berlin'), '06:00');
      }
      assert.equal(nightly.last_run.run_id, newestNightly);
      assert.equal(nightly.last_run.status, 'running');
      assert.equal(nightly.last_run.finished_at, null);
      assert.equal(nightly.health, 'healthy', 'from the newest finished run, not the running one');
    });

    test('one job with its definition (env values masked) and revisions, newest first', async () => {
      const { status, body, text } = await call('GET', '/jobs/nightly', '/jobs/{name}');
      assert.equal(status, 200);
      assert.equal(body.schedule_text, 'at 06:00 every day (Europe/Berlin)');
      assert.deepEqual(body.definition.command, ['python3', 'nightly.py']);
      assert.deepEqual(body.definition.env, { API_TENANT: '***', MODE: '***' });
      assert.doesNotMatch(text, /s3cr3t-value/);
      assert.deepEqual(body.revisions.map((revision: { number: number }) => revision.number), [2, 1]);
      assert.match(body.revisions[0].content_hash, /^[0-9a-f]{64}$/);
      assert.notEqual(body.revisions[0].content_hash, body.revisions[1].content_hash);
      const fresh = await call('GET', '/jobs/fresh', '/jobs/{name}');
      assert.equal(fresh.status, 200);
      assert.deepEqual(fresh.body.definition.command, ['true'], 'the config’s definition while none is recorded');
      assert.deepEqual(fresh.body.revisions, []);
      const legacy = await call('GET', '/jobs/legacy', '/jobs/{name}');
      assert.equal(legacy.body.definition, null);
    });

    test('an unknown job → 404 job_not_found', async () => {
      const missing = await call('GET', '/jobs/nope', '/jobs/{name}');
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.body.error, { code: 'job_not_found', message: 'no job nope', details: { job: 'nope' } });
      for (const action of ['suspend', 'resume']) {
        const response = await call('POST', `/jobs/nope/${action}`, `/jobs/{name}/${action}`, { scope: 'admin' });
        assert.equal(response.status, 404);
        assert.equal(response.body.error.code, 'job_not_found');
      }
    });

    test('suspend: suspended, no next runs, the actor in the answer; again answers the same; resume restores', async () => {
      const suspend = () => call('POST', '/jobs/nightly/suspend', '/jobs/{name}/suspend', { scope: 'admin', body: { reason: 'maintenance' } });
      const first = await suspend();
      assert.equal(first.status, 200);
      assert.equal(first.body.suspended, true);
      assert.deepEqual(first.body.next_runs, []);
      assert.equal(first.body.schedule_text, 'at 06:00 every day (Europe/Berlin)');
      assert.deepEqual(first.body.action, { type: 'suspend', actor: 'token:test-admin', reason: 'maintenance' });
      const [row] = await api.db.query<{ suspended: boolean }>("SELECT suspended FROM jobs WHERE name = 'nightly'");
      assert.equal(row!.suspended, true);
      const second = await suspend();
      assert.equal(second.status, 200);
      assert.deepEqual(second.body, first.body);
      assert.equal((await jobNamed('nightly')).suspended, true);
      assert.deepEqual((await jobNamed('nightly')).next_runs, []);

      const resume = await call('POST', '/jobs/nightly/resume', '/jobs/{name}/resume', { scope: 'admin' });
      assert.equal(resume.status, 200);
      assert.equal(resume.body.suspended, false);
      assert.equal(resume.body.next_runs.length, 3);
      assert.deepEqual(resume.body.action, { type: 'resume', actor: 'token:test-admin', reason: null });
      const again = await call('POST', '/jobs/nightly/resume', '/jobs/{name}/resume', { scope: 'admin', body: {} });
      assert.equal(again.status, 200);
      assert.equal(again.body.suspended, false);
      // Each change, and only a change, is in the job's audit trail with who and why.
      const audit = await api.db.query<{ type: string; actor: string; detail: { reason: string | null } }>(
        "SELECT type, actor, detail FROM job_events WHERE job = 'nightly' ORDER BY at, event_id");
      assert.deepEqual(audit, [
        { type: 'suspended', actor: 'token:test-admin', detail: { reason: 'maintenance' } },
        { type: 'resumed', actor: 'token:test-admin', detail: { reason: null } },
      ]);
    });

    test('suspending a declared job not yet in the RunLog records it first', async () => {
      const { status, body } = await call('POST', '/jobs/fresh/suspend', '/jobs/{name}/suspend', { scope: 'admin' });
      assert.equal(status, 200);
      assert.equal(body.suspended, true);
      assert.equal(body.current_revision, 1);
      assert.deepEqual(body.next_runs, []);
      const [row] = await api.db.query<{ suspended: boolean; declared: boolean }>("SELECT suspended, declared FROM jobs WHERE name = 'fresh'");
      assert.deepEqual(row, { suspended: true, declared: true });
      assert.equal((await call('POST', '/jobs/fresh/resume', '/jobs/{name}/resume', { scope: 'admin' })).body.next_runs.length, 3);
    });

    test('suspend and resume need admin: trigger and read → 403, none → 401; unknown body fields → 400', async () => {
      for (const action of ['suspend', 'resume']) {
        for (const scope of ['trigger', 'read'] as const) {
          const { status, body } = await call('POST', `/jobs/nightly/${action}`, `/jobs/{name}/${action}`, { scope });
          assert.equal(status, 403, `${scope} ${action}`);
          assert.equal(body.error.code, 'forbidden');
          assert.equal(body.error.details.required, 'admin');
        }
        assert.equal((await call('POST', `/jobs/nightly/${action}`, `/jobs/{name}/${action}`, { scope: null })).status, 401);
        const unknown = await call('POST', `/jobs/nightly/${action}`, `/jobs/{name}/${action}`, { scope: 'admin', body: { reason: 'x', until: 'monday' } });
        assert.equal(unknown.status, 400);
        assert.deepEqual(unknown.body.error.details, [{ field: 'body.until', reason: 'is not a known field' }]);
      }
      assert.equal((await jobNamed('nightly')).suspended, false, 'rejected calls changed nothing');
      for (const [path, template] of [['/jobs', '/jobs'], ['/jobs/nightly', '/jobs/{name}']]) {
        assert.equal((await call('GET', path!, template!, { scope: null })).status, 401);
      }
    });
  });
}

describe('schedule in words and next fire times', () => {
  test('common cron shapes in words; anything else as the expression', () => {
    const cases: [string, string][] = [
      ['0 6 * * *', 'at 06:00 every day'],
      ['30 18 * * 1-5', 'at 18:30 on Monday to Friday'],
      ['0 9 * * MON-FRI', 'at 09:00 on Monday to Friday'],
      ['0 7 * * 0,6', 'at 07:00 on Sunday and Saturday'],
      ['0 7 * * 7', 'at 07:00 on Sunday'],
      ['0 6,18 * * *', 'at 06:00 and 18:00 every day'],
      ['0 2 1 * *', 'at 02:00 on day 1 of every month'],
      ['0 2 1,15 * *', 'at 02:00 on days 1 and 15 of every month'],
      ['0 0 1 1 *', 'at 00:00 on 1 January'],
      ['0 0 L * *', 'at 00:00 on the last day of every month'],
      ['* * * * *', 'every minute'],
      ['*/15 * * * *', 'every 15 minutes'],
      ['*/5 * * * 1-5', 'every 5 minutes on Monday to Friday'],
      ['*/10 9-17 * * *', 'every 10 minutes from 09:00 to 17:59'],
      ['15 * * * *', 'every hour at :15'],
      ['0 */2 * * *', 'every 2 hours at :00'],
      ['0 9-17 * * *', 'every hour from 09:00 to 17:00'],
      ['* * * * * *', 'every second'],
      ['*/5 * * * * *', 'every 5 seconds'],
      ['30 0 6 * * *', 'at 06:00:30 every day'],
      ['0 0 6 * * *', 'at 06:00 every day'],
      ['@daily', 'at 00:00 every day'],
      ['@hourly', 'every hour at :00'],
      ['@weekly', 'at 00:00 on Sunday'],
    ];
    for (const [expression, words] of cases) assert.equal(describeCron(expression), words, expression);
    for (const odd of ['*/7 * * * *', '0 6 1-7 * 1', '0 6 * * 1#2', '5,10,15,20,25 1,2 * * *']) {
      assert.equal(describeCron(odd), null, odd);
      assert.equal(describeSchedule(odd, 'UTC'), `${odd} (UTC)`);
    }
    assert.equal(describeSchedule('0 6 * * *', 'Europe/Berlin'), 'at 06:00 every day (Europe/Berlin)');
  });

  test('next fire times follow the wall clock of the time zone across a DST change', () => {
    // Europe/Berlin moves from UTC+1 to UTC+2 on 2026-03-29.
    const times = nextFireTimes('0 6 * * *', 'Europe/Berlin', 3, new Date('2026-03-27T12:00:00Z'));
    assert.deepEqual(times.map((time) => time.toISOString()), ['2026-03-28T05:00:00.000Z', '2026-03-29T04:00:00.000Z', '2026-03-30T04:00:00.000Z']);
    const utc = nextFireTimes('*/15 * * * *', 'UTC', 2, new Date('2026-03-27T12:07:00Z'));
    assert.deepEqual(utc.map((time) => time.toISOString()), ['2026-03-27T12:15:00.000Z', '2026-03-27T12:30:00.000Z']);
  });

  test('next fire times asked again (kept per schedule) are what croner computes afresh, up to and past the first of them', () => {
    const fresh = (expression: string, zone: string, count: number, from: Date) => {
      const cron = new Cron(expression, { timezone: zone, paused: true });
      try {
        return cron.nextRuns(count, from).map((time) => time.toISOString());
      } finally {
        cron.stop();
      }
    };
    const iso = (times: Date[]) => times.map((time) => time.toISOString());
    // Across the first fire time (12:15) to the millisecond, over the Berlin DST change, and back in time.
    const cases: [string, string, string[]][] = [
      ['*/15 * * * *', 'UTC', ['2026-03-27T12:07:00Z', '2026-03-27T12:10:00Z', '2026-03-27T12:14:59.999Z', '2026-03-27T12:15:00Z',
        '2026-03-27T12:15:00.001Z', '2026-03-27T12:29:59.500Z', '2026-03-27T12:30:00Z', '2026-03-27T12:01:00Z', '2026-03-27T12:20:00Z']],
      ['0 6 * * *', 'Europe/Berlin', ['2026-03-27T12:00:00Z', '2026-03-28T04:59:59.999Z', '2026-03-28T05:00:00Z', '2026-03-28T23:00:00Z',
        '2026-03-29T04:00:00Z', '2026-03-26T12:00:00Z']],
    ];
    for (const [expression, zone, froms] of cases) {
      for (const from of froms) {
        const at = new Date(from);
        const first = nextFireTimes(expression, zone, 3, at);
        assert.deepEqual(iso(first), fresh(expression, zone, 3, at), `${expression} ${zone} from ${from}`);
        // The same question again, with the answer given before changed by its caller: the kept times are its own.
        first[0]!.setTime(0);
        assert.deepEqual(iso(nextFireTimes(expression, zone, 3, at)), fresh(expression, zone, 3, at), `${expression} ${zone} again from ${from}`);
        assert.deepEqual(iso(nextFireTimes(expression, zone, 2, at)), fresh(expression, zone, 2, at), `${expression} ${zone} two from ${from}`);
      }
    }
  });
});
