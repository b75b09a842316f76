// What the files of the CLI's bundles hold (`kubescribe run`'s, dist/run-bundle/, scripts/build-run-bundle.mjs;
// every other command's, dist/cli-bundle/, scripts/build-cli-bundle.mjs), so a test that records which files a
// process loaded can say which modules those were: each bundle file becomes the dist/ (or node_modules/)
// URLs of the modules in it, as if they had loaded one by one.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './cli.ts';

const BUNDLE_DIRS = ['dist/run-bundle/', 'dist/cli-bundle/'].map((dir) => new URL(dir, pathToFileURL(REPO_ROOT)).href);

const contents = new Map<string, Record<string, string[]>>();

/** `urls` with every file of a bundle replaced by the modules it holds (src/x.ts as dist/x.js). */
export function expandRunBundle(urls: readonly string[]): string[] {
  return urls.flatMap((url) => {
    const dir = BUNDLE_DIRS.find((bundle) => url.startsWith(bundle));
    if (!dir) return [url];
    let files = contents.get(dir);
    if (!files) {
      files = JSON.parse(readFileSync(new URL('modules.json', dir), 'utf8')) as Record<string, string[]>;
      contents.set(dir, files);
    }
    const inputs = files[url.slice(dir.length)];
    if (!inputs) throw new Error(`${url} is not a file of its bundle (${dir}modules.json)`);
    return inputs.map((input) => new URL(input.replace(/^src\/(.*)\.ts$/, 'dist/$1.js'), pathToFileURL(REPO_ROOT)).href);
  });
}
