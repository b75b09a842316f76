// Generic webhook: the message as JSON, signed so that the receiver can check it came from us and
// was not replayed: X-KubeScribe-Signature = "sha256=" + hex HMAC-SHA256(secret, "<timestamp>.<body>").
import { createHmac } from 'node:crypto';
import type { NotificationMessage } from '../message.ts';
import type { Channel } from './channel.ts';
import { postJson } from './http-post.ts';

/** The signature header value for a body sent at `timestamp` (unix seconds). */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Posts the message JSON to a URL, signed when a secret is configured. */
export class WebhookChannel implements Channel {
  constructor(readonly name: string, private readonly url: string, private readonly secret: string | null) {}

  async send(message: NotificationMessage, timeoutMs: number): Promise<void> {
    const body = JSON.stringify(message);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      'x-kubescribe-event': message.event,
      'x-kubescribe-delivery': message.id,
      'x-kubescribe-timestamp': timestamp,
    };
    if (this.secret) headers['x-kubescribe-signature'] = webhookSignature(this.secret, timestamp, body);
    await postJson(this.url, body, headers, timeoutMs);
  }
}
