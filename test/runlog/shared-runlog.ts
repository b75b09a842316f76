// One migrated RunLog per test file, shared by all of its tests. `createTestRunLog(...).withDb` opens
// PGlite anew on every call (2-3 s each), so the files under test/runlog/ open it once here instead.
import type { Db } from '../../src/runlog/db.ts';
import { openRunLogDb } from '../../src/runlog/open-runlog.ts';
import { insertRun, type NewRun } from '../../src/runlog/sql/runs.ts';
import { ensureUndeclaredJob } from '../../src/runlog/sql/jobs.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { createTestRunLog, ENGINES, type Engine, type TestRunLog } from '../support/runlog-engines.ts';

/**
 * The engines, plus PGlite on a worker thread (`openPgliteEngine({ threaded: true })`, what
 * `kubescribe run` uses), whose queries and transactions cross a message channel.
 */
export type Variant = Engine | 'pglite-threaded';
export const VARIANTS: Variant[] = ENGINES.flatMap((engine): Variant[] => (engine === 'pglite' ? ['pglite', 'pglite-threaded'] : [engine]));


export interface SharedRunLog {
  runlog: TestRunLog;
  db: Db;
  close(): Promise<void>;
}

/** Opens (and migrates) an isolated RunLog on `variant` that stays open until `close()`. */
export async function openSharedRunLog(variant: Variant): Promise<SharedRunLog> {
  const engine: Engine = variant === 'postgres' ? 'postgres' : 'pglite';
  const runlog = await createTestRunLog(engine);
  if (engine === 'pglite') {
    const db = await openRunLogDb(runlog.location, { threaded: variant === 'pglite-threaded' }).catch(async (error: unknown) => {
      await runlog.cleanup();
      throw error;
    });
    return {
      runlog,
      db,
      async close() {
        await db.close();
        await runlog.cleanup();
      },
    };
  }
  const db = await runlog.withDb(async (shared) => shared).catch(async (error: unknown) => {
    await runlog.cleanup().catch(() => {});
    throw error;
  });
  return { runlog, db, close: () => runlog.cleanup() };
}

/** A view of `db` whose close() does nothing, for code under test that closes what it is given. */
export function unclosable(db: Db): Db {
  return {
    engine: db.engine,
    location: db.location,
    query: (sql, params) => db.query(sql, params),
    transaction: (fn) => db.transaction(fn),
    close: async () => {},
  };
}

/** A new run of `job` (created as an undeclared job if needed), with its `created` event. */
export async function seedRun(db: Db, overrides: Partial<NewRun> = {}): Promise<NewRun> {
  const run: NewRun = {
    run_id: uuidv7(),
    job: 'seeded',
    job_content_hash: null,
    trigger: 'manual',
    triggered_by: 'tester',
    params: {},
    status: 'running',
    executor: 'local',
    created_at: new Date(),
    ...overrides,
  };
  await ensureUndeclaredJob(db, run.job);
  const inserted = await insertRun(db, run, { event_id: uuidv7(), at: run.created_at, type: 'created', actor: 'tester' });
  if (!inserted) throw new Error(`seedRun: run ${run.run_id} already exists`);
  return run;
}

/** A `created`-style event input with a fresh id. */
export function ev(type: string, actor: string | null = 'tester', detail: Record<string, unknown> = {}) {
  return { event_id: uuidv7(), at: new Date(), type, actor, detail };
}

/** `SELECT count(*)` of a query's rows. */
export async function count(db: Db, from: string, params: unknown[] = []): Promise<number> {
  const [row] = await db.query<{ n: number }>(`SELECT count(*) AS n FROM ${from}`, params);
  return row!.n;
}
