// The `local:` section of kubescribe.yaml: settings of the local executor (`kubescribe dev`, and
// `kubescribe serve --executor local`). Flags of those commands override what is written here.
import { describeValue } from './durations.ts';
import type { LocalSettings } from './job-definition.ts';
import type { Entry, Reader } from './yaml-reader.ts';

const LOCAL_KEYS = ['max_concurrent_runs'];
// The same bound as the --max-concurrent-runs flag: beyond it the machine, not the setting, is the limit.
const MAX_CONCURRENT_RUNS = 1000;

/** Reads `local:`; problems are reported on the Reader with their lines. */
export function readLocal(r: Reader, e: Entry): LocalSettings {
  const settings: LocalSettings = {};
  for (const entry of r.entries(e.value, e.path, e.line, LOCAL_KEYS) ?? []) {
    const value = r.plain(entry.value);
    if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_CONCURRENT_RUNS) {
      settings.max_concurrent_runs = value;
    } else {
      r.report(entry.line, entry.path, `expected a whole number from 1 to ${MAX_CONCURRENT_RUNS}, got ${describeValue(value)}`);
    }
  }
  return settings;
}
