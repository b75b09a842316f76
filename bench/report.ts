// What the benchmarks share: option errors, output (results on stdout, progress on stderr, so
// `npm run bench > results.txt` keeps just the results), tables, quantiles, cleanup on every exit, and
// whether PostgreSQL answers.
import pg from 'pg';

/** Bad command-line options: the bench prints the message and its usage. */
export class UsageError extends Error {}
/** A measurement could not be taken: the bench cannot report its figure, so it exits non-zero. */
export class MeasurementError extends Error {}

/** A result line on stdout. */
export const out = (line = '') => process.stdout.write(`${line}\n`);
/** A progress line on stderr. */
export const progress = (line: string) => process.stderr.write(`  … ${line}\n`);

/** An aligned, indented text table with a rule under the headers. */
export function table(headers: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (rightAlign[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

/** A ratio to two decimals, or n/a. */
export const ratio = (value: number | null) => (value === null || !Number.isFinite(value) ? 'n/a' : value.toFixed(2));

/** The q-quantile with linear interpolation; NaN for no values. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Reads a numeric option within [min, max], or the fallback when absent. */
export function numberOption(name: string, raw: string | undefined, fallback: number, min: number, max: number, integer = true): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    throw new UsageError(`--${name}: expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${raw}`);
  }
  return value;
}

/** What a benchmark undoes at its end: functions run newest first. */
export type Cleanups = Array<() => Promise<unknown>>;

/**
 * Runs a benchmark so that what it set up is undone whatever happens — at its end, when it fails,
 * and on SIGINT/SIGTERM (a million-run seed left behind costs the next run its disk) — and reports a
 * failure as one line (a stack only for an unexpected error). Returns the exit code.
 */
export async function runWithCleanups(bench: (cleanups: Cleanups) => Promise<number>): Promise<number> {
  const cleanups: Cleanups = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (error) {
        process.stderr.write(`bench: cleanup: ${(error as Error).message}\n`);
      }
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\nbench: ${signal}: cleaning up\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await bench(cleanups);
  } catch (error) {
    const known = error instanceof MeasurementError || error instanceof UsageError;
    process.stderr.write(`\nbench: measurement failed: ${known ? (error as Error).message : ((error as Error).stack ?? String(error))}\n`);
    return 1;
  } finally {
    await cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** Whether PostgreSQL at `url` accepts a connection within 2 s (a bench skips its PostgreSQL rows if not). */
export async function postgresReachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}
