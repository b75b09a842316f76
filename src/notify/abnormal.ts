// "Ran but did nothing": a successful run whose duration or a chosen metric falls outside the job's own
// recent history (below the low or above the high percentile of its last successful runs).
import { formatDuration } from '../config/durations.ts';
import type { AbnormalRule } from '../config/notify-config.ts';

/** One metric outside its usual range. */
export interface AbnormalFinding {
  metric: string;
  /** null: the metric was reported by the history but not by this run. */
  value: number | null;
  low: number;
  high: number;
  samples: number;
  description: string;
}

/** The p-th percentile (0-100) of sorted values, interpolated as PostgreSQL's percentile_cont. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (p / 100) * (sorted.length - 1);
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (position - lower);
}

const show = (metric: string, value: number) => (metric === 'duration' ? formatDuration(value) : String(Math.round(value * 1000) / 1000));

/** The findings for a run against its job's history; empty when normal or the history is too short. */
export function findAbnormal(
  run: { duration_ms: number | null; metrics: Record<string, unknown> },
  history: readonly { duration_ms: number | null; metrics: Record<string, unknown> }[],
  rule: AbnormalRule,
): AbnormalFinding[] {
  const findings: AbnormalFinding[] = [];
  const valueOf = (item: { duration_ms: number | null; metrics: Record<string, unknown> }, metric: string): number | null => {
    const raw = metric === 'duration' ? item.duration_ms : item.metrics?.[metric];
    return typeof raw === 'number' && Number.isFinite(raw) ? raw : null;
  };
  for (const metric of rule.metrics) {
    const values = history.map((item) => valueOf(item, metric)).filter((v): v is number => v !== null).sort((a, b) => a - b);
    if (values.length < rule.min_samples) continue;
    const low = percentile(values, rule.low);
    const high = percentile(values, rule.high);
    const value = valueOf(run, metric);
    const base = { metric, value, low, high, samples: values.length };
    if (value === null) {
      if (metric !== 'duration') findings.push({ ...base, description: `${metric} not reported (the last ${values.length} successful runs reported it)` });
    } else if (value < low) {
      findings.push({ ...base, description: `${metric} ${show(metric, value)} below p${rule.low} (${show(metric, low)}) of the last ${values.length} successful runs` });
    } else if (value > high) {
      findings.push({ ...base, description: `${metric} ${show(metric, value)} above p${rule.high} (${show(metric, high)}) of the last ${values.length} successful runs` });
    }
  }
  return findings;
}
