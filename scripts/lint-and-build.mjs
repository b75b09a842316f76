// `npm test`'s first step: the type check (tsc --noEmit over src, test, bench, scripts) and the build
// (tsc over src into dist/, which the tests run as `kubescribe`) side by side. Each is one
// single-threaded tsc of ~10-16 s of CPU; one after the other they left a core idle for half a minute.
import { spawn } from 'node:child_process';

const npm = process.env.npm_execpath;
const run = (script) => new Promise((resolve) => {
  // Through npm, as `npm run lint` and `npm run build` would run them, output and all.
  const child = npm
    ? spawn(process.execPath, [npm, 'run', '--silent', script], { stdio: 'inherit' })
    : spawn('npm', ['run', '--silent', script], { stdio: 'inherit' });
  child.once('error', (error) => {
    console.error(`lint-and-build: npm run ${script}: ${error.message}`);
    resolve(1);
  });
  child.once('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});

const [lint, build] = await Promise.all([run('lint'), run('build')]);
if (lint !== 0) console.error(`lint-and-build: npm run lint failed (exit ${lint})`);
if (build !== 0) console.error(`lint-and-build: npm run build failed (exit ${build})`);
process.exit(lint === 0 && build === 0 ? 0 : 1);
