// A small client for the KubeScribe API, shared by the CLI's client commands and the runner's API
// sink (src/runner/api-sink.ts), so it imports nothing of either. It speaks node:http, not fetch: the
// first fetch() in a process loads and compiles undici, which measured 0.3–1 s on this machine, more
// than the rest of `kubescribe runs` against a server (docs/benchmarks.md).
import type { IncomingMessage } from 'node:http';

/** The API answered with an error (`{"error": {code, message, details}}`), or with something unreadable. */
export class ApiClientError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = {},
  ) {
    super(message);
    this.name = 'ApiClientError';
  }
}

/** The API could not be reached at all (refused, DNS, timeout). */
export class ApiUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach the KubeScribe API at ${url}: ${reason}`);
    this.name = 'ApiUnreachableError';
  }
}

/** One Server-Sent Event. */
export interface SseEvent {
  event: string;
  id: string | null;
  data: string;
}

type Query = Record<string, string | number | boolean | undefined | null>;

// Long enough for a slow database, short enough that a hung server does not hang a script forever.
const REQUEST_TIMEOUT_MS = 30_000;

/** Talks JSON to one KubeScribe API with one bearer token. */
export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token: string | null,
    private readonly timeoutMs: number = REQUEST_TIMEOUT_MS,
  ) {}

  /** GET, returning the parsed JSON body. */
  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.request<T>('GET', path, query, undefined);
  }

  /** POST with a JSON body, returning the parsed JSON body. */
  post<T>(path: string, body: unknown = {}, query: Query = {}): Promise<T> {
    return this.request<T>('POST', path, query, body);
  }

  /** DELETE, returning the parsed JSON body. */
  delete<T>(path: string, query: Query = {}): Promise<T> {
    return this.request<T>('DELETE', path, query, undefined);
  }

  /** Opens a Server-Sent Events stream and yields its events until the server ends it. */
  async *events(path: string, query: Query = {}, signal?: AbortSignal): AsyncGenerator<SseEvent> {
    const response = await this.send('GET', path, query, undefined, { accept: 'text/event-stream' }, signal);
    if (!ok(response)) throw await this.errorOf(response);
    if (!(response.headers['content-type'] ?? '').includes('text/event-stream')) {
      response.resume();
      throw new ApiClientError(response.statusCode ?? 0, 'bad_response', `${this.url}${path} did not answer with an event stream`);
    }
    yield* parseSse(response);
  }

  private async request<T>(method: string, path: string, query: Query, body: unknown): Promise<T> {
    const response = await this.send(method, path, query, body, { accept: 'application/json' }, AbortSignal.timeout(this.timeoutMs));
    if (!ok(response)) throw await this.errorOf(response);
    const text = await this.textOf(response);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiClientError(response.statusCode ?? 0, 'bad_response', `${this.url} answered ${response.statusCode} with something that is not JSON; is it a KubeScribe API?`);
    }
  }

  private async send(
    method: string,
    path: string,
    query: Query,
    body: unknown,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) search.set(key, String(value));
    }
    const target = new URL(`${this.url}${path}${search.size ? `?${search}` : ''}`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    // TLS is loaded only for an https:// server.
    const { request } = target.protocol === 'https:' ? await import('node:https') : await import('node:http');
    return new Promise((resolve, reject) => {
      const outgoing = request(target, {
        method,
        signal,
        headers: {
          ...headers,
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      }, resolve);
      outgoing.once('error', (error) => reject(new ApiUnreachableError(this.url, networkReason(error, this.timeoutMs))));
      outgoing.end(payload);
    });
  }

  /** The whole body as text; a connection lost on the way is the API being unreachable. */
  private async textOf(response: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of response) chunks.push(chunk as Buffer);
    } catch (error) {
      throw new ApiUnreachableError(this.url, networkReason(error, this.timeoutMs));
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private async errorOf(response: IncomingMessage): Promise<ApiClientError> {
    const text = await this.textOf(response).catch(() => '');
    const status = response.statusCode ?? 0;
    try {
      const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
      if (error && typeof error.message === 'string') {
        return new ApiClientError(status, typeof error.code === 'string' ? error.code : 'error', error.message, error.details ?? {});
      }
    } catch {
      // Not our error shape: a proxy's HTML page, say. Fall through to the status line.
    }
    return new ApiClientError(status, 'http_error', `HTTP ${status} ${response.statusMessage ?? ''}`.trim());
  }
}

const ok = (response: IncomingMessage) => (response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 300;

/** The short reason a request failed: the system error code when there is one (ECONNREFUSED, ENOTFOUND). */
function networkReason(error: unknown, timeoutMs: number): string {
  const err = error as { name?: string; code?: unknown; message?: string; cause?: { name?: string } | undefined; errors?: { code?: unknown }[] };
  if (err?.name === 'TimeoutError' || (err?.name === 'AbortError' && err.cause?.name === 'TimeoutError')) return `no answer within ${timeoutMs / 1000}s`;
  // Happy eyeballs tries each address and reports them all; the first code says enough.
  const nested = err?.errors?.find((inner) => typeof inner?.code === 'string')?.code;
  if (typeof err?.code === 'string' && err.code !== 'ERR_AGGREGATE') return err.code;
  if (typeof nested === 'string') return nested;
  return err?.message || String(error);
}

/** Parses a `text/event-stream` body (WHATWG rules: CR, LF or CRLF line ends, `:` comments, multi-line data). */
export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | null = null;
  const decoder = new TextDecoder();
  const lineEnd = /\r\n|\r|\n/;
  const chunks = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const { value, done } = await chunks.next();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (;;) {
        const match = lineEnd.exec(buffer);
        if (!match) break;
        // A CR at the very end may be the first half of a CRLF split across two reads.
        if (!done && match[0] === '\r' && match.index === buffer.length - 1) break;
        const line = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', id, data: data.join('\n') };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let fieldValue = colon === -1 ? '' : line.slice(colon + 1);
        if (fieldValue.startsWith(' ')) fieldValue = fieldValue.slice(1);
        if (field === 'event') event = fieldValue;
        else if (field === 'data') data.push(fieldValue);
        else if (field === 'id' && !fieldValue.includes('\0')) id = fieldValue;
      }
      // An event not closed by a blank line before the stream ends is incomplete and dropped, per the spec.
      if (done) return;
    }
  } finally {
    // Stops the stream (and closes the connection) when the reader leaves early.
    await chunks.return?.().catch(() => {});
  }
}
