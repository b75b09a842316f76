// `npm install` must not print EBADENGINE on any Node version the README promises: every package in
// the lockfile has to support the whole range of our own `engines.node`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import semver from 'semver';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
  packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean; os?: string[] }>;
};

test('every locked package supports every Node version our engines field promises', () => {
  const ours = pkg.engines.node;
  const refusing = Object.entries(lock.packages)
    .filter(([path]) => path !== '')
    .flatMap(([path, entry]) => {
      const range = !Array.isArray(entry.engines) ? entry.engines?.node : undefined;
      if (!range || semver.subset(ours, range)) return [];
      return [`${path.replace(/^node_modules\//, '')} needs node ${range}`];
    });
  assert.deepEqual(refusing, [], `packages that would print EBADENGINE for node ${ours}`);
});

test('the running Node is one our engines field promises (CI runs Node 20 and 24)', () => {
  assert.ok(semver.satisfies(process.version, pkg.engines.node), `${process.version} is outside ${pkg.engines.node}`);
});
