// KUBESCRIBE_ADMIN_TOKEN_FILE: the first admin token of `kubescribe serve`, from a mounted Secret.
import { readFileSync } from 'node:fs';
import { UsageError } from './errors.ts';

// The format `tokens create` prints: ksk_ and base64url; 32 characters at least (192 bits) so a
// hand-made token is not guessable either. `openssl rand -base64 32` gives 43 after ksk_.
const ADMIN_TOKEN = /^ksk_[A-Za-z0-9_-]{32,200}$/;

/**
 * The token in `file`, or null when the file does not exist (the optional Secret was not created).
 * Anything else that is not one token is a one-line error naming the file — never showing its content.
 */
export function readAdminTokenFile(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new UsageError(`KUBESCRIBE_ADMIN_TOKEN_FILE ${file}: cannot read it (${code ?? (error as Error).message})`);
  }
  const token = text.trim();
  if (!ADMIN_TOKEN.test(token)) {
    const what = token === '' ? 'it is empty' : /\s/.test(token) ? 'it holds more than one line or word' : 'it does not hold a token';
    throw new UsageError(`KUBESCRIBE_ADMIN_TOKEN_FILE ${file}: ${what}; expected one API token: "ksk_" and at least 32 letters, digits, "-" or "_" `
      + '(make one with: echo "ksk_$(openssl rand -base64 32 | tr \'+/\' \'_-\' | tr -d =)")');
  }
  return token;
}
