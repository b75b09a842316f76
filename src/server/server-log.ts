// Where the server's pino log goes: stdout for `kubescribe serve` (the container runtime keeps it),
// a file under .kubescribe/ for `kubescribe dev` (whose terminal shows its own few lines, and whose
// "internal error; the server log has the details" must point somewhere). Every line passes through
// scrubSecrets on its way out, whatever code wrote it.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { redactApiTokens } from '../runlog/sql/tokens.ts';

/** Where `kubescribe dev` writes its log, under KubeScribe's home (.kubescribe/). */
export function serverLogPath(home: string): string {
  return join(home, 'server.log');
}

// A dev server left running for weeks must not fill the disk: past this size the file is rotated to
// server.log.1 (replacing the previous one), so the log takes at most twice this. 10 MiB holds about
// 40,000 request lines, days of a developer's use.
const MAX_LOG_BYTES = 10 * 1024 * 1024;

const BEARER = /(bearer\s+)[^\s"\\]+/gi;
// scheme://user:password@host: the password of any URL (DATABASE_URL, SMTP_URL) in a message or stack.
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@"]*:)[^\s@/"]+@/gi;

/** Replaces API tokens, bearer credentials, URL passwords and the given secret values with `***`. */
export function scrubSecrets(line: string, secrets: readonly string[] = []): string {
  let out = redactApiTokens(line).replace(BEARER, '$1***').replace(URL_PASSWORD, '$1***@');
  for (const secret of secrets) if (out.includes(secret)) out = out.replaceAll(secret, '***');
  return out;
}

/** The secret values of the server's environment worth scrubbing by value: DATABASE_URL's password. */
export function secretsOf(databaseUrl: string | null): string[] {
  if (!databaseUrl) return [];
  try {
    const password = new URL(databaseUrl).password;
    // A one- or two-character password would blank out unrelated text; the URL pattern still covers it.
    return password.length >= 3 ? [...new Set([password, decodeURIComponent(password)])] : [];
  } catch {
    return [];
  }
}

/** A pino destination that scrubs secrets from each line before writing it to `write`. */
export function scrubbingStream(write: (line: string) => void, secrets: readonly string[]): { write(line: string): void } {
  return { write: (line: string) => write(scrubSecrets(line, secrets)) };
}

/**
 * An append-only log file with size-bounded rotation. The previous start's log is kept as
 * server.log.1 (a crash's details survive the restart that follows it), and so is the older half of
 * a long session's. Writes are synchronous, as pino's default destination's are: a dev server's
 * request rate is low, and a line is on disk before the process can die.
 */
export class RotatingLogFile {
  private fd: number;
  private size: number;
  private closed = false;

  constructor(private readonly path: string, private readonly maxBytes = MAX_LOG_BYTES) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    if (existsSync(path)) renameSync(path, `${path}.1`);
    this.fd = openSync(path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  write(line: string): void {
    // A line logged after close (a request still finishing at exit) is dropped, not a crash.
    if (this.closed) return;
    const bytes = Buffer.byteLength(line);
    if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
    writeSync(this.fd, line);
    this.size += bytes;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private rotate(): void {
    closeSync(this.fd);
    renameSync(this.path, `${this.path}.1`);
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = 0;
  }
}
