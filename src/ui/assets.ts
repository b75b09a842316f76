// The UI's static files, each served at /ui/assets/<content hash>/<name> with a year-long immutable
// cache: a changed file gets a new URL, so no browser ever runs yesterday's script with today's page.
// Ours come from src/ui/assets (dist/ui/assets once built); htmx and its SSE extension from
// node_modules. No CDN: the UI works on a machine without internet access.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Asset {
  name: string;
  hash: string;
  contentType: string;
  body: Buffer;
}

const require = createRequire(import.meta.url);
const OWN = (name: string) => fileURLToPath(new URL(`./assets/${name}`, import.meta.url));

// Served names and where each file is read from.
const SOURCES: Record<string, () => string> = {
  'kubescribe.css': () => OWN('kubescribe.css'),
  'kubescribe.js': () => OWN('kubescribe.js'),
  // The run page and the trigger form (ui-run).
  'run.css': () => OWN('run.css'),
  'run-log.js': () => OWN('run-log.js'),
  'htmx.min.js': () => require.resolve('htmx.org/dist/htmx.min.js'),
  'sse.min.js': () => require.resolve('htmx-ext-sse/dist/sse.min.js'),
};

const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

/** Reads every asset once (they are small: htmx is ~50 KB) and hashes it. */
export function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [name, source] of Object.entries(SOURCES)) {
    const body = readFileSync(source());
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
    assets.set(name, { name, hash, body, contentType: TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream' });
  }
  return assets;
}

/** The URL a page links for an asset. */
export function assetPath(asset: Asset): string {
  return `/ui/assets/${asset.hash}/${asset.name}`;
}
