// A one-line message for the next page (post/redirect/get): "Job nightly suspended". Kept in a
// short-lived cookie and shown (escaped) once by the layout, which clears it.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { cookieOptions } from './session.ts';

export const FLASH_COOKIE = 'ks_flash';
const MAX_FLASH = 500;

/** Sets the message the next rendered page shows once. */
export function flash(reply: FastifyReply, message: string): void {
  reply.setCookie(FLASH_COOKIE, message.slice(0, MAX_FLASH), cookieOptions(reply.request, 60));
}

/** The pending message, cleared from the browser by this response; null when there is none. */
export function takeFlash(request: FastifyRequest, reply: FastifyReply): string | null {
  const message = request.cookies[FLASH_COOKIE];
  if (!message) return null;
  reply.clearCookie(FLASH_COOKIE, cookieOptions(request));
  return message;
}
