// The stats window a page shows (`?window=24h|7d|30d|90d`, the stats module's windows) and its
// chooser's links: the job page and the reports page read and offer it the same way.
import { STATS_WINDOWS, type StatsWindow } from '../reports/stats.ts';
import { UiError } from './ui-errors.ts';

/** What `kubescribe report` and GET /stats default to. */
const DEFAULT_WINDOW: StatsWindow = '30d';

/** The query-string schema of a page with a window chooser: loose, so readWindow can say what is wrong in words. */
export const WindowQuery = { type: 'object', properties: { window: { type: 'string', maxLength: 20 } } } as const;

/** `?window=`: one of STATS_WINDOWS (default 30d), else a 400 page naming them. */
export function readWindow(value: string | undefined): StatsWindow {
  if (value === undefined || value === '') return DEFAULT_WINDOW;
  if ((STATS_WINDOWS as readonly string[]).includes(value)) return value as StatsWindow;
  throw new UiError(400, 'Unknown window', `The window ${JSON.stringify(value)} is not one of ${STATS_WINDOWS.join(', ')}.`);
}

/** The chooser's links: each window of STATS_WINDOWS on `path`, the shown one marked. */
export function windowLinks(path: string, current: StatsWindow): { window: StatsWindow; href: string; current: boolean }[] {
  return STATS_WINDOWS.map((window) => ({ window, href: `${path}?window=${window}`, current: window === current }));
}
