// A channel sends one message somewhere. Secrets (SMTP URL, Slack URL, signing secret) are resolved
// when the channel is built, from the environment or a file, and scrubbed from any error it reports.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve, dirname } from 'node:path';
import type { ChannelSpec, SecretRef } from '../../config/notify-config.ts';
import type { Environment } from '../../config/environment.ts';
import type { NotificationMessage } from '../message.ts';
import { EmailChannel } from './email-channel.ts';
import { SlackChannel } from './slack-channel.ts';
import { WebhookChannel } from './webhook-channel.ts';

/** Somewhere a message can be sent. */
export interface Channel {
  readonly name: string;
  /** Sends the message or throws; `timeoutMs` bounds the whole send. */
  send(message: NotificationMessage, timeoutMs: number): Promise<void>;
}

/** A problem retrying cannot fix (a missing secret, an unknown channel): the delivery fails at once. */
export class PermanentChannelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentChannelError';
  }
}

/** Where secrets come from: the environment (read in environment.ts) and files relative to the config. */
export interface SecretSource {
  env: Pick<Environment, 'secret'>;
  /** Directory that relative `*_file` paths are resolved against (the config file's). */
  baseDir: string;
}

/** The value of a secret; throws PermanentChannelError naming the variable or file (never the value). */
export function resolveSecret(ref: SecretRef, source: SecretSource, what: string): string {
  if ('env' in ref) {
    const value = source.env.secret(ref.env);
    if (value === null) throw new PermanentChannelError(`${what}: environment variable ${ref.env} is not set`);
    return value;
  }
  const path = isAbsolute(ref.file) ? ref.file : resolve(source.baseDir, ref.file);
  try {
    const value = readFileSync(path, 'utf8').trim();
    if (!value) throw new PermanentChannelError(`${what}: file ${path} is empty`);
    return value;
  } catch (error) {
    if (error instanceof PermanentChannelError) throw error;
    throw new PermanentChannelError(`${what}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Builds the channel a spec describes, with its secrets resolved. */
export function createChannel(spec: ChannelSpec, source: SecretSource): Channel {
  const where = `channel ${spec.name}`;
  switch (spec.type) {
    case 'email':
      return new EmailChannel(spec.name, resolveSecret(spec.smtp_url, source, where), spec.from, spec.to);
    case 'slack':
      return new SlackChannel(spec.name, resolveSecret(spec.url, source, where));
    case 'webhook': {
      const url = 'value' in spec.url ? spec.url.value : resolveSecret(spec.url, source, where);
      return new WebhookChannel(spec.name, url, spec.secret ? resolveSecret(spec.secret, source, where) : null);
    }
  }
}

/** Replaces every occurrence of a secret in an error message by ***. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    out = out.split(secret).join('***');
    // URLs appear decoded or re-encoded in errors; their password and path are the secret parts.
    try {
      const url = new URL(secret);
      if (url.password) out = out.split(url.password).join('***').split(decodeURIComponent(url.password)).join('***');
      if (url.pathname.length > 4) out = out.split(url.pathname).join('/***');
    } catch {
      // not a URL
    }
  }
  return out;
}

/** Secrets to scrub from errors of `spec` (resolvable ones only). */
export function channelSecrets(spec: ChannelSpec, source: SecretSource): string[] {
  const refs: SecretRef[] = spec.type === 'email' ? [spec.smtp_url] : spec.type === 'slack' ? [spec.url]
    : [...('value' in spec.url ? [] : [spec.url]), ...(spec.secret ? [spec.secret] : [])];
  return refs.flatMap((ref) => {
    try {
      return [resolveSecret(ref, source, spec.name)];
    } catch {
      return [];
    }
  });
}

/** The directory of the config file, or the working directory without one. */
export function configDir(file: string | null, cwd: string): string {
  return file ? dirname(file) : cwd;
}
