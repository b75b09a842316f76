// The one rule for job names, shared by kubescribe.yaml, the runner's --job and everything that names
// a job: it is a Kubernetes object name, a file-system-safe word and a label value at once.

/** A CronJob's name must leave room for the 11-character suffix Kubernetes adds to its Jobs' names. */
export const MAX_JOB_NAME = 52;
const JOB_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// A name in a message is cut here: a 5,000-character name would otherwise flood the terminal.
const SHOWN_CHARS = 60;

/** Why `name` cannot be a job name, as a sentence naming the value and the rule, or null when it can. */
export function jobNameProblem(name: string): string | null {
  if (JOB_NAME.test(name) && name.length <= MAX_JOB_NAME) return null;
  return `invalid job name ${showName(name)}: use lowercase letters, digits and "-", `
    + `starting and ending with a letter or digit, at most ${MAX_JOB_NAME} characters`;
}

/** A name as it appears in a message: JSON-quoted (control characters escaped) and cut to a readable length. */
function showName(name: string): string {
  const quoted = name.length > SHOWN_CHARS ? `${JSON.stringify(name.slice(0, SHOWN_CHARS)).slice(0, -1)}…"` : JSON.stringify(name);
  return name.length > SHOWN_CHARS ? `${quoted} (${name.length} characters)` : quoted;
}
