// Real receivers on loopback for the notification tests: an SMTP server (smtp-server) whose mail is
// parsed with mailparser, and an HTTP server that records what Slack and webhook channels post.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A received email, parsed, with the SMTP envelope. */
export interface ReceivedMail { parsed: ParsedMail; envelopeTo: string[]; envelopeFrom: string }

export interface SmtpReceiver {
  url: string;
  port: number;
  mails: ReceivedMail[];
  close(): Promise<void>;
}

/** Starts an SMTP server on 127.0.0.1 that accepts every message (no auth, no TLS). */
export async function startSmtpReceiver(port = 0): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          mails.push({
            parsed,
            envelopeTo: session.envelope.rcptTo.map((r) => r.address),
            envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          });
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${bound}`,
    port: bound,
    mails,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One request the HTTP receiver got. */
export interface ReceivedPost { path: string; headers: IncomingHttpHeaders; body: string; json: unknown }

export interface HttpReceiver {
  url: string;
  posts: ReceivedPost[];
  /** Status to answer with (default 200). */
  status: number;
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 recording every request. */
export async function startHttpReceiver(): Promise<HttpReceiver> {
  const receiver = { posts: [] as ReceivedPost[], status: 200 } as HttpReceiver;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        // not JSON
      }
      receiver.posts.push({ path: request.url ?? '', headers: request.headers, body, json });
      response.writeHead(receiver.status, { 'content-type': 'text/plain' }).end(receiver.status < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return receiver;
}
