// The UI's sign-in: the API token a person signed in with, sealed (AES-256-GCM, under a key every
// server of the RunLog shares: ui_session_keys, src/ui/session-keyring.ts) into an HttpOnly,
// SameSite=Strict cookie. No session is stored server-side; each request unseals the token and
// checks it exactly as the API checks a bearer token (findLiveToken: revoked or expired tokens are
// refused on their next request). Why a sealed token rather than a session id is in docs/ui.md.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../runlog/db.ts';
import { findLiveToken, scopeAllows, touchToken, type TokenScope } from '../runlog/sql/tokens.ts';
import type { SessionKeyring } from './session-keyring.ts';
import { UiError } from './ui-errors.ts';

export const SESSION_COOKIE = 'ks_session';
/** The sign-in form's own CSRF cookie (double submit): there is no session to bind a token to yet. */
export const PRE_SESSION_COOKIE = 'ks_presign';
// A sign-in lasts a working day; the token's own expiry and revocation still apply at every request.
export const SESSION_MAX_AGE_S = 12 * 3600;
const COOKIE_PATH = '/';

/** Who is signed in on this request. */
export interface UiSession {
  /** `token:<name>`, as run and job events record it. */
  actor: string;
  scope: TokenScope;
  /** The synchronizer token every state-changing form and htmx request must send back. */
  csrfToken: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in person of a UI request, or null. */
    uiSession: UiSession | null;
  }
}

/** What a session cookie holds, sealed. */
export interface SealedSession {
  /** The API token. */
  t: string;
  /** A random session id: what the CSRF token is bound to. */
  s: string;
  /** Issued at, ms since the epoch. */
  i: number;
}

/**
 * One session key (a row of ui_session_keys, src/ui/session-keyring.ts keeps them): seals sessions
 * into `<key id>.<iv|tag|ciphertext>` and derives CSRF tokens.
 */
export class SessionKeys {
  private readonly sealKey: Buffer;
  private readonly macKey: Buffer;
  private readonly aad: Buffer;

  constructor(readonly keyId: number, secret: Buffer) {
    // Two keys from one secret, so that a CSRF token (public in the page) says nothing about the seal.
    this.sealKey = createHmac('sha256', secret).update('kubescribe ui seal').digest();
    this.macKey = createHmac('sha256', secret).update('kubescribe ui mac').digest();
    // The key id in clear is authenticated too: a cookie relabelled with another id does not open.
    this.aad = Buffer.from(`kubescribe ui session ${keyId}`);
  }

  /** The cookie value for a new sign-in with `token`. */
  seal(token: string, now: number = Date.now()): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, iv);
    cipher.setAAD(this.aad);
    const payload: SealedSession = { t: token, s: randomBytes(16).toString('base64url'), i: now };
    const body = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
    return `${this.keyId}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** The sealed session, or null for anything this key did not seal (another key, tampered) or too old. */
  unseal(value: string, now: number = Date.now()): SealedSession | null {
    try {
      if (sealedKeyId(value) !== this.keyId) return null;
      const raw = Buffer.from(value.slice(value.indexOf('.') + 1), 'base64url');
      if (raw.length < 29) return null;
      const decipher = createDecipheriv('aes-256-gcm', this.sealKey, raw.subarray(0, 12));
      decipher.setAAD(this.aad);
      decipher.setAuthTag(raw.subarray(12, 28));
      const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      const payload = JSON.parse(text) as SealedSession;
      if (typeof payload.t !== 'string' || typeof payload.s !== 'string' || typeof payload.i !== 'number') return null;
      if (now - payload.i > SESSION_MAX_AGE_S * 1000 || payload.i > now + 60_000) return null;
      return payload;
    } catch {
      return null;
    }
  }

  /** A keyed digest of `purpose` and `value`, base64url: CSRF tokens. */
  mac(purpose: string, value: string): string {
    return createHmac('sha256', this.macKey).update(`${purpose}\0${value}`).digest('base64url');
  }
}

/** The key id a cookie value names (`<id>.…`), or null when it names none. */
export function sealedKeyId(value: string): number | null {
  const match = /^([1-9][0-9]{0,9})\./.exec(value);
  return match ? Number(match[1]) : null;
}

/** True when both strings are equal, in time independent of where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Whether the request came over HTTPS, directly or through a proxy that says so. */
export function overHttps(request: FastifyRequest): boolean {
  const forwarded = request.headers['x-forwarded-proto'];
  const proto = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim().toLowerCase();
  return request.protocol === 'https' || proto === 'https';
}

/** Cookie options of every UI cookie: HttpOnly, SameSite=Strict, Secure behind HTTPS. */
export function cookieOptions(request: FastifyRequest, maxAge?: number) {
  return { path: COOKIE_PATH, httpOnly: true, sameSite: 'strict' as const, secure: overHttps(request), ...(maxAge === undefined ? {} : { maxAge }) };
}

/**
 * Reads the session cookie and checks its token now (the same lookup as the API's bearer check):
 * sets `request.uiSession`, or leaves it null (and drops a cookie whose token no longer works).
 */
export async function loadSession(request: FastifyRequest, reply: FastifyReply, db: Db, keyring: SessionKeyring): Promise<void> {
  const cookie = request.cookies[SESSION_COOKIE];
  if (!cookie) return;
  const opened = await keyring.unseal(cookie);
  const token = opened ? await findLiveToken(db, opened.session.t) : null;
  if (!opened || !token) {
    reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
    return;
  }
  await touchToken(db, token);
  // The CSRF token comes from the cookie's own key, so it stays valid as long as the cookie does.
  request.uiSession = { actor: `token:${token.name}`, scope: token.scope, csrfToken: opened.keys.mac('csrf', opened.session.s) };
}

/** Throws 403 unless the signed-in token's scope includes `scope` (the page says which is needed). */
export function requireScope(request: FastifyRequest, scope: TokenScope): UiSession {
  const session = request.uiSession;
  if (!session) throw new UiError(401, 'Sign in first', 'This page needs a signed-in API token.');
  if (!scopeAllows(session.scope, scope)) {
    throw new UiError(403, 'Not allowed', `Your token (${session.actor}) has scope ${session.scope}; this needs scope ${scope}.`);
  }
  return session;
}

/** True when the signed-in token's scope includes `scope`: what a page offers (buttons, forms). */
export function canDo(request: FastifyRequest, scope: TokenScope): boolean {
  return request.uiSession !== null && scopeAllows(request.uiSession.scope, scope);
}

/** The hidden form field carrying the CSRF token, as HTML (the token is base64url: nothing to escape). */
export function csrfField(request: FastifyRequest): string {
  return `<input type="hidden" name="_csrf" value="${request.uiSession?.csrfToken ?? ''}">`;
}

/** A local path to go back to after sign-in: `next` when it is one (`/ui/...`), else the jobs page. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string') return '/ui/jobs';
  // Only our own pages: no scheme, no `//host`, no backslash tricks, no control characters.
  if (!/^\/ui(?:\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$/.test(next)) return '/ui/jobs';
  if (next.startsWith('//') || next.includes('/..')) return '/ui/jobs';
  return next;
}
