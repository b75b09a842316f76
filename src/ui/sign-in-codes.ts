// One-time sign-in codes: `kubescribe dev` prints `/ui/sign-in/once?code=…` (as Jupyter prints its
// token URL) so that a person opens the UI signed in with the local admin token, without copying the
// token. A code is random (not the token), works once, and expires after CODE_TTL_MS; the codes live
// only in this server process's memory.
import { randomBytes } from 'node:crypto';

// Long enough to switch from the terminal to a browser, short enough that a copy in scrollback is stale.
export const CODE_TTL_MS = 15 * 60_000;
// A handful is plenty: dev issues one per start; more waiting codes are an abuse of whoever issues them.
const MAX_CODES = 100;

/** The codes of one server process, each redeemable once for the token it was issued for. */
export class SignInCodes {
  private readonly codes = new Map<string, { token: string; expiresAt: number }>();

  /** A new code for `token`, valid for `ttlMs`. */
  issue(token: string, ttlMs: number = CODE_TTL_MS, now: number = Date.now()): string {
    this.prune(now);
    if (this.codes.size >= MAX_CODES) this.codes.delete(this.codes.keys().next().value!);
    const code = randomBytes(24).toString('base64url');
    this.codes.set(code, { token, expiresAt: now + ttlMs });
    return code;
  }

  /** The token a code was issued for, once: the code is gone afterwards. Null when unknown or expired. */
  redeem(code: string, now: number = Date.now()): string | null {
    const entry = this.codes.get(code);
    this.codes.delete(code);
    if (!entry || entry.expiresAt <= now) return null;
    return entry.token;
  }

  private prune(now: number): void {
    for (const [code, entry] of this.codes) if (entry.expiresAt <= now) this.codes.delete(code);
  }
}
