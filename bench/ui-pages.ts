// Server-side render time of the UI's jobs and runs pages (ui-core's pages) over real HTTP on
// PostgreSQL: 50 scheduled jobs with --runs-per-job runs each (default 2,000: 100,000 runs) spread
// over 40 days, 10% failed. Prints p50/p95/max of 30 requests per page, the jobs page's first
// (uncached stats) request apart, and the load average, since the machine may be shared.
// Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:ui-pages [-- --runs-per-job 2000]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/job-config.ts';
import { startTestUi } from '../test/support/ui.ts';

const { values } = parseArgs({ options: { 'runs-per-job': { type: 'string', default: '2000' } } });
const perJob = Number(values['runs-per-job']);
if (!process.env.DATABASE_URL) throw new Error('bench:ui-pages needs DATABASE_URL (PostgreSQL)');
const jobs = Array.from({ length: 50 }, (_, i) => `job-${String(i).padStart(2, '0')}`);
const config = parseConfig(`jobs:\n${jobs.map((job) => `  ${job}:\n    description: the ${job} job\n    command: ["true"]\n    schedule: "0 * * * *"\n`).join('')}`, 'kubescribe.yaml');
const ui = await startTestUi('postgres', { config });
try {
  await ui.db.query('INSERT INTO jobs (name, declared) SELECT unnest($1::text[]), true ON CONFLICT DO NOTHING', [jobs]);
  // One statement per job: a single 100,000-row insert can pass the RunLog's statement timeout on a busy machine.
  for (const job of jobs) {
    await ui.db.query(`
      INSERT INTO runs (run_id, job, trigger, triggered_by, params, status, executor, labels, created_at, started_at, finished_at, exit_code)
      SELECT gen_random_uuid(), $1, 'schedule', 'bench', '{}', CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 'local', '{}',
             now() - (g * (40 * 86400.0 / $2)) * interval '1 second', now() - (g * (40 * 86400.0 / $2)) * interval '1 second',
             now() - (g * (40 * 86400.0 / $2)) * interval '1 second' + (1000 + g % 700) * interval '1 millisecond', 0
      FROM generate_series(1, $2) g`, [job, perJob]);
  }
  await ui.db.query('ANALYZE runs').catch(() => {});
  const code = ui.signInCodes.issue(ui.tokens.read);
  const signIn = await fetch(`${ui.url}/ui/sign-in/once?code=${code}`, { redirect: 'manual' });
  const cookie = signIn.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');
  const get = async (path: string): Promise<number> => {
    const start = performance.now();
    const response = await fetch(`${ui.url}${path}`, { headers: { cookie } });
    await response.text();
    if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
    return performance.now() - start;
  };
  console.log(`${jobs.length} jobs, ${jobs.length * perJob} runs on PostgreSQL; load average ${loadavg().map((n) => n.toFixed(1)).join(' ')}`);
  console.log(`/ui/jobs first request (stats computed): ${(await get('/ui/jobs')).toFixed(1)} ms`);
  for (const path of ['/ui/jobs', '/ui/runs', '/ui/runs?job=job-07&status=failed', '/ui/runs?label=team%3Dnone']) {
    const times: number[] = [];
    for (let i = 0; i < 30; i++) times.push(await get(path));
    times.sort((a, b) => a - b);
    console.log(`${path}: p50 ${times[14]!.toFixed(1)} ms, p95 ${times[28]!.toFixed(1)} ms, max ${times[29]!.toFixed(1)} ms`);
  }
  console.log(`load average after: ${loadavg().map((n) => n.toFixed(1)).join(' ')}`);
} finally {
  await ui.close();
}
