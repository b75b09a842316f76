// The files of the runner protocol (docs/helpers.md): the output file the command appends metrics and
// outputs to, and the params file when the params are too large for an environment variable.
import { mkdtempSync, rmSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Linux refuses to exec with one environment string over 128 KiB (MAX_ARG_STRLEN, E2BIG), and all of
// them together count against ARG_MAX (2 MiB by default): params above 64 KiB go in a file instead
// (KUBESCRIBE_PARAMS_FILE), leaving room for the job's own variables.
export const MAX_PARAMS_ENV_BYTES = 64 * 1024;

/** One run's protocol files and the variables that name them; `remove()` once the run is recorded. */
export interface ProtocolFiles {
  /** KUBESCRIBE_RUN_ID, KUBESCRIBE_JOB, KUBESCRIBE_OUTPUT, and KUBESCRIBE_PARAMS or KUBESCRIBE_PARAMS_FILE. */
  env: Record<string, string>;
  outputFile: string;
  remove(): void;
}

/** Creates the run's private directory with its (empty) output file and, for large params, the params file. */
export function createProtocolFiles(runId: string, job: string, params: Record<string, unknown>): ProtocolFiles {
  const dir = mkdtempSync(join(tmpdir(), 'kubescribe-'));
  const outputFile = join(dir, 'output.jsonl');
  writeFileSync(outputFile, '');
  const paramsJson = JSON.stringify(params);
  const env: Record<string, string> = { KUBESCRIBE_RUN_ID: runId, KUBESCRIBE_JOB: job, KUBESCRIBE_OUTPUT: outputFile };
  const files = [outputFile];
  if (Buffer.byteLength(paramsJson) <= MAX_PARAMS_ENV_BYTES) {
    env.KUBESCRIBE_PARAMS = paramsJson;
  } else {
    env.KUBESCRIBE_PARAMS_FILE = join(dir, 'params.json');
    writeFileSync(env.KUBESCRIBE_PARAMS_FILE, paramsJson, { mode: 0o600 });
    files.push(env.KUBESCRIBE_PARAMS_FILE);
  }
  return { env, outputFile, remove: () => removeDirectory(dir, files) };
}

// The files we made, then the directory: two system calls. Node 20's rmSync({ recursive }) walks the
// directory in JavaScript (lstat, rmdir, readdir, unlink, rmdir), a few ms of every run's start-up
// on a loaded machine; it is still the way out when the command left files of its own there.
function removeDirectory(dir: string, files: string[]): void {
  try {
    for (const file of files) unlinkSync(file);
    rmdirSync(dir);
  } catch {
    rmSync(dir, { recursive: true, force: true });
  }
}
