// Email over SMTP with nodemailer: smtp:// upgrades with STARTTLS when the server offers it
// (`?requireTLS=true` insists), smtps:// is TLS from the first byte. Plain-text and HTML bodies.
// nodemailer is imported at the first email sent: its ~40 files cost every `serve` and `dev` ~150 ms
// of CPU at start, with or without an email channel (docs/benchmarks.md, "serve and dev start-up").
import type { NotificationMessage } from '../message.ts';
import { messageFields } from '../message-fields.ts';
import type { Channel } from './channel.ts';

const html = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Subject, plain text and HTML of the email for a message. */
export function emailContent(message: NotificationMessage): { subject: string; text: string; html: string } {
  const fields = messageFields(message);
  const width = Math.max(...fields.map(([label]) => label.length));
  const lines = [message.title, '', ...fields.map(([label, value]) => `${label.padEnd(width)}  ${value}`)];
  if (message.run?.error) lines.push('', `Error: ${message.run.error.summary}`);
  if (message.run?.log_tail.length) lines.push('', 'Last log lines:', ...message.run.log_tail.map((line) => `  ${line}`));
  const links = [message.links.ui && `UI:  ${message.links.ui}`, message.links.api && `API: ${message.links.api}`].filter(Boolean) as string[];
  if (links.length) lines.push('', ...links);
  const body = [
    `<h2 style="font-family:sans-serif">${html(message.title)}</h2>`,
    message.summary ? `<p style="font-family:sans-serif"><b>${html(message.summary)}</b></p>` : '',
    '<table style="font-family:sans-serif;border-collapse:collapse">',
    ...fields.map(([label, value]) => `<tr><th align="left" style="padding:2px 12px 2px 0">${html(label)}</th><td>${html(value)}</td></tr>`),
    '</table>',
    message.run?.error ? `<p style="font-family:sans-serif"><b>Error:</b> <code>${html(message.run.error.summary)}</code></p>` : '',
    message.run?.log_tail.length ? `<p style="font-family:sans-serif"><b>Last log lines</b></p><pre>${html(message.run.log_tail.join('\n'))}</pre>` : '',
    message.links.ui ? `<p style="font-family:sans-serif"><a href="${html(message.links.ui)}">Open the run</a>${message.links.api ? ` · <a href="${html(message.links.api)}">API</a>` : ''}</p>` : '',
  ].filter(Boolean).join('\n');
  return { subject: `[KubeScribe] ${message.summary ? `${message.title} (${message.summary})` : message.title}`, text: `${lines.join('\n')}\n`, html: body };
}

/** Sends the message as an email through one SMTP server. */
export class EmailChannel implements Channel {
  constructor(readonly name: string, private readonly smtpUrl: string, private readonly from: string, private readonly to: string[]) {}

  async send(message: NotificationMessage, timeoutMs: number): Promise<void> {
    const { default: nodemailer } = await import('nodemailer');
    const transport = nodemailer.createTransport({
      url: this.smtpUrl,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    } as Parameters<typeof nodemailer.createTransport>[0]);
    try {
      await transport.sendMail({ from: this.from, to: this.to, ...emailContent(message) });
    } finally {
      transport.close();
    }
  }
}
