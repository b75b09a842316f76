// Every job's stats are the costliest part of the pages that show them (the jobs page: ~330,000
// durations for 50 busy jobs, read through the daily rollup). So those pages share their figures:
// recomputed at most every STATS_TTL_MS, and, stale-while-revalidate, a request after that is served
// the last figures at once while one recomputation runs for the next request. Past
// STATS_MAX_STALE_MS (an idle server) a request waits for fresh ones. The pages say how old they are.
import { allJobStats, type JobStats, type StatsWindow } from '../reports/stats.ts';
import type { Queryable } from '../runlog/db.ts';

/** How long computed figures are served as they are (the pages say "recomputed at most every 30 seconds"). */
export const STATS_TTL_MS = 30_000;
const STATS_MAX_STALE_MS = 5 * 60_000;

/**
 * Wraps `compute` (run at a time from `clock`) as a shared, stale-while-revalidate value (see
 * STATS_TTL_MS); a failed recomputation is not kept.
 */
export function staleWhileRevalidate<T extends { at: Date }>(compute: (at: Date) => Promise<T>, clock: () => number = Date.now): () => Promise<T> {
  let current: T | null = null;
  let refreshing: Promise<T> | null = null;
  const refresh = () => {
    refreshing ??= compute(new Date(clock())).then((value) => {
      current = value;
      return value;
    }).finally(() => {
      refreshing = null;
    });
    return refreshing;
  };
  return async () => {
    const age = current ? clock() - current.at.getTime() : Infinity;
    if (current && age <= STATS_TTL_MS) return current;
    if (current && age <= STATS_MAX_STALE_MS) {
      // Served stale; the recomputation's failure shows on a later request that has to wait for it.
      refresh().catch(() => {});
      return current;
    }
    return refresh();
  };
}

/** Every job's stats over one window, sorted by job name, and when they were computed. */
export interface WindowStats { at: Date; window: StatsWindow; jobs: JobStats[] }

/** Every job's stats by window, each window shared and refreshed on its own (see STATS_TTL_MS). */
export function windowStatsCache(db: Queryable, clock: () => number = Date.now): (window: StatsWindow) => Promise<WindowStats> {
  const windows = new Map<StatsWindow, () => Promise<WindowStats>>();
  return (window) => {
    let cached = windows.get(window);
    if (!cached) {
      cached = staleWhileRevalidate(async (at) => ({ at, window, jobs: await allJobStats(db, { window, now: at }) }), clock);
      windows.set(window, cached);
    }
    return cached();
  };
}
