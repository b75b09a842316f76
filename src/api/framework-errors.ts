// Errors Fastify and Node's HTTP parser raise before a route runs (bad URL encoding, an over-long path
// segment, unparsable JSON, headers too large), answered in KubeScribe's one error shape instead of theirs.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './errors.ts';

// Fastify's error codes → the API's; the status stays Fastify's (400, 413, 414, 415).
const CODES: Record<string, { code: string; message?: string }> = {
  FST_ERR_BAD_URL: { code: 'invalid_url', message: 'the URL is not valid percent-encoded UTF-8' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'path_segment_too_long', message: 'a path segment is longer than 100 characters' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', message: 'the body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', message: 'the body is empty but Content-Type is application/json' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', message: 'send the body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'invalid_content_length', message: 'the body size does not match Content-Length' },
};

/** The API's code and message for a 4xx error Fastify raised (falls back to `bad_request` and its message). */
export function describeFrameworkError(error: FastifyError): { code: string; message: string } {
  const known = CODES[error.code];
  // secure-json-parse refuses `__proto__` and `constructor.prototype` keys with a plain 400.
  if (!known && error instanceof SyntaxError) return { code: 'invalid_json', message: `the body is not valid JSON: ${error.message}` };
  return { code: known?.code ?? 'bad_request', message: known?.message ?? error.message };
}

/** Fastify's `frameworkErrors` option: routing failures (bad URL encoding, over-long segments). */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const { code, message } = describeFrameworkError(error);
  void reply.code(error.statusCode ?? 400).send(errorBody(code, message));
}

const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'the request was not received in time' },
  HPE_HEADER_OVERFLOW: { status: 431, code: 'headers_too_large', message: 'the request headers are too large' },
};

/**
 * Fastify's `clientErrorHandler`: Node's HTTP parser refused the request before Fastify saw it, so
 * the answer is written to the socket directly, then the connection is closed (as Node does).
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const known = CLIENT_ERRORS[error.code ?? ''] ?? { status: 400, code: 'bad_request', message: 'the request is not valid HTTP' };
  const body = JSON.stringify(errorBody(known.code, known.message));
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${known.status} ${STATUS_CODES[known.status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
      + `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}
