/** What the child reported through KUBESCRIBE_OUTPUT. */
export interface ChildReport {
  metrics: Record<string, number>;
  outputs: Record<string, unknown>;
  /** One entry per line that could not be understood; they become warning events, never failures. */
  warnings: { line: number; message: string }[];
}

const MAX_WARNINGS = 50;

/** Parses the JSON-lines output file: `{"metric": name, "value": n}` and `{"output": key, "value": any}`. */
export function parseOutputFile(text: string): ChildReport {
  const report: ChildReport = { metrics: {}, outputs: {}, warnings: [] };
  const warn = (line: number, message: string) => {
    if (report.warnings.length < MAX_WARNINGS) report.warnings.push({ line, message });
  };
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (!raw.trim()) return;
    let entry: unknown;
    try {
      entry = JSON.parse(raw);
    } catch {
      warn(line, `not JSON: ${truncate(raw)}`);
      return;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      warn(line, `expected an object like {"metric": "rows", "value": 1}, got ${truncate(raw)}`);
      return;
    }
    const record = entry as Record<string, unknown>;
    if ('metric' in record) {
      if (typeof record.metric !== 'string' || record.metric === '') {
        warn(line, 'metric: expected a non-empty string name');
      } else if (typeof record.value !== 'number' || !Number.isFinite(record.value)) {
        warn(line, `metric ${record.metric}: value must be a finite number, got ${truncate(JSON.stringify(record.value))}`);
      } else {
        report.metrics[record.metric] = record.value;
      }
      return;
    }
    if ('output' in record) {
      if (typeof record.output !== 'string' || record.output === '') {
        warn(line, 'output: expected a non-empty string key');
      } else if (!('value' in record)) {
        warn(line, `output ${record.output}: missing "value"`);
      } else {
        report.outputs[record.output] = record.value;
      }
      return;
    }
    warn(line, `expected a "metric" or "output" key, got ${truncate(raw)}`);
  });
  return report;
}

function truncate(text: string | undefined, max = 120): string {
  const value = text ?? 'undefined';
  return value.length > max ? `${value.slice(0, max)}…` : value;
}
