// A job's finished runs per day (or hour) as plain numbers for an inline SVG drawn by the server
// (views/partials/bar-chart.eta): one column per bucket, oldest on the left, its height by the
// bucket's runs, the failed part stacked on top in the failure colour, and each column's words in a
// <title>. The buckets are the stats module's (jobStats with `bucket`), so the chart and the API agree.
import type { JobStats } from '../reports/stats.ts';
import { formatMs, formatTime } from './format.ts';

export interface BarChart {
  width: number;
  height: number;
  bars: { x: number; y: number; width: number; height: number; className: string }[];
  /** One transparent column per bucket, full height, carrying its words: what a pointer hovers. */
  columns: { x: number; width: number; title: string }[];
  /** What the picture says, for a screen reader. */
  label: string;
}

const HEIGHT = 48;
const GAP = 1;
// A 24-bucket chart gets wide bars, a 90-bucket one narrow ones: about the same width on the page.
const TARGET_WIDTH = 360;

type Buckets = NonNullable<JobStats['buckets']>;

/** The runs-per-bucket chart of these buckets (oldest first); null when there are none. */
export function runsChart(buckets: Buckets, width: '1h' | '1d'): BarChart | null {
  if (buckets.length === 0) return null;
  const bar = Math.max(2, Math.floor(TARGET_WIDTH / buckets.length) - GAP);
  const most = Math.max(1, ...buckets.map((bucket) => bucket.runs));
  const scale = (n: number) => (n === 0 ? 0 : Math.max(1, Math.round((n / most) * HEIGHT)));
  const bars: BarChart['bars'] = [];
  const columns: BarChart['columns'] = [];
  buckets.forEach((bucket, i) => {
    const x = i * (bar + GAP);
    const total = scale(bucket.runs);
    const failed = Math.min(total, scale(bucket.failed));
    // Cancelled runs are neither: they count in the column's height, in the neutral colour.
    const succeeded = Math.min(total - failed, scale(bucket.succeeded));
    const other = total - failed - succeeded;
    let y = HEIGHT;
    for (const [h, className] of [[succeeded, 'bar-succeeded'], [other, 'bar-other'], [failed, 'bar-failed']] as const) {
      if (h === 0) continue;
      y -= h;
      bars.push({ x, y, width: bar, height: h, className });
    }
    const when = width === '1d' ? formatTime(bucket.start).slice(0, 10) : formatTime(bucket.start);
    const p95 = bucket.p95_duration_seconds === null ? '' : `, p95 ${formatMs(bucket.p95_duration_seconds * 1000)}`;
    columns.push({ x, width: bar, title: `${when}: ${bucket.runs} run${bucket.runs === 1 ? '' : 's'}, ${bucket.failed} failed${p95}` });
  });
  const runs = buckets.reduce((sum, bucket) => sum + bucket.runs, 0);
  const failed = buckets.reduce((sum, bucket) => sum + bucket.failed, 0);
  const busiest = buckets.reduce((best, bucket) => (bucket.runs > best.runs ? bucket : best), buckets[0]!);
  const unit = width === '1d' ? 'day' : 'hour';
  return {
    width: buckets.length * (bar + GAP) - GAP,
    height: HEIGHT,
    bars,
    columns,
    label: `Finished runs per ${unit} over ${buckets.length} ${unit}s, oldest first: ${runs} runs, ${failed} failed`
      + (runs > 0 ? `; most in one ${unit}: ${busiest.runs}` : ''),
  };
}
