/** A run's params failed the job's schema; `issues` name each param and rule. */
export class InvalidParamsError extends Error {
  constructor(
    readonly job: string,
    readonly issues: { param: string; message: string }[],
  ) {
    super(`invalid params for job ${job}: ${issues.map((issue) => `${issue.param}: ${issue.message}`).join('; ')}`);
    this.name = 'InvalidParamsError';
  }
}

/** Parses repeated `-p key=value` options into an object of strings (the schema coerces types). */
export function parseParamOptions(pairs: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`-p ${pair}: expected key=value, e.g. -p input=data.csv`);
    params[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return params;
}
