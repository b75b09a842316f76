// What the files of `kubescribe run`'s bundle (dist/run-bundle/, scripts/build-run-bundle.mjs) hold, so a
// test that records which files a process loaded can say which modules those were: each bundle file
// becomes the dist/ (or node_modules/) URLs of the modules in it, as if they had loaded one by one.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './cli.ts';

const BUNDLE_DIR = new URL('dist/run-bundle/', pathToFileURL(REPO_ROOT)).href;

let contents: Record<string, string[]> | null = null;

/** `urls` with every bundle file replaced by the modules it holds (src/x.ts as dist/x.js). */
export function expandRunBundle(urls: readonly string[]): string[] {
  return urls.flatMap((url) => {
    if (!url.startsWith(BUNDLE_DIR)) return [url];
    contents ??= JSON.parse(readFileSync(new URL('modules.json', BUNDLE_DIR), 'utf8')) as Record<string, string[]>;
    const inputs = contents[url.slice(BUNDLE_DIR.length)];
    if (!inputs) throw new Error(`${url} is not a file of the run bundle (dist/run-bundle/modules.json)`);
    return inputs.map((input) => new URL(input.replace(/^src\/(.*)\.ts$/, 'dist/$1.js'), pathToFileURL(REPO_ROOT)).href);
  });
}
