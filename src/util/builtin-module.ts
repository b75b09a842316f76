// One of Node's own modules as its CommonJS object, without an ES import: on Node 24 an ES import of a
// built-in such as node:util builds its whole namespace, which loads ~30 more of Node's modules
// (worker_threads among them) at every `kubescribe run`. process.getBuiltinModule() is Node 20.16+ and
// 22.3+; the engines field admits 22.0-22.2, where require() does the same.
import { createRequire } from 'node:module';

// Built-ins resolve from any base path (and the run bundle maps this module's own URL to dist/runlog/).
const require = createRequire('/');

/** Node's built-in module `id` (`node:util`, …), loaded as CommonJS. */
export function builtinModule<T extends string>(id: T): T extends keyof BuiltinModules ? BuiltinModules[T] : unknown {
  return (process.getBuiltinModule ? process.getBuiltinModule(id) : require(id)) as never;
}

interface BuiltinModules {
  'node:util': typeof import('node:util');
  'node:perf_hooks': typeof import('node:perf_hooks');
  'node:worker_threads': typeof import('node:worker_threads');
}
