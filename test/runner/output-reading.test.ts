// How the runner reads the command's output (docs/runner.md, "How output is read"): into one reused
// buffer per stream, from a socket pair, or from spawn()'s pipes when no pair can be made. Whatever
// keeps the bytes (the log's tail window, the pass-through to a slow reader) must keep a copy: a
// reference to the reused buffer would show later output in place of earlier output.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ENGINES, createTestRunLog, type TestRunLog } from '../support/runlog-engines.ts';
import { BIN, REPO_ROOT, runCli, shellWord } from '../support/cli.ts';
import { uuidv7 } from '../../src/runlog/uuidv7.ts';
import { getRun } from '../../src/runlog/sql/runs.ts';
import { readLogChunks } from '../../src/runlog/sql/run-logs.ts';
import { mergedByStream } from '../support/log-stretches.ts';

const EMIT = join(REPO_ROOT, 'test/fixtures/emit.py');
const CAP = 1024 * 1024;
const BURSTS = 12;
const BURST_BYTES = 300_000;

type Stream = 'stdout' | 'stderr';
interface Stretch { stream: Stream; text: string }

/** emit.py's tagged_line(). */
const taggedLine = (tag: string, n: number) => `${tag} line ${String(n).padStart(9, '0')} ${'x'.repeat(n % 37)}${'é'.repeat(n % 5)}\n`;

/** The bursts emit.py writes for `lines:` actions (line numbers run on across them), in order. */
function bursts(actions: Array<[tag: 'out' | 'err', size: number]>): Array<{ stream: Stream; bytes: Buffer }> {
  let n = 0;
  return actions.map(([tag, size]) => {
    const lines: Buffer[] = [];
    let written = 0;
    while (written < size) {
      const line = Buffer.from(taggedLine(tag, n++));
      lines.push(line);
      written += line.length;
    }
    return { stream: tag === 'out' ? 'stdout' : 'stderr', bytes: Buffer.concat(lines) };
  });
}

/**
 * What a capped log stores of `written`: the first `headBytes` and the last `tailBytes`, as stretches
 * of each stream's text, decoded as one decoder per stream fed every byte in order would.
 */
function expectedLog(written: Array<{ stream: Stream; bytes: Buffer }>, headBytes: number, tailBytes: number): { head: Stretch[]; tail: Stretch[] } {
  const total = written.reduce((sum, burst) => sum + burst.bytes.length, 0);
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  const head: Stretch[] = [];
  const tail: Stretch[] = [];
  let offset = 0;
  for (const { stream, bytes } of written) {
    // The burst's bytes in the head, in the dropped middle and in the tail.
    const cuts = [0, headBytes - offset, total - tailBytes - offset, bytes.length].map((at) => Math.min(bytes.length, Math.max(0, at)));
    const into = [head, null, tail];
    for (let part = 0; part < 3; part++) {
      const text = decoders[stream].write(bytes.subarray(cuts[part]!, cuts[part + 1]!));
      if (into[part] && cuts[part + 1]! > cuts[part]!) into[part]!.push({ stream, text });
    }
    offset += bytes.length;
  }
  return { head: mergedByStream(head) as Stretch[], tail: mergedByStream(tail) as Stretch[] };
}

for (const engine of ENGINES) {
  describe(`kubescribe run reads output into reused buffers (${engine})`, () => {
    let t: TestRunLog;
    let scratch: string;
    before(async () => {
      t = await createTestRunLog(engine);
      scratch = mkdtempSync(join(tmpdir(), 'ks-reading-'));
    });
    after(() => t.cleanup());

    const paths: Array<{ path: string; env: Record<string, string> }> = [
      { path: 'socket pairs', env: {} },
      { path: 'pipes (forced)', env: { KUBESCRIBE_TEST_OUTPUT_PIPES: '1' } },
    ];
    for (const { path, env } of paths) {
      test(`${path}: bursts on both streams past the cap are stored head and tail byte-exact, and passed through byte-exact to slow readers`, async () => {
        const runId = uuidv7();
        const actions = Array.from({ length: BURSTS }, (_, i): ['out' | 'err', number] => [i % 2 ? 'err' : 'out', BURST_BYTES]);
        const written = bursts(actions);
        // Each burst once the runner has read the one before: the order between the two streams is defined.
        const argv = ['python3', EMIT, 'sockname:1', ...actions.flatMap(([tag, size]) => [`lines:${tag}:${size}`, 'drained:5'])];
        const out = join(scratch, `${runId}.out`);
        const err = join(scratch, `${runId}.err`);
        const runner = [process.execPath, BIN, 'run', '-q', '--log-cap', String(CAP), '--run-id', runId, '--', ...argv].map(shellWord).join(' ');
        // Both of the runner's own streams are pipes read only after a second: its writes queue, each
        // holding a copy of a read while later reads reuse the buffer it came from.
        const slow = (file: string) => `{ sleep 1; cat > ${shellWord(file)}; }`;
        const shell = `{ ${runner} 2>&1 1>&3 3>&- | ${slow(err)}; } 3>&1 | ${slow(out)}`;
        const result = await runCli([], { shell, env: { ...t.env, ...env }, timeoutMs: 120_000 });
        assert.equal(result.code, 0, result.err);

        // The path taken: a socket pair's child end was bound to a path in a private directory, removed since.
        const sockname = /^sockname=(.*)\n/.exec(readFileSync(out, 'latin1'))?.[1];
        assert.ok(sockname !== undefined, 'the child printed its stdout socket name');
        if (path === 'socket pairs') {
          assert.match(sockname, /\/kubescribe-out-[^/]+\/0$/);
          assert.equal(existsSync(dirname(sockname)), false, 'the private directory is removed once connected');
        } else {
          assert.equal(sockname, '', 'spawn()\'s pipes are unnamed socket pairs');
        }

        const passedOut = readFileSync(out).subarray(`sockname=${sockname}\n`.length);
        const only = (stream: Stream) => Buffer.concat(written.filter((burst) => burst.stream === stream).map((burst) => burst.bytes));
        assert.ok(passedOut.equals(only('stdout')), 'stdout passed through byte for byte');
        assert.ok(readFileSync(err).equals(only('stderr')), 'stderr passed through byte for byte');

        const { saved, chunks } = await t.withDb(async (db) => ({ saved: (await getRun(db, runId))!, chunks: await readLogChunks(db, runId, 0, 10_000) }));
        const total = written.reduce((sum, burst) => sum + burst.bytes.length, 0);
        const sockLine = Buffer.byteLength(`sockname=${sockname}\n`);
        assert.equal(saved.status, 'succeeded');
        assert.equal(saved.log_bytes, total + sockLine);
        const marker = chunks.findIndex((chunk) => chunk.stream === 'system');
        assert.ok(marker > 0, 'the log is capped');
        const headBytes = CAP / 2;
        const tailBytes = total + sockLine - headBytes - Number(saved.log_dropped_bytes);
        assert.ok(tailBytes > CAP / 2 - 128 * 1024 && tailBytes <= CAP / 2, `the tail window is used: ${tailBytes} bytes`);
        // The first line is the socket's name, on stdout before the first burst.
        const first = { stream: 'stdout' as const, bytes: Buffer.from(`sockname=${sockname}\n`) };
        const expected = expectedLog([first, ...written], headBytes, tailBytes);
        const stored = (from: number, to: number) => mergedByStream(chunks.slice(from, to)) as Stretch[];
        assert.deepEqual(stored(0, marker), expected.head, 'the head is the first bytes written, in order');
        assert.deepEqual(stored(marker + 1, chunks.length), expected.tail, 'the tail is the last bytes written, in order');
      });
    }

    test('with a temporary directory too long for a socket path, the runner reads pipes and stores the same', async () => {
      const runId = uuidv7();
      // Node 20 would listen on the path cut to 107 bytes, outside the private directory: never.
      const long = join(scratch, 'd'.repeat(120));
      mkdirSync(long);
      const result = await runCli(['run', '-q', '--run-id', runId, '--', 'python3', EMIT, 'sockname:1', 'lines:err:1000', 'drained:5', 'lines:out:1000'], {
        env: { ...t.env, TMPDIR: long },
      });
      assert.equal(result.code, 0, result.err);
      // Node >= 22 keeps its compile cache there too.
      assert.deepEqual(readdirSync(long).filter((name) => name.startsWith('kubescribe')), [], 'the runner left nothing in the temporary directory');
      const expected = bursts([['err', 1000], ['out', 1000]]);
      assert.equal(result.out, `sockname=\n${expected[1]!.bytes.toString()}`);
      assert.equal(result.err, expected[0]!.bytes.toString());
      const chunks = await t.withDb((db) => readLogChunks(db, runId));
      assert.deepEqual(mergedByStream(chunks), [
        { stream: 'stdout', text: 'sockname=\n' },
        { stream: 'stderr', text: expected[0]!.bytes.toString() },
        { stream: 'stdout', text: expected[1]!.bytes.toString() },
      ]);
    });
  });
}
