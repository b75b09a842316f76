// The whole API as `serve` builds it (every route group), a config to aim hostile requests at, and
// the row counts that show whether a refused request changed anything.
import { jobsRoutes } from '../../src/api/routes/jobs.ts';
import { runsReadRoutes } from '../../src/api/routes/runs-read.ts';
import { runsWriteRoutes } from '../../src/api/routes/runs-write.ts';
import { tokensRoutes } from '../../src/api/routes/tokens.ts';
import { statsRoutes } from '../../src/api/routes/stats.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import type { Db } from '../../src/runlog/db.ts';

/** Every route group, as src/server/server.ts registers them. */
export const ALL_ROUTES = [runsReadRoutes, runsWriteRoutes, jobsRoutes, tokensRoutes, statsRoutes];

/** One Allow job without a params schema (any params go in) and one scheduled job. */
export const HOSTILE_CONFIG = parseConfig(`
jobs:
  hello:
    command: ["true"]
  nightly:
    command: ["true"]
    schedule: "0 3 * * *"
`, 'kubescribe.yaml');

/** Row counts of every table a write route touches: a refused request leaves them all as they were. */
export async function rowCounts(db: Db): Promise<Record<string, number>> {
  const [row] = await db.query<Record<string, string>>(
    `SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM run_events) AS run_events,
            (SELECT count(*) FROM api_tokens) AS api_tokens,
            (SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL) AS revoked_tokens,
            (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM jobs WHERE suspended) AS suspended_jobs,
            (SELECT count(*) FROM job_events) AS job_events`,
  );
  return Object.fromEntries(Object.entries(row!).map(([table, count]) => [table, Number(count)]));
}
