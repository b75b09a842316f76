// What every UI page module receives: the API's dependencies (same services, same RunLog) and the
// one way to answer with a page (the view wrapped in the layout).
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ApiDeps } from '../api/app.ts';
import type { SessionKeyring } from './session-keyring.ts';
import type { SignInCodes } from './sign-in-codes.ts';

export interface RenderOptions {
  /** The page title (the layout adds " · KubeScribe"). */
  title: string;
  /** HTTP status; 200 unless given. */
  status?: number;
}

export interface UiContext {
  deps: ApiDeps;
  /** The RunLog's session sealing and CSRF keys (shared by every server of the RunLog). */
  keys: SessionKeyring;
  /** One-time sign-in codes (`kubescribe dev` issues one at start). */
  signInCodes: SignInCodes;
  /**
   * Renders `views/<view>.eta` with `data` (plus `it.fmt`, `it.session`, `it.csrf`) inside the layout
   * (navigation, signed-in identity, CSRF token, flash message) and sends it.
   */
  render(reply: FastifyReply, view: string, data: object, opts: RenderOptions): Promise<FastifyReply>;
  /** Renders a view (or partial) without the layout: an htmx fragment or an SSE event's HTML. */
  renderFragment(reply: FastifyReply, view: string, data: object): Promise<string>;
  /** The hashed URL of an asset (`kubescribe.css`, `htmx.min.js`, …). */
  assetUrl(name: string): string;
}

/** A group of UI pages: registers its routes (full paths under /ui) on the UI's scope. */
export type UiPageModule = (app: FastifyInstance, ui: UiContext) => Promise<void> | void;
