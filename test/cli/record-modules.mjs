// Preloaded with `node --import` to record every module a process resolves, one URL a line, into
// the file named by KUBESCRIBE_RECORD_MODULES: how the start-up test and bench/cli-startup.ts see
// what a command loads. Resolve hooks run on their own thread, so they append to a file rather than
// keep a list in memory the process could read.
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

const file = process.env.KUBESCRIBE_RECORD_MODULES;

if (isMainThread && file) register(import.meta.url);

/** Passes every resolution through and records the URL it resolved to. */
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (file) appendFileSync(file, `${result.url}\n`);
  return result;
}
