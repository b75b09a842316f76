// `kubescribe run` parses a plain command line without commander (src/cli/run-argv.ts), from the same
// option table commander's command is built from (src/cli/run-spec.ts). These tests hold the two to one
// answer: every plain form parses to what commander gives, and help and every bad input go to commander,
// so they read exactly as through the full CLI, both entries of `run` and the single-file runner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { rootCommand } from '../../src/cli/cli-root.ts';
import type { CliContext } from '../../src/cli/context.ts';
import { main } from '../../src/cli/main.ts';
import { parseRunArgs } from '../../src/cli/run-argv.ts';
import { runWithCommander } from '../../src/cli/run-commander.ts';
import { runMain } from '../../src/cli/run-main.ts';
import { registerRunCommand } from '../../src/cli/run-options.ts';
import { RUN_OPTIONS } from '../../src/cli/run-spec.ts';
import { runnerMain } from '../../src/cli/runner-main.ts';
import { readEnvironment } from '../../src/config/environment.ts';
import { TRIGGERS } from '../../src/runlog/types.ts';

interface Captured {
  ctx: CliContext;
  out: () => string;
  err: () => string;
}

/** A context whose stdout and stderr are captured, in a home of its own, with no RunLog configured. */
function captured(home: string, env: Record<string, string> = {}): Captured {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]) => new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      into.push(chunk.toString());
      callback();
    },
  });
  const base = { ...process.env };
  for (const name of Object.keys(base)) {
    if (name.startsWith('KUBESCRIBE_') || name === 'DATABASE_URL') delete base[name];
  }
  const ctx: CliContext = {
    env: readEnvironment({ ...base, KUBESCRIBE_HOME: home, KUBESCRIBE_CONFIG: join(home, 'none.yaml'), ...env }, home),
    stdout: sink(out),
    stderr: sink(err),
  };
  return { ctx, out: () => out.join(''), err: () => err.join('') };
}

/** What commander makes of `kubescribe run <args>`: the command and the options its action receives. */
async function commanderParse(args: string[], home: string): Promise<{ command: string[]; options: Record<string, unknown> }> {
  const { ctx } = captured(home);
  const program = rootCommand(ctx);
  let seen: { command: string[]; options: Record<string, unknown> } | null = null;
  registerRunCommand(program, ctx, () => {}).action((command: string[], options: Record<string, unknown>) => {
    seen = { command, options: { ...options } };
  });
  await program.parseAsync(['node', 'kubescribe', 'run', ...args]);
  assert.ok(seen, `commander ran no action for run ${args.join(' ')}`);
  return seen;
}

function withHome<T>(fn: (home: string) => Promise<T>): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), 'ks-run-argv-'));
  return fn(home).finally(() => rmSync(home, { recursive: true, force: true }));
}

// The forms job entrypoints and people write; each must take the fast path and match commander exactly.
const PLAIN: string[][] = [
  [],
  ['--', 'true'],
  ['-q', '--', 'true'],
  ['true'],
  ['help'],
  ['--job', 'report', '-p', 'a=1', '-p', 'b=2', '--param=c=3', '--', 'python3', '-u', 's.py'],
  ['-j', 'x', '-f', 'k.yaml', '--', 'true'],
  ['--job=x', 'echo', '-p', 'z', '--job', 'y'],
  ['-q', 'sh', '-c', 'echo -q'],
  ['--timeout', '15m', '--grace=5s', '--heartbeat', '1s', '--log-cap', '10MB', '--flush-timeout', '2s', '--', 'sh'],
  ['--job', 'a', '--job', 'b', '--timeout', '1m', '--timeout', '2m', '--', 'x'],
  ['--run-id', '0190a5c4-0000-7000-8000-000000000001', '--triggered-by', 'cron@host', '--', 'true'],
  ['--', '--', 'x'],
  ['--', '-q', '--job', 'x'],
  ['echo', '--', 'x'],
  ['-', 'x'],
  ['--job', '', '--', 'true'],
  ['--job=', '--quiet', 'true'],
  ['--param', 'x=--y', '--', 'true'],
  ['--job=a=b', 'true'],
  ['', 'x'],
  ['-q', '--', ''],
  ...TRIGGERS.map((trigger) => ['--trigger', trigger, '--', 'true']),
];

test('every plain `run` command line parses without commander to exactly what commander gives', async () => {
  await withHome(async (home) => {
    for (const args of PLAIN) {
      const fast = parseRunArgs(args);
      assert.ok(fast, `run ${JSON.stringify(args)} took commander's path`);
      assert.deepEqual({ command: fast.command, options: { ...fast.options } }, await commanderParse(args, home), `run ${JSON.stringify(args)}`);
    }
  });
});

test('repeated -p keeps every value in order, durations and sizes are parsed, the last of a repeated option wins', () => {
  const parsed = parseRunArgs(['-p', 'a=1', '--param', 'b=2', '--param=c=3', '--timeout', '1m', '--timeout=90s', '--log-cap', '1KB', '--', 'cmd', '-p', 'd=4']);
  assert.ok(parsed);
  assert.deepEqual(parsed.options.param, ['a=1', 'b=2', 'c=3']);
  assert.equal(parsed.options.timeout, 90_000);
  assert.equal(parsed.options.logCap, 1024);
  assert.deepEqual(parsed.command, ['cmd', '-p', 'd=4']);
});

// Help, errors and the rarer forms: the fast path declines and commander answers.
const FOR_COMMANDER: string[][] = [
  ['--help'],
  ['-h'],
  ['--version'],
  ['-V'],
  ['--bogus', '--', 'true'],
  ['-x', 'true'],
  ['--timeout', '5x', '--', 'true'],
  ['--grace=', '--', 'true'],
  ['--log-cap', 'lots', '--', 'true'],
  ['--trigger', 'nope', '--', 'true'],
  ['--job'],
  ['--job', '-q', '--', 'true'],
  ['--quiet=yes', '--', 'true'],
  ['-qj', 'x', '--', 'true'],
  ['-jx', '--', 'true'],
  ['--jo', 'x', '--', 'true'],
  ['-p', '--', 'true'],
  ['--job', '--', 'true'],
  ['-q=1', '--', 'true'],
];

test('help and every bad or unusual command line go to commander', () => {
  for (const args of FOR_COMMANDER) assert.equal(parseRunArgs(args), null, `run ${JSON.stringify(args)} took the fast path`);
});

test('commander still reads the forms the fast path leaves to it (grouped and attached short flags)', async () => {
  await withHome(async (home) => {
    assert.deepEqual(await commanderParse(['-qj', 'x', '--', 'true'], home), { command: ['true'], options: { param: [], quiet: true, job: 'x' } });
    assert.deepEqual(await commanderParse(['-jx', '--', 'true'], home), { command: ['true'], options: { param: [], job: 'x' } });
  });
});

// Exits with a usage error or help before anything runs: safe to call in this process.
const ANSWERED: string[][] = FOR_COMMANDER.filter((args) => !['-qj', '-jx', '--jo', '-p', '-q=1'].includes(args[0]!) && !(args[0] === '--job' && args[1]?.startsWith('-')));

test('help and errors of `run` read the same through its own entry, the full CLI and the single-file runner', async () => {
  await withHome(async (home) => {
    for (const args of ANSWERED) {
      const argv = ['node', 'kubescribe', 'run', ...args];
      const own = captured(home);
      const full = captured(home);
      const runner = captured(home, { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
      const codes = [await runMain(argv, own.ctx), await main(argv, full.ctx), await runnerMain(argv, runner.ctx)];
      const what = `run ${JSON.stringify(args)}`;
      assert.equal(codes[0], codes[1], what);
      assert.equal(own.out(), full.out(), what);
      assert.equal(own.err(), full.err(), what);
      assert.ok(own.out() !== '' || own.err() !== '', `${what} said nothing`);
      assert.equal(codes[2], codes[0], `${what}: the single-file runner`);
      // The single-file runner's root has another description; `run`'s help and errors are the same.
      if (args[0] !== '--version' && args[0] !== '-V') {
        assert.equal(runner.out(), own.out(), `${what}: the single-file runner`);
        assert.equal(runner.err(), own.err(), `${what}: the single-file runner`);
      }
    }
  });
});

test('help lists every option of the table, as commander formats it', async () => {
  await withHome(async (home) => {
    const { ctx, out } = captured(home);
    assert.equal(await runMain(['node', 'kubescribe', 'run', '--help'], ctx), 0);
    for (const spec of RUN_OPTIONS) assert.ok(out().includes(spec.flags), `help lacks ${spec.flags}`);
    // Commander wraps descriptions to the terminal's width: compared with whitespace collapsed.
    const help = out().replace(/\s+/g, ' ');
    assert.ok(help.includes('--trigger <trigger> what started this run (choices: "schedule", "manual", "api", "retry", "chain")'), help);
    assert.ok(help.includes('-p, --param <key=value> a run param, repeatable; validated against the job\'s params schema (default: [])'), help);
  });
});

test('an error after a fast parse reads as it does through commander', async () => {
  await withHome(async (home) => {
    const argv = ['node', 'kubescribe', 'run', '-q', '-f', join(home, 'missing.yaml'), '--', 'true'];
    assert.ok(parseRunArgs(argv.slice(3)));
    const fast = captured(home);
    const slow = captured(home);
    const codes = [await runMain(argv, fast.ctx), await runWithCommander(argv, slow.ctx)];
    assert.equal(codes[0], codes[1]);
    assert.notEqual(codes[0], 0);
    assert.match(fast.err(), /missing\.yaml/);
    assert.equal(fast.err(), slow.err());
  });
});

test('the single-file runner refuses the embedded RunLog on the fast path as through commander', async () => {
  await withHome(async (home) => {
    const fast = captured(home);
    const slow = captured(home);
    const codes = [
      await runnerMain(['node', 'kubescribe', 'run', '-q', '--', 'true'], fast.ctx),
      await runnerMain(['node', 'kubescribe', 'run', '-qj', 'x', '--', 'true'], slow.ctx),
    ];
    assert.deepEqual(codes, [2, 2]);
    assert.match(fast.err(), /^kubescribe: this single-file runner records through the KubeScribe API/);
    assert.equal(fast.err(), slow.err());
  });
});
