// Preloaded with `node --import` to record every module a process resolves, one URL a line, into
// the file named by KUBESCRIBE_RECORD_MODULES: how the start-up test and bench/cli-startup.ts see
// what a command loads. Resolve hooks run on their own thread, so they append to a file rather than
// keep a list in memory the process could read. Files loaded with require() (the bundled `kubescribe
// run`, CommonJS packages) do not pass the ESM hooks: they are recorded from Module._load, as file URLs.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';

const file = process.env.KUBESCRIBE_RECORD_MODULES;

if (isMainThread && file) {
  register(import.meta.url);
  const load = Module._load;
  Module._load = function recordedLoad(request, parent, isMain) {
    const exports = load.call(this, request, parent, isMain);
    if (!Module.isBuiltin(request)) appendFileSync(file, `${pathToFileURL(Module._resolveFilename(request, parent, isMain)).href}\n`);
    return exports;
  };
}

/** Passes every resolution through and records the URL it resolved to. */
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (file) appendFileSync(file, `${result.url}\n`);
  return result;
}
