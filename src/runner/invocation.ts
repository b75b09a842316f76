// What a `kubescribe run` invocation asks for, checked before anything is recorded: a bad job name,
// run id or -p is a usage error (exit 2) that changes nothing.
import type { JobDefinition, KubescribeConfig } from '../config/job-definition.ts';
import { jobNameProblem } from '../config/job-name.ts';
import { isUuid } from '../runlog/uuidv7.ts';
import { parseParamOptions } from './params.ts';

/**
 * The job of every run given no job (no --job, no KUBESCRIBE_JOB): one clearly ad-hoc job, so that
 * `kubescribe run -- true` does not leave a permanent job named `true` in the jobs list.
 */
export const ADHOC_JOB = 'adhoc';

/** The invocation as given: the command after `--`, --job, --run-id, the -p pairs, the config. */
export interface InvocationInput {
  command: string[];
  job: string | null;
  runId: string | null;
  params: string[];
  config: KubescribeConfig;
}

/** A checked invocation: the job (declared or not), the command to run, the -p params. */
export interface Invocation {
  job: string;
  definition: JobDefinition | undefined;
  command: string[];
  cliParams: Record<string, string>;
}

/** Checks an invocation; a problem is one line naming the option at fault. */
export function checkInvocation(input: InvocationInput): Invocation | { problem: string } {
  const file = input.config.file ?? 'kubescribe.yaml';
  const definition = input.job ? input.config.jobs.get(input.job) : undefined;
  const command = input.command.length > 0 ? input.command : (definition?.command ?? []);
  if (command.length === 0) {
    return {
      problem: input.job
        ? `job ${input.job} is not declared in ${file} and no command was given after --`
        : 'no command: give one after --, e.g. kubescribe run --job report -- python3 script.py',
    };
  }
  if (input.job === null && input.config.jobs.has(ADHOC_JOB)) {
    // The declared job's definition would not apply to a command run without --job: two kinds of runs under one name.
    return { problem: `--job: no job given, and ${file} declares a job named ${ADHOC_JOB}, the name of ad-hoc runs; give --job` };
  }
  const job = input.job ?? ADHOC_JOB;
  // The name becomes a row, a label and part of file and Kubernetes names: the config's rule applies.
  const badName = jobNameProblem(job);
  if (badName) return { problem: `--job: ${badName}` };
  if (input.runId !== null && !isUuid(input.runId)) return { problem: `--run-id ${input.runId}: expected a UUID` };
  try {
    return { job, definition, command, cliParams: parseParamOptions(input.params) };
  } catch (error) {
    return { problem: (error as Error).message };
  }
}
