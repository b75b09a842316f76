// The web UI over plain HTTP, for the engine-parity half of the UI tests: what the server renders on
// each RunLog engine, read from its HTML, without a browser. The UI files drive Chromium on one engine
// only (BROWSER_ENGINE, runlog-engines.ts); what a page shows that comes from SQL (figures, lists,
// filters, run numbers, sessions) is checked here on every engine. A browser costs ~1.3 CPU-s a context
// and ~0.35 CPU-s a page load where a fetch and a parse cost milliseconds.
import assert from 'node:assert/strict';
import { DomUtils, parseDocument } from 'htmlparser2';

type Document = ReturnType<typeof parseDocument>;
type Element = ReturnType<typeof DomUtils.findAll>[number];

/** A page as the server sent it: its status, headers, HTML and parsed tree. */
export class HtmlPage {
  readonly doc: Document;
  constructor(readonly status: number, readonly headers: Headers, readonly html: string) {
    this.doc = parseDocument(html);
  }

  /** Every element matching `selector` (descendant steps of tag#id.class[attr=value], see parseStep), in document order. */
  all(selector: string): Element[] {
    const steps = selector.trim().split(/\s+/).map(parseStep);
    return DomUtils.findAll((element) => matchesPath(element, steps), this.doc.children);
  }

  /** The one element matching `selector`; fails when there is none. */
  one(selector: string): Element {
    const [first] = this.all(selector);
    assert.ok(first, `no ${selector} on the page (status ${this.status})`);
    return first;
  }

  /** The text of the first element matching `selector`, whitespace runs as one space, trimmed. */
  text(selector: string): string {
    return textOf(this.one(selector));
  }

  /** The text of the first element matching `selector` as it is (entities decoded, whitespace kept): a textarea's value. */
  rawText(selector: string): string {
    return DomUtils.textContent(this.one(selector));
  }

  /**
   * What the form matching `selector` sends as a browser sends it: its fields in order (inputs,
   * checkboxes when checked, each select's selected options or else its first, textareas), those named
   * in `values` left out and `values` (by field name) added after them. No submit button's own name
   * and value: pass them in `values`.
   */
  formFields(selector: string, values: Record<string, string> = {}): [string, string][] {
    const form = this.one(selector);
    const fields: [string, string][] = [];
    for (const control of DomUtils.findAll((e) => ['input', 'select', 'textarea'].includes(e.name), form.children)) {
      const name = control.attribs.name;
      if (!name || 'disabled' in control.attribs) continue;
      if (control.name === 'input') {
        const type = control.attribs.type ?? 'text';
        if (['submit', 'button', 'image', 'reset', 'file'].includes(type)) continue;
        if ((type === 'checkbox' || type === 'radio') && !('checked' in control.attribs)) continue;
        fields.push([name, control.attribs.value ?? (type === 'checkbox' ? 'on' : '')]);
      } else if (control.name === 'select') {
        const options = DomUtils.findAll((e) => e.name === 'option', control.children);
        const chosen = options.filter((o) => 'selected' in o.attribs);
        for (const option of chosen.length > 0 || 'multiple' in control.attribs ? chosen : options.slice(0, 1)) fields.push([name, option.attribs.value ?? textOf(option)]);
      } else {
        fields.push([name, DomUtils.textContent(control).replace(/^\n/, '')]);
      }
    }
    const given = new Set(Object.keys(values));
    return [...fields.filter(([name]) => !given.has(name)), ...Object.entries(values)];
  }

  /** The form control the label whose words start with `label` is for (the hints inside a label are ignored). */
  control(label: string): Element {
    const found = this.all('label').find((l) => {
      const words = textOf(l);
      return words === label || words.startsWith(`${label} `);
    });
    assert.ok(found, `no label ${JSON.stringify(label)} on the page`);
    if (found.attribs.for) return this.one(`#${found.attribs.for}`);
    const [inner] = DomUtils.findAll((e) => ['input', 'select', 'textarea'].includes(e.name), found.children);
    assert.ok(inner, `the label ${JSON.stringify(label)} names no control`);
    return inner;
  }

  /** The texts of every element matching `selector`. */
  texts(selector: string): string[] {
    return this.all(selector).map(textOf);
  }

  count(selector: string): number {
    return this.all(selector).length;
  }

  /** An attribute of the first element matching `selector` (null when it has none). */
  attr(selector: string, name: string): string | null {
    return this.one(selector).attribs[name] ?? null;
  }
}

// Elements a browser lays out as blocks or cells: innerText separates their text from their neighbours'.
const SEPARATED = new Set(['address', 'article', 'aside', 'br', 'dd', 'div', 'dl', 'dt', 'footer', 'form', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
  'header', 'hr', 'li', 'main', 'nav', 'ol', 'p', 'pre', 'section', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr', 'ul']);

/**
 * An element's text as a reader sees its words: entities decoded, blocks and cells apart (as
 * innerText has them), whitespace runs as one space; no script or style.
 */
export function textOf(element: Element): string {
  const parts: string[] = [];
  const walk = (node: Element['children'][number]) => {
    if (node.type === 'text') parts.push((node as unknown as { data: string }).data);
    else if (node.type === 'tag') {
      const tag = node as Element;
      if (SEPARATED.has(tag.name)) parts.push(' ');
      for (const child of tag.children) walk(child);
      if (SEPARATED.has(tag.name)) parts.push(' ');
    }
  };
  for (const child of element.children) walk(child);
  return parts.join('').replace(/\s+/g, ' ').trim();
}

interface Step {
  tag: string | null;
  id: string | null;
  classes: string[];
  attrs: [string, string | null][];
}

// A compound selector: tag, #id, .class (any number), [attr] and [attr=value] (quoted or not).
function parseStep(text: string): Step {
  const step: Step = { tag: null, id: null, classes: [], attrs: [] };
  const pattern = /^([a-z][a-z0-9-]*)|#([\w-]+)|\.([\w-]+)|\[([\w-]+)(?:=(?:"([^"]*)"|([^\]]*)))?\]/gy;
  let at = 0;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    at = pattern.lastIndex;
    if (match[1]) step.tag = match[1];
    else if (match[2]) step.id = match[2];
    else if (match[3]) step.classes.push(match[3]);
    else step.attrs.push([match[4]!, match[5] ?? match[6] ?? null]);
    if (at === text.length) break;
  }
  if (at !== text.length) throw new Error(`ui-http: selector part ${JSON.stringify(text)} is not tag#id.class[attr=value]`);
  return step;
}

function matchesStep(element: Element, step: Step): boolean {
  if (step.tag && element.name !== step.tag) return false;
  if (step.id && element.attribs.id !== step.id) return false;
  const classes = (element.attribs.class ?? '').split(/\s+/);
  if (!step.classes.every((c) => classes.includes(c))) return false;
  return step.attrs.every(([name, value]) => (value === null ? name in element.attribs : element.attribs[name] === value));
}

// Descendant combinators only: the last step matches the element, the others its ancestors in order.
function matchesPath(element: Element, steps: Step[]): boolean {
  if (!matchesStep(element, steps.at(-1)!)) return false;
  let i = steps.length - 2;
  for (let parent = element.parent; parent && i >= 0; parent = parent.parent) {
    if (parent.type === 'tag' && matchesStep(parent as Element, steps[i]!)) i--;
  }
  return i < 0;
}

/** A signed-in UI session over HTTP: its cookies (session, flash) kept as a browser keeps them, and its CSRF token. */
export class UiSession {
  private constructor(readonly baseUrl: string, private readonly jar = new Map<string, string>(), private csrf = '') {}

  /** The same session (cookies and CSRF token, which a browser sends to every port of a host) on another server. */
  at(baseUrl: string): UiSession {
    return new UiSession(baseUrl, this.jar, this.csrf);
  }

  /** A cookie's value as the session holds it (undefined when it holds none). */
  cookie(name: string): string | undefined {
    return this.jar.get(name);
  }

  /** Puts a cookie in the session, as a person with the browser's storage could. */
  setCookie(name: string, value: string): void {
    this.jar.set(name, value);
  }

  /** Whether GET `path` sends this session to the sign-in page (fails on a server error). */
  async landsOnSignIn(path: string): Promise<boolean> {
    const page = await this.get(path);
    assert.ok(page.status < 500, `${path} answered ${page.status}`);
    if (page.status === 302 || page.status === 303) return new URL(page.headers.get('location')!, this.baseUrl).pathname === '/ui/sign-in';
    return false;
  }

  /** Signs in through the sign-in form (its CSRF pair included) as a browser would. */
  static async signIn(baseUrl: string, token: string): Promise<UiSession> {
    const session = new UiSession(baseUrl);
    await session.signIn(token);
    return session;
  }

  /** Signs this session in (again) with `token` through the sign-in form. */
  async signIn(token: string): Promise<void> {
    const session = this as UiSession;
    const form = await session.get('/ui/sign-in');
    assert.equal(form.status, 200);
    assert.ok(session.jar.has('ks_presign'), 'the sign-in form sets its CSRF cookie');
    const answer = await session.send('POST', '/ui/sign-in', { token, next: '/ui/jobs', _csrf: form.attr('form input[name=_csrf]', 'value')! });
    assert.equal(answer.status, 303, `the sign-in form takes the token: ${answer.status}`);
    assert.ok(session.jar.has('ks_session'), 'signing in sets the session cookie');
    const jobs = await session.get('/ui/jobs');
    assert.equal(jobs.status, 200);
    session.csrf = JSON.parse(jobs.attr('body', 'hx-headers') ?? '{}')['x-csrf-token'] as string;
    assert.ok(session.csrf, 'a signed-in page carries its CSRF token');
  }

  /** GETs a UI page (redirects not followed) and parses it; `htmx` asks as htmx does, for a route's fragment. */
  get(path: string, { htmx = false }: { htmx?: boolean } = {}): Promise<HtmlPage> {
    return this.send('GET', path, undefined, htmx ? { 'hx-request': 'true' } : {});
  }

  /**
   * POSTs a form (redirects not followed). An object gets this session's CSRF token unless it names its
   * own `_csrf`, as the page's own forms carry it; a list of fields (HtmlPage.formFields) is sent as it is.
   */
  post(path: string, form: Record<string, string> | [string, string][]): Promise<HtmlPage> {
    return this.send('POST', path, Array.isArray(form) ? form : { _csrf: this.csrf, ...form });
  }

  /** Opens a server-sent event stream (as htmx's sse extension does); read its events with `waitFor`. */
  async stream(path: string): Promise<EventStream> {
    const abort = new AbortController();
    const response = await fetch(`${this.baseUrl}${path}`, { headers: { cookie: this.cookieHeader() }, signal: abort.signal });
    assert.equal(response.status, 200, path);
    return new EventStream(path, response, abort);
  }

  private async send(method: 'GET' | 'POST', path: string, form?: Record<string, string> | [string, string][], extra: Record<string, string> = {}): Promise<HtmlPage> {
    const headers: Record<string, string> = { ...extra, cookie: this.cookieHeader() };
    if (form) Object.assign(headers, { 'content-type': 'application/x-www-form-urlencoded', origin: this.baseUrl });
    const response = await fetch(`${this.baseUrl}${path}`, { method, redirect: 'manual', headers, ...(form ? { body: new URLSearchParams(form).toString() } : {}) });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      const gone = value === '' || attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) < Date.now()));
      if (gone) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return new HtmlPage(response.status, response.headers, await response.text());
  }

  private cookieHeader(): string {
    return [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

export interface SseEvent {
  event: string;
  data: string;
}

/** A server-sent event stream being read: every event so far, and a wait for the one a test expects. */
export class EventStream {
  readonly events: SseEvent[] = [];
  private ended = false;
  private wake: (() => void) | null = null;

  constructor(readonly path: string, response: Response, private readonly abort: AbortController) {
    void this.read(response);
  }

  private async read(response: Response): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(bytes, { stream: true });
        for (let at = buffered.indexOf('\n\n'); at >= 0; at = buffered.indexOf('\n\n')) {
          const lines = buffered.slice(0, at).split('\n');
          buffered = buffered.slice(at + 2);
          const event = lines.find((line) => line.startsWith('event: '))?.slice(7) ?? 'message';
          this.events.push({ event, data: lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n') });
        }
        this.wake?.();
      }
    } catch {
      // Closed by close(), or the server went away: either ends the stream.
    }
    this.ended = true;
    this.wake?.();
  }

  /** The first event (of all so far, or to come within `timeoutMs`) that `matches`; fails when none comes. */
  async waitFor(matches: (event: SseEvent) => boolean, timeoutMs = 15_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(matches);
      if (found) return found;
      if (this.ended) assert.fail(`the stream ${this.path} ended without the event waited for; it sent ${JSON.stringify(this.events)}`);
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`no such event within ${timeoutMs} ms on ${this.path}; it sent ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  close(): void {
    this.abort.abort();
  }
}
