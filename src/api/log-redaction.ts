// The request log records each URL; a token sent in the query string (which auth never accepts, but a
// client may still send) must not be written there with it.
import type { FastifyRequest } from 'fastify';
import { redactApiTokens } from '../runlog/sql/tokens.ts';

// Query parameters whose values are credentials, by name.
// `code`: the web UI's one-time sign-in link (/ui/sign-in/once?code=…).
const SECRET_PARAM = /token|secret|password|passwd|api[_-]?key|auth|signature|credential|^code$/i;

/** The URL with credential-looking query values and API tokens replaced by `***`. */
export function redactRequestUrl(url: string): string {
  const question = url.indexOf('?');
  const path = question === -1 ? url : url.slice(0, question);
  const query = question === -1 ? null : url.slice(question + 1);
  const redactedQuery = query?.split('&').map((pair) => {
    const equals = pair.indexOf('=');
    if (equals === -1) return pair;
    let name = pair.slice(0, equals);
    try {
      name = decodeURIComponent(name.replaceAll('+', ' '));
    } catch {
      // An undecodable name is compared as sent.
    }
    return SECRET_PARAM.test(name) ? `${pair.slice(0, equals)}=***` : pair;
  }).join('&');
  // An API token anywhere in the URL (path or query) too.
  return redactApiTokens(redactedQuery === undefined ? path : `${path}?${redactedQuery}`);
}

function serializeRequest(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactRequestUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** Logger options for Fastify with the request serializer that redacts URLs; false stays false. */
export function withRedactedUrls(logger: boolean | Record<string, unknown> | undefined): boolean | Record<string, unknown> {
  if (!logger) return false;
  const options = logger === true ? {} : logger;
  return { ...options, serializers: { ...(options.serializers as Record<string, unknown> | undefined), req: serializeRequest } };
}
