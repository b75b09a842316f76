// The message `kubescribe notify test <channel>` sends: shaped like any other, marked `test`.
import { hostname } from 'node:os';
import { MESSAGE_SCHEMA_VERSION, type NotificationMessage } from './message.ts';

/** A test message for `channel`, with links to the server when a public URL is known. */
export function testMessage(channel: string, publicUrl: string | null, user: string): NotificationMessage {
  return {
    schema_version: MESSAGE_SCHEMA_VERSION,
    id: `test-${Date.now()}`,
    event: 'test',
    title: `KubeScribe test message to channel ${channel}`,
    summary: null,
    job: '(test)',
    run: null,
    scheduled_for: null,
    detail: { reason: `sent by ${user} on ${hostname()} with kubescribe notify test; nothing is wrong` },
    links: { api: publicUrl ? `${publicUrl}/runs` : null, ui: publicUrl ? `${publicUrl}/ui` : null },
    occurred_at: new Date().toISOString(),
  };
}
