// postJson against a real HTTP server on loopback: one connection per POST (a receiver closing an
// idle kept-alive socket must never fail the next alert), the deadline, and errors that name the host only.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { postJson } from '../../src/notify/channels/http-post.ts';

describe('postJson', () => {
  let server: Server;
  let base: string;
  let connections = 0;
  const received: { body: string; connection: string | undefined; type: string | undefined }[] = [];
  let answer = { status: 200, body: 'ok', delayMs: 0 };

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        received.push({ body, connection: req.headers.connection, type: req.headers['content-type'] });
        setTimeout(() => res.writeHead(answer.status).end(answer.body), answer.delayMs);
      });
    });
    // A long keep-alive on the server's side: only the client can make each POST use its own connection.
    server.keepAliveTimeout = 60_000;
    server.on('connection', () => { connections += 1; });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends the JSON body, and each POST on a connection of its own that it closes', async () => {
    const before = connections;
    await postJson(`${base}/hook`, '{"a":1}', {}, 5_000);
    await postJson(`${base}/hook`, '{"a":2}', { 'x-extra': 'y' }, 5_000);
    assert.equal(connections - before, 2);
    assert.deepEqual(received.slice(-2).map((r) => [r.body, r.connection, r.type]),
      [['{"a":1}', 'close', 'application/json'], ['{"a":2}', 'close', 'application/json']]);
  });

  it('a non-2xx answer is an error with the status and the body start, naming the host but not the path', async () => {
    answer = { status: 500, body: 'boom', delayMs: 0 };
    try {
      await assert.rejects(postJson(`${base}/services/SECRET-PATH`, '{}', {}, 5_000), (error: Error) => {
        assert.equal(error.message, `POST to ${new URL(base).host}: HTTP 500 boom`);
        return true;
      });
    } finally {
      answer = { status: 200, body: 'ok', delayMs: 0 };
    }
  });

  it('gives up at its deadline with a clear reason', async () => {
    answer = { status: 200, body: 'late', delayMs: 2_000 };
    try {
      const started = Date.now();
      await assert.rejects(postJson(`${base}/slow`, '{}', {}, 200), /failed: no answer within 200 ms$/);
      assert.ok(Date.now() - started < 1_500, 'the deadline bounded the wait');
    } finally {
      answer = { status: 200, body: 'ok', delayMs: 0 };
    }
  });

  it('a refused connection names the error code; a non-HTTP URL is refused before sending', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await assert.rejects(postJson(`http://127.0.0.1:${port}/x`, '{}', {}, 2_000), new RegExp(`^Error: POST to 127\\.0\\.0\\.1:${port} failed: ECONNREFUSED$`));
    await assert.rejects(postJson('ftp://example.invalid/x', '{}', {}, 2_000), /failed: unsupported URL scheme ftp:$/);
  });
});
