// builtinModule(): Node's own modules as CommonJS objects, through process.getBuiltinModule() where
// Node has it (20.16+, 22.3+) and require() where it does not (22.0-22.2, which the engines field admits).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import util from 'node:util';
import { builtinModule } from '../../src/util/builtin-module.ts';

test('gives the built-in module itself, with and without process.getBuiltinModule', () => {
  assert.equal(builtinModule('node:util').parseArgs, util.parseArgs);
  const own = process.getBuiltinModule;
  try {
    (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
    assert.equal(builtinModule('node:util').parseArgs, util.parseArgs);
  } finally {
    process.getBuiltinModule = own;
  }
});
