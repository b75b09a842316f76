// The socket pairs the runner reads the command's output from (output-channel.ts).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { openOutputChannels, closeOutputChannels } from '../../../src/runner/output-channel.ts';

describe('output channels', () => {
  it('read more than 64 KB at once from a writer ahead of the reader, and deliver every byte in order', async () => {
    const [channel] = await openOutputChannels(1);
    const sent = randomBytes(8 * 1024 * 1024);
    const got: Buffer[] = [];
    let largest = 0;
    channel!.onBytes = (bytes) => {
      largest = Math.max(largest, bytes.length);
      // Only valid during the call: the buffer is reused by the next read.
      got.push(Buffer.from(bytes));
    };
    // Reading held until the whole 8 MB is queued: each read then takes what the socket holds.
    channel!.reader.pause();
    const ended = new Promise<void>((resolve) => channel!.reader.once('end', resolve));
    channel!.childEnd.end(sent);
    await new Promise((resolve) => setTimeout(resolve, 200));
    channel!.reader.resume();
    await ended;
    closeOutputChannels([channel!]);
    assert.ok(Buffer.concat(got).equals(sent), 'every byte, in order');
    // A socket pair holds ~200 KB: reads of 64 KB (libuv's pipe size) made 4x the wake-ups and callbacks.
    assert.ok(largest > 64 * 1024, `the largest read: ${largest} bytes`);
  });
});
