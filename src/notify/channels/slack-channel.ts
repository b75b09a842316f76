// Slack incoming webhook with a Block Kit message: a header, the fields, the error, the log tail and
// links. Slack caps a text object at 3000 characters and a header at 150; we stay under both.
import type { NotificationMessage } from '../message.ts';
import { messageFields } from '../message-fields.ts';
import type { Channel } from './channel.ts';
import { postJson } from './http-post.ts';

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
// Slack mrkdwn treats &, < and > as control characters.
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The Slack payload (`text` is the notification fallback, `blocks` the message). */
export function slackPayload(message: NotificationMessage): { text: string; blocks: unknown[] } {
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(message.title, 150) } },
  ];
  if (message.summary) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*${escape(message.summary)}*` } });
  blocks.push({
    type: 'section',
    fields: messageFields(message).filter(([label]) => label !== 'Summary').slice(0, 10)
      .map(([label, value]) => ({ type: 'mrkdwn', text: clip(`*${label}*\n${escape(value)}`, 2000) })),
  });
  if (message.run?.error) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(`*Error*\n\`${escape(message.run.error.summary)}\``, 2900) } });
  if (message.run?.log_tail.length) {
    const tail = message.run.log_tail.join('\n').replace(/```/g, "'''");
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Last log lines*\n\`\`\`${clip(tail, 2800)}\`\`\`` } });
  }
  const links = [
    message.links.ui && /^https?:/.test(message.links.ui) ? `<${message.links.ui}|Open in KubeScribe>` : message.links.ui,
    message.links.api ? `API: ${message.links.api}` : null,
  ].filter(Boolean);
  if (links.length) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: links.join('  ·  ') }] });
  return { text: clip(message.summary ? `${message.title} (${message.summary})` : message.title, 3000), blocks };
}

/** Posts a Block Kit message to a Slack incoming webhook. */
export class SlackChannel implements Channel {
  constructor(readonly name: string, private readonly url: string) {}

  async send(message: NotificationMessage, timeoutMs: number): Promise<void> {
    await postJson(this.url, JSON.stringify(slackPayload(message)), {}, timeoutMs);
  }
}
