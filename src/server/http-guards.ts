// What keeps slow or greedy clients from holding the API server's sockets: Node's HTTP timeouts and a
// cap on the connections one client address may hold open at once.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { ServerSettings } from './server-settings.ts';

// How often Node looks for requests past their header or request timeout (its default is 30 s, which
// would let a slowloris hold a socket up to 40 s with a 10 s header timeout).
const CHECK_INTERVAL_MS = 1000;

/**
 * Applies the header, request, idle and keep-alive timeouts to `server` (before it listens).
 * The header and request timeouts cover receiving the request only, so a long response (a log
 * followed live) is not cut; the idle timeout closes a connection with no traffic either way, which
 * is also what ends a follower that stopped reading.
 */
export function applyTimeouts(server: Server, settings: ServerSettings): void {
  server.headersTimeout = settings.headersTimeoutMs;
  server.requestTimeout = settings.requestTimeoutMs;
  server.keepAliveTimeout = settings.keepAliveTimeoutMs;
  server.setTimeout(settings.idleTimeoutMs);
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = CHECK_INTERVAL_MS;
}

/**
 * Refuses a client address's connection beyond `max` open at once (0: no cap) with `429` in the API's
 * error shape and `Retry-After: 1`, before any of its bytes are parsed. Installed in front of the HTTP
 * server's own connection handler, so a refused socket never reaches Fastify.
 */
export function capConnectionsPerClient(server: Server, max: number): void {
  if (max <= 0) return;
  const open = new Map<string, number>();
  const handlers = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = open.get(address) ?? 0;
    if (count >= max) {
      refuse(socket, max);
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
    for (const handler of handlers) handler.call(server, socket);
  });
}

function refuse(socket: Socket, max: number): void {
  const body = JSON.stringify({
    error: { code: 'too_many_connections', message: `this client address already has ${max} connections open; close some or retry later` },
  });
  socket.on('error', () => {});
  // Whatever the client sends is read and dropped, so the answer is not held up by a full receive buffer.
  socket.resume();
  socket.end(
    'HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json; charset=utf-8\r\nretry-after: 1\r\n'
      + `connection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  // A client that does not read the answer does not keep the socket either.
  setTimeout(() => socket.destroy(), 1000).unref();
}
