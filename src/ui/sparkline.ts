// A duration sparkline as plain numbers for an inline SVG drawn by the server (views/partials/
// sparkline.eta): one bar per run, oldest on the left, height by duration, colour by outcome.
import { runDurationMs } from '../runlog/run-duration.ts';
import type { RunRecord } from '../runlog/types.ts';
import { formatMs } from './format.ts';

export interface Sparkline {
  width: number;
  height: number;
  bars: { x: number; y: number; width: number; height: number; className: string; title: string }[];
  /** What the picture says, for a screen reader. */
  label: string;
}

const BAR = 6;
const GAP = 2;
const HEIGHT = 24;

/** The sparkline of these runs (newest first, as lists return them); null when none has a duration. */
export function sparkline(runs: readonly Pick<RunRecord, 'status' | 'started_at' | 'finished_at' | 'run_number'>[]): Sparkline | null {
  const timed = runs
    .map((run) => ({ run, ms: runDurationMs(run) }))
    .filter((entry): entry is { run: (typeof runs)[number]; ms: number } => entry.ms !== null)
    .reverse();
  if (timed.length === 0) return null;
  const longest = Math.max(1, ...timed.map((entry) => entry.ms));
  const bars = timed.map(({ run, ms }, i) => {
    const height = Math.max(2, Math.round((ms / longest) * HEIGHT));
    const className = run.status === 'succeeded' ? 'bar-succeeded' : ['failed', 'timed_out', 'lost'].includes(run.status) ? 'bar-failed' : 'bar-other';
    return { x: i * (BAR + GAP), y: HEIGHT - height, width: BAR, height, className, title: `#${run.run_number}: ${formatMs(ms)} (${run.status})` };
  });
  const durations = timed.map((entry) => entry.ms);
  return {
    width: timed.length * (BAR + GAP) - GAP,
    height: HEIGHT,
    bars,
    label: `Durations of the last ${timed.length} finished runs, oldest first: shortest ${formatMs(Math.min(...durations))}, longest ${formatMs(Math.max(...durations))}, latest ${formatMs(durations[durations.length - 1]!)}`,
  };
}
