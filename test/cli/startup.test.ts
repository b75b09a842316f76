// The CLI answers at once: the command tree loads no heavy module, and each command loads only its
// own. Asserted on what the process resolves (record-modules.mjs), never on timings, so it holds on
// a loaded machine; bench/cli-startup.ts measures the time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BIN, REPO_ROOT } from '../support/cli.ts';
import { settleFlusher } from '../support/spool-flusher.ts';
import { createTestRunLog, ENGINES } from '../support/runlog-engines.ts';
import { expandRunBundle } from '../support/run-bundle.ts';

const HOOK = new URL('./record-modules.mjs', import.meta.url).href;

// What took ~1 s to load before any command ran (docs/benchmarks.md).
const HEAVY: Record<string, RegExp> = {
  Fastify: /\/node_modules\/fastify\//,
  // From node_modules, or from its bundle in dist/vendor/ (scripts/build-vendor.mjs).
  'the Kubernetes client': /\/node_modules\/@kubernetes\/client-node\/|\/dist\/vendor\/kubernetes-client-node\.js$/,
  TypeBox: /\/node_modules\/typebox\/|\/dist\/vendor\/typebox\.js$/,
  PGlite: /\/node_modules\/@electric-sql\/pglite\//,
  'pg (PostgreSQL driver)': /\/node_modules\/pg\//,
  'the runner': /\/dist\/runner\/runner\.js$/,
  'the server': /\/dist\/(?:server|api)\//,
  'the config parser (yaml, ajv)': /\/node_modules\/(?:yaml|ajv)\//,
  'ajv (params schemas)': /\/node_modules\/ajv\//,
  'nodemailer and the notifiers': /\/node_modules\/nodemailer\/|\/dist\/notify\//,
  'the PostgreSQL engine': /\/dist\/runlog\/pg-engine\.js$/,
  'the PGlite engine': /\/dist\/runlog\/pglite-engine\.js$/,
  // Only a scrape of /metrics loads it (src/api/routes/metrics.ts).
  'prom-client': /\/node_modules\/prom-client\//,
};

/**
 * Runs `kubescribe <args>` and returns every module URL it loaded, and its exit code. A file of
 * `kubescribe run`'s bundle stands for the modules it holds (run-bundle.ts); `files` are the URLs as
 * loaded.
 */
async function loadedBy(args: string[], env: Record<string, string> = {}): Promise<{ modules: string[]; files: string[]; code: number | null; err: string }> {
  const { lines: files, code, err } = await recordedBy(['--import', HOOK], 'KUBESCRIBE_RECORD_MODULES', args, env);
  return { modules: expandRunBundle(files), files, code, err };
}

/**
 * Runs `kubescribe <args>` under a recorder (`preload`, Node options that load it) that writes a line
 * per thing it saw to the file named by `recordVariable`, in a home of its own; returns those lines.
 */
async function recordedBy(preload: string[], recordVariable: string, args: string[], env: Record<string, string>): Promise<{ lines: string[]; code: number | null; err: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'ks-startup-'));
  const record = join(dir, 'recorded.txt');
  try {
    const child = spawn(process.execPath, [...preload, BIN, ...args], {
      cwd: dir,
      env: { ...process.env, KUBESCRIBE_HOME: dir, KUBESCRIBE_SERVER: '', KUBESCRIBE_TOKEN: '', ...env, [recordVariable]: record },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (data: Buffer) => (err += data.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    return { lines: readFileSync(record, 'utf8').split('\n').filter(Boolean), code, err };
  } finally {
    // A run on the embedded RunLog leaves its import to a detached flusher in its home. Through an API
    // there is none: a refused API leaves its spool for a later command, which nothing here waits for.
    if (!env.KUBESCRIBE_API_URL) await settleFlusher(env.KUBESCRIBE_HOME || dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertNoneOf(modules: string[], names: string[], what: string): void {
  // A recorder that recorded nothing would pass everything: it must have seen the CLI itself.
  assert.ok(modules.some((url) => /\/dist\/cli\/(?:main|run-main)\.js$/.test(url)), `${what}: the recorder saw no CLI module`);
  for (const name of names) {
    const hit = modules.find((url) => HEAVY[name]!.test(url));
    assert.equal(hit, undefined, `${what} loaded ${name} (${hit})`);
  }
}

test('kubescribe --help and each command’s help load none of the heavy modules', async () => {
  for (const args of [['--help'], ['runs', '--help'], ['trigger', '--help'], ['run', '--help'], ['dev', '--help'], ['report', '--help']]) {
    const { modules, code } = await loadedBy(args);
    assert.equal(code, 0, args.join(' '));
    assertNoneOf(modules, Object.keys(HEAVY), `kubescribe ${args.join(' ')}`);
  }
});

// The timing marks (src/util/timing.ts) need perf_hooks and worker_threads, a dozen of Node's own
// modules each command compiled at start whether or not it printed a mark.
test('Node’s perf_hooks and worker_threads load only when KUBESCRIBE_TIMING=1 asks for the marks', async () => {
  const preload = fileURLToPath(new URL('./record-builtins.cjs', import.meta.url));
  const builtinsOf = async (args: string[], timingOn: boolean) => {
    const { lines: builtins, code, err } = await recordedBy(['--require', preload], 'KUBESCRIBE_RECORD_BUILTINS', args, { KUBESCRIBE_TIMING: timingOn ? '1' : '' });
    return { code, err, builtins };
  };
  for (const args of [['--help'], ['run', '--help']]) {
    const off = await builtinsOf(args, false);
    assert.equal(off.code, 0, off.err);
    assert.ok(off.builtins.includes('fs'), `kubescribe ${args.join(' ')}: the recorder saw Node's modules`);
    assert.deepEqual(off.builtins.filter((name) => name === 'perf_hooks' || name === 'worker_threads'), [], `kubescribe ${args.join(' ')}`);
    assert.doesNotMatch(off.err, /timing/);
    const on = await builtinsOf(args, true);
    assert.equal(on.code, 0, on.err);
    assert.match(on.err, /^kubescribe: timing \d+\.\d cli loaded$/m, `kubescribe ${args.join(' ')} with KUBESCRIBE_TIMING=1`);
    assert.match(on.err, /^kubescribe: timing \d+\.\d exit$/m);
    assert.ok(on.builtins.includes('perf_hooks'));
  }
});

// bin/kubescribe.js hands `run` to its bundle (scripts/build-run-bundle.mjs, which refuses to bundle
// the server, the Kubernetes client or PGlite): nothing else of dist/ or node_modules loads on the
// runner's thread (PGlite's worker thread loads dist/runlog/pglite-thread.js and PGlite, as before).
// What `kubescribe run -- true` loads on each engine: recorded once per engine, read by the two tests below.
const runLoadsByEngine = new Map<string, ReturnType<typeof loadedBy>>();
function runLoads(engine: (typeof ENGINES)[number]): ReturnType<typeof loadedBy> {
  let loads = runLoadsByEngine.get(engine);
  if (!loads) {
    loads = (async () => {
      const runlog = await createTestRunLog(engine);
      try {
        return await loadedBy(['run', '-q', '--job', 'startup-check', '--', 'true'], runlog.env);
      } finally {
        await runlog.cleanup();
      }
    })();
    runLoadsByEngine.set(engine, loads);
  }
  return loads;
}

for (const engine of ENGINES) {
  test(`kubescribe run on ${engine} loads its bundle and no other module of KubeScribe's or a package's`, async () => {
    const loaded = await runLoads(engine);
    const { files, code, err } = loaded;
    assert.equal(code, 0, err);
    assert.ok(files.some((url) => url.endsWith('/dist/run-bundle/run-main.js')), 'the bundle is what kubescribe run loads');
    const others = files.filter((url) => (/\/dist\//.test(url) && !/\/dist\/run-bundle\//.test(url)) || /\/node_modules\//.test(url));
    assert.deepEqual(others, [], 'kubescribe run loaded modules beside its bundle');
  });
}

test('a usage error answers before anything heavy is loaded', async () => {
  const { modules, code, err } = await loadedBy(['runs', '--since', 'yesterday']);
  assert.equal(code, 2);
  assert.match(err, /--since yesterday: expected a time/);
  assertNoneOf(modules, Object.keys(HEAVY), 'kubescribe runs --since yesterday');
});

test('kubescribe runs and report through the API load no database driver, server or runner', async () => {
  // A port nobody listens on: the command goes all the way to the request, which is refused.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  for (const command of ['runs', 'report']) {
    const { modules, code, err } = await loadedBy([command, '--server', `http://127.0.0.1:${port}`]);
    assert.equal(code, 1);
    assert.match(err, /cannot reach the KubeScribe API/);
    assertNoneOf(modules, Object.keys(HEAVY), `kubescribe ${command} --server`);
  }
});

// Every job's runner starts here, so it loads its own engine and nothing else: PGlite's WebAssembly
// alone costs ~100 ms, pg ~15-40 ms (docs/benchmarks.md). On the embedded RunLog it loads none: it
// writes behind, into its spool, and the detached flusher opens PGlite (src/runner/spool-sink.ts).
const NOT_FOR_THE_RUNNER = ['Fastify', 'the Kubernetes client', 'the server', 'the config parser (yaml, ajv)', 'nodemailer and the notifiers', 'prom-client'];
// A plain `run` command line is parsed with node:util (src/cli/run-argv.ts); commander loads for help and errors only.
const COMMANDER = /\/node_modules\/commander\//;
const OTHER_ENGINE: Record<string, string[]> = {
  pglite: ['pg (PostgreSQL driver)', 'the PostgreSQL engine', 'PGlite', 'the PGlite engine'],
  postgres: ['PGlite', 'the PGlite engine'],
};
for (const engine of ENGINES) {
  test(`kubescribe run on ${engine} loads ${engine === 'pglite' ? 'no database engine (it writes behind)' : 'its own engine only'}, and neither the server nor the Kubernetes client`, async () => {
    const loaded = await runLoads(engine);
    const { modules, code, err } = loaded;
    assert.equal(code, 0, err);
    assert.ok(modules.some((url) => HEAVY['the runner']!.test(url)), 'the runner is what this command loads');
    if (engine === 'postgres') assert.ok(modules.some((url) => HEAVY['the PostgreSQL engine']!.test(url)), 'the PostgreSQL engine is what records the run');
    assertNoneOf(modules, [...NOT_FOR_THE_RUNNER, ...OTHER_ENGINE[engine]!], `kubescribe run -- true on ${engine}`);
    assert.equal(modules.find((url) => COMMANDER.test(url)), undefined, `kubescribe run -- true on ${engine} loaded commander`);
  });
}

// The HTTP client is one module shared by the CLI and the runner (src/api-client/): the runner's API
// sink loads it without any of the CLI's client commands, and the client commands load the same one.
const API_CLIENT = /\/dist\/api-client\/api-client\.js$/;
const CLI_CLIENT_SIDE = /\/dist\/cli\/(?:api-client|api-logs|api-run-source|wait-for-run)\.js$/;

async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('kubescribe run through the API loads the shared API client, no client command and no database engine', async () => {
  const { modules, code, err } = await loadedBy(['run', '-q', '--job', 'startup-check', '--flush-timeout', '1s', '--', 'true'], {
    KUBESCRIBE_API_URL: `http://127.0.0.1:${await refusedPort()}`,
    KUBESCRIBE_TOKEN: 'ksr_startup-check',
    DATABASE_URL: '',
  });
  assert.equal(code, 0, err);
  assert.match(err, /records are kept in/, 'the refused API leaves the records on disk');
  assert.ok(modules.some((url) => API_CLIENT.test(url)), 'the API sink loads the shared client');
  const cliSide = modules.find((url) => CLI_CLIENT_SIDE.test(url));
  assert.equal(cliSide, undefined, `the runner loaded a module of the CLI's client commands (${cliSide})`);
  assertNoneOf(modules, [...NOT_FOR_THE_RUNNER, 'PGlite', 'the PGlite engine', 'pg (PostgreSQL driver)', 'the PostgreSQL engine'], 'kubescribe run through the API');
  assert.equal(modules.find((url) => COMMANDER.test(url)), undefined, 'kubescribe run through the API loaded commander');
});

test('kubescribe runs loads the same shared API client', async () => {
  const { modules, code } = await loadedBy(['runs', '--server', `http://127.0.0.1:${await refusedPort()}`]);
  assert.equal(code, 1);
  assert.ok(modules.some((url) => API_CLIENT.test(url)), 'kubescribe runs loads src/api-client/api-client');
  assert.equal(modules.find((url) => /\/dist\/runner\//.test(url)), undefined, 'kubescribe runs loads nothing of the runner');
});

// serve and dev load the CLI's bundle (scripts/build-cli-bundle.mjs): our modules as a few chunks, and
// TypeBox's ~370 files as one module of dist/vendor/ (scripts/build-vendor.mjs). nodemailer loads at the first email, the Kubernetes client with `executor:
// kubernetes`, prom-client at the first scrape. A RunLog that refuses the connection stops the start
// once every module of the server has loaded, without opening a database.
test('kubescribe serve loads the server from the CLI bundle, and neither nodemailer, the Kubernetes client nor prom-client', async () => {
  const { modules, files, code, err } = await loadedBy(['serve', '--port', '0'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${await refusedPort()}/startup` });
  assert.equal(code, 1, err);
  assert.match(err, /cannot reach the RunLog/);
  for (const module of [/\/dist\/server\/server\.js$/, /\/dist\/api\/routes\/runs-read\.js$/, /\/dist\/ui\/ui-routes\.js$/, /\/dist\/notify\/notifier\.js$/]) {
    assert.ok(modules.some((url) => module.test(url)), `serve loaded no module matching ${module}`);
  }
  assertNoneOf(modules, ['the Kubernetes client', 'prom-client'], 'kubescribe serve');
  assert.equal(modules.find((url) => /\/node_modules\/nodemailer\//.test(url)), undefined, 'kubescribe serve loaded nodemailer before any email');
  const dist = new URL('dist/', pathToFileURL(REPO_ROOT)).href;
  const unbundled = files.filter((url) => (url.startsWith(dist) && !url.startsWith(`${dist}cli-bundle/`) && !url.startsWith(`${dist}vendor/`)) || /\/node_modules\/typebox\//.test(url));
  assert.deepEqual(unbundled, [], 'kubescribe serve loaded modules of ours beside the CLI bundle, or TypeBox beside its vendored bundle');
  assert.ok(files.includes(`${dist}vendor/typebox.js`), 'kubescribe serve loaded TypeBox from dist/vendor/');
});
