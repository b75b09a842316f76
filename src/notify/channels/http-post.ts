// One JSON POST with a deadline, for the Slack and webhook channels. A non-2xx answer is an error
// naming the host only: Slack's URL path is its secret.
//
// Each POST gets a connection of its own (agent: false, `Connection: close`). Alerts are rare, so a
// kept-alive pool saves nothing, and it costs attempts: a pooled socket that the receiver closes as
// idle (Node's server after 5 s) just as the next alert reuses it fails that attempt with
// ECONNRESET, although the receiver was up. fetch() has no way to opt out of its pool.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** POSTs `body` as JSON; resolves on 2xx, throws otherwise. */
export async function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  const target = new URL(url);
  const host = target.host;
  const signal = AbortSignal.timeout(timeoutMs);
  let response: { status: number; text: string };
  try {
    response = await send(target, body, headers, signal);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : code && code !== 'ABORT_ERR' ? code : (error as Error).message;
    throw new Error(`POST to ${host} failed: ${reason}`);
  }
  if (response.status < 200 || response.status > 299) {
    throw new Error(`POST to ${host}: HTTP ${response.status}${response.text ? ` ${response.text.slice(0, 200)}` : ''}`);
  }
}

/** The status and the first bytes of the body (the error message needs no more) of one POST. */
function send(target: URL, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<{ status: number; text: string }> {
  const request = target.protocol === 'https:' ? httpsRequest : target.protocol === 'http:' ? httpRequest : null;
  if (!request) return Promise.reject(new Error(`unsupported URL scheme ${target.protocol}`));
  return new Promise((resolve, reject) => {
    const req = request(target, {
      method: 'POST',
      agent: false,
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'KubeScribe',
        ...headers,
        connection: 'close',
        'content-length': Buffer.byteLength(body),
      },
    }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 4096) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8', 0, Math.min(size, 4096)) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
