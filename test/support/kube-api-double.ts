// A strict Kubernetes API server double for tests: real HTTP on loopback, the real paths of the
// resources KubeScribe uses (batch/v1 Jobs and CronJobs, v1 Pods, and TokenReview: see kube-api-double-tokens.ts), a global resourceVersion, watch
// streams with replay and 410 Gone, label selectors, Status objects with the codes and reasons a real
// API server sends, RBAC denials, injectable faults, and every created or replaced Job and CronJob
// validated against the official schemas. The simulated Job controller and kubelet live in
// kube-api-double-kubelet.ts. Behaviour that differs from a real cluster is documented where it is.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { validateManifest } from '../../src/kubernetes/validate.ts';
import { Kubelet, type KubeletOptions } from './kube-api-double-kubelet.ts';
import { TokenAuthority, type IssueTokenOptions } from './kube-api-double-tokens.ts';

// Kubernetes objects are open-ended JSON; the double reads and writes them as such.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KubeObject = Record<string, any>;
export type Resource = 'jobs' | 'cronjobs' | 'pods';
/** What requests, faults and RBAC denials can name: the stored resources and the create-only TokenReview. */
export type ApiResource = Resource | 'tokenreviews';
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface ResourceInfo { group: string; apiVersion: string; kind: string; validated: boolean }
const RESOURCES: Record<Resource, ResourceInfo> = {
  jobs: { group: 'batch', apiVersion: 'batch/v1', kind: 'Job', validated: true },
  cronjobs: { group: 'batch', apiVersion: 'batch/v1', kind: 'CronJob', validated: true },
  pods: { group: '', apiVersion: 'v1', kind: 'Pod', validated: false },
};
const GROUPS: Record<ApiResource, string> = { jobs: 'batch', cronjobs: 'batch', pods: '', tokenreviews: 'authentication.k8s.io' };

/** A fault injected into the next matching requests. */
export interface Fault {
  verb: Verb;
  resource: ApiResource;
  /** `status`: answer with this HTTP code (a Status object); `hang`: never answer; `hang-after`: apply the request, then never answer. */
  kind: 'status' | 'hang' | 'hang-after';
  code?: number;
  /** How many requests it applies to (default 1). */
  times?: number;
}

/** One request the double received, for assertions. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  verb: Verb | null;
  resource: ApiResource | null;
  contentType: string | null;
  body: unknown;
  status: number;
}

interface HistoryEntry { rv: number; resource: Resource; namespace: string; type: WatchEventType; object: KubeObject }
interface Watcher { res: ServerResponse; resource: Resource; namespace: string | null; selector: Selector; bookmarks: boolean; timer: NodeJS.Timeout | null }

export interface KubeApiDoubleOptions extends KubeletOptions {
  /** Identity named in 403 messages, as the API server names the caller. */
  user?: string;
  /** Awaited before a create is stored: lets a test look at the world at that moment. */
  beforeCreate?: (resource: Resource, obj: KubeObject) => Promise<void> | void;
  /** Awaited after a TokenReview was decided, before it is answered: lets a test change the world in between. */
  afterTokenReview?: (review: KubeObject) => Promise<void> | void;
}

/** Starts the double on 127.0.0.1:<free port>. */
export async function startKubeApiDouble(options: KubeApiDoubleOptions = {}): Promise<KubeApiDouble> {
  const double = new KubeApiDouble(options);
  await double.listen();
  return double;
}

/** The double's state and controls; tests read `objects`, `requests` and drive faults through it. */
export class KubeApiDouble {
  url = '';
  readonly requests: RecordedRequest[] = [];
  /** Deletes received, with the propagation policy each one used. */
  readonly deletions: { resource: Resource; name: string; propagationPolicy: string }[] = [];
  readonly kubelet: Kubelet;
  /** Issues the ServiceAccount tokens the TokenReview API checks. */
  readonly tokens: TokenAuthority;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly store = new Map<string, KubeObject>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly denied = new Set<string>();
  private faults: Fault[] = [];
  private rv = 1000;
  // Watches from before this resourceVersion get 410 Gone (etcd compacted the history).
  private compactedRv = 0;
  private readonly user: string;
  private readonly beforeCreate: KubeApiDoubleOptions['beforeCreate'];
  private readonly afterTokenReview: KubeApiDoubleOptions['afterTokenReview'];

  constructor(options: KubeApiDoubleOptions) {
    this.user = options.user ?? 'system:serviceaccount:default:kubescribe';
    this.beforeCreate = options.beforeCreate;
    this.afterTokenReview = options.afterTokenReview;
    this.tokens = new TokenAuthority((namespace, name) => this.get('pods', namespace, name));
    this.kubelet = new Kubelet(this, options);
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.kubelet.stop();
    for (const watcher of this.watchers) this.endWatch(watcher);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- controls --------------------------------------------------------------------------------

  /** Answers the next matching requests with a fault. */
  inject(fault: Fault): void {
    this.faults.push({ ...fault, times: fault.times ?? 1 });
  }

  /** Denies a verb on a resource, as a Role without it would (403 Forbidden). */
  deny(verb: Verb, resource: ApiResource): void {
    this.denied.add(`${verb} ${resource}`);
  }

  allow(verb: Verb, resource: ApiResource): void {
    this.denied.delete(`${verb} ${resource}`);
  }

  /** Closes every open watch connection abruptly, as a restarting API server or a proxy would. */
  dropWatches(): void {
    for (const watcher of this.watchers) {
      watcher.res.socket?.destroy();
      this.endWatch(watcher);
    }
  }

  /** A ServiceAccount token, as TokenRequest issues it (bound to a pod, for an audience, expiring). */
  issueToken(options: IssueTokenOptions): string {
    return this.tokens.issue(options);
  }

  /** Forgets the change history: a watch from any earlier resourceVersion now gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv + 1;
    this.history.length = 0;
  }

  /** Sends a BOOKMARK with the current resourceVersion to watches that asked for bookmarks. */
  bookmark(): void {
    for (const watcher of this.watchers) if (watcher.bookmarks) this.sendBookmark(watcher);
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  /** The stored objects of a resource in a namespace, by name. */
  list(resource: Resource, namespace: string): KubeObject[] {
    const prefix = `${resource}/${namespace}/`;
    return [...this.store.entries()].filter(([key]) => key.startsWith(prefix)).map(([, obj]) => structuredClone(obj));
  }

  get(resource: Resource, namespace: string, name: string): KubeObject | undefined {
    const obj = this.store.get(key(resource, namespace, name));
    return obj ? structuredClone(obj) : undefined;
  }

  /** How many requests of a verb on a resource were received (faulted ones included). */
  count(verb: Verb, resource: ApiResource): number {
    return this.requests.filter((request) => request.verb === verb && request.resource === resource).length;
  }

  // ---- the store, for the kubelet and for tests ------------------------------------------------

  /** Stores a new object as the API server would (uid, resourceVersion, creationTimestamp) and emits ADDED. */
  createObject(resource: Resource, namespace: string, obj: KubeObject): KubeObject {
    const info = RESOURCES[resource];
    const stored: KubeObject = {
      ...structuredClone(obj),
      apiVersion: info.apiVersion,
      kind: info.kind,
      metadata: {
        ...structuredClone(obj.metadata ?? {}),
        namespace,
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString(),
        generation: 1,
      },
    };
    stored.status ??= {};
    this.save(resource, namespace, stored, 'ADDED');
    if (resource === 'jobs') this.kubelet.jobCreated(stored);
    return structuredClone(stored);
  }

  /** Replaces an object's content (a new resourceVersion) and emits MODIFIED. */
  updateObject(resource: Resource, namespace: string, obj: KubeObject): KubeObject {
    const stored = structuredClone(obj);
    this.save(resource, namespace, stored, 'MODIFIED');
    return structuredClone(stored);
  }

  /** Changes an object in place through `change`; returns null when it does not exist. */
  modify(resource: Resource, namespace: string, name: string, change: (obj: KubeObject) => void): KubeObject | null {
    const current = this.store.get(key(resource, namespace, name));
    if (!current) return null;
    const next = structuredClone(current);
    change(next);
    return this.updateObject(resource, namespace, next);
  }

  /** Removes an object and emits DELETED. */
  removeObject(resource: Resource, namespace: string, name: string): KubeObject | null {
    const k = key(resource, namespace, name);
    const current = this.store.get(k);
    if (!current) return null;
    this.store.delete(k);
    const gone = structuredClone(current);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit(resource, namespace, 'DELETED', gone);
    return gone;
  }

  private save(resource: Resource, namespace: string, obj: KubeObject, type: WatchEventType): void {
    obj.metadata.resourceVersion = String(++this.rv);
    this.store.set(key(resource, namespace, obj.metadata.name), obj);
    this.emit(resource, namespace, type, obj);
  }

  private emit(resource: Resource, namespace: string, type: WatchEventType, obj: KubeObject): void {
    const entry: HistoryEntry = { rv: this.rv, resource, namespace, type, object: structuredClone(obj) };
    this.history.push(entry);
    for (const watcher of this.watchers) {
      if (watcher.resource !== resource || (watcher.namespace !== null && watcher.namespace !== namespace)) continue;
      if (!watcher.selector(obj.metadata.labels ?? {})) continue;
      writeLine(watcher.res, { type, object: entry.object });
    }
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const raw = await readBody(req);
    const contentType = req.headers['content-type']?.split(';')[0]?.trim() ?? null;
    const route = parsePath(req.method ?? 'GET', url);
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, verb: route?.verb ?? null,
      resource: route?.resource ?? null, contentType, body: null, status: 0,
    };
    this.requests.push(recorded);
    const reply = (code: number, body: unknown) => {
      recorded.status = code;
      send(res, code, body);
    };
    if (url.pathname === '/version' && req.method === 'GET') {
      reply(200, { major: '1', minor: '31', gitVersion: 'v1.31.0-kubescribe-double', platform: 'linux/amd64' });
      return;
    }
    if (!route) {
      reply(404, status(404, 'NotFound', `the server could not find the requested resource (${req.method} ${url.pathname})`));
      return;
    }
    const { verb, resource, namespace, name, sub } = route;
    let body: KubeObject | null = null;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw) as KubeObject;
        recorded.body = body;
      } catch (error) {
        reply(400, status(400, 'BadRequest', `the body of the request was in an unknown format: ${(error as Error).message}`));
        return;
      }
    }
    if (this.denied.has(`${verb} ${resource}`)) {
      const group = GROUPS[resource];
      const what = `${resource}${group ? `.${group}` : ''}${name ? ` "${name}"` : ''}`;
      const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
      reply(403, status(403, 'Forbidden',
        `${what} is forbidden: User "${this.user}" cannot ${verb} resource "${resource}" in API group "${group}" ${scope}`,
        { name, group, kind: resource }));
      return;
    }
    const fault = this.takeFault(verb, resource);
    if (fault?.kind === 'status') {
      const code = fault.code ?? 500;
      reply(code, status(code, code === 503 ? 'ServiceUnavailable' : code === 504 ? 'Timeout' : 'InternalError',
        code === 504 ? 'the server was unable to return a response in the time allotted' : 'an error on the server ("etcdserver: leader changed") has prevented the request from succeeding'));
      return;
    }
    if (fault?.kind === 'hang') return;
    if (resource === 'tokenreviews') {
      // Create-only, as on a real API server: any other method on the collection is 405.
      if (verb !== 'create') {
        reply(405, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
        return;
      }
      if (!body) {
        reply(400, status(400, 'BadRequest', 'a request body is required'));
        return;
      }
      const review = this.tokens.review(body, url.searchParams);
      if (review.code === 201) await this.afterTokenReview?.(review.body);
      if (review.warning) res.setHeader('Warning', review.warning);
      if (fault?.kind === 'hang-after') recorded.status = review.code;
      else reply(review.code, review.body);
      return;
    }
    if (verb === 'create' && body) await this.beforeCreate?.(resource, body);
    const respond = fault?.kind === 'hang-after' ? (code: number) => (recorded.status = code) : reply;
    const answer = this.serve(verb, resource, namespace, name, sub, url.searchParams, body, contentType, res, recorded);
    if (answer) respond(answer.code, answer.body);
  }

  private takeFault(verb: Verb, resource: ApiResource): Fault | null {
    const fault = this.faults.find((f) => f.verb === verb && f.resource === resource);
    if (!fault) return null;
    fault.times! -= 1;
    if (fault.times! <= 0) this.faults = this.faults.filter((f) => f !== fault);
    return fault;
  }

  private serve(
    verb: Verb, resource: Resource, namespace: string, name: string | null, sub: string | null, query: URLSearchParams,
    body: KubeObject | null, contentType: string | null, res: ServerResponse, recorded: RecordedRequest,
  ): { code: number; body: unknown } | null {
    const info = RESOURCES[resource];
    const notFound = () => ({
      code: 404,
      body: status(404, 'NotFound', `${resource}${info.group ? `.${info.group}` : ''} "${name}" not found`, { name, group: info.group, kind: resource }),
    });
    switch (verb) {
      case 'get': {
        const obj = this.store.get(key(resource, namespace, name!));
        if (!obj) return notFound();
        if (sub === 'log') {
          recorded.status = 200;
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(this.kubelet.logOf(name!));
          return null;
        }
        return { code: 200, body: obj };
      }
      case 'list': {
        const selector = parseSelector(query.get('labelSelector') ?? '');
        if (typeof selector === 'string') return { code: 400, body: status(400, 'BadRequest', `unable to parse requirement: ${selector}`) };
        const items = this.list(resource, namespace)
          .filter((obj) => selector(obj.metadata.labels ?? {}))
          .map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
        return { code: 200, body: { apiVersion: info.apiVersion, kind: `${info.kind}List`, metadata: { resourceVersion: String(this.rv) }, items } };
      }
      case 'watch':
        this.startWatch(resource, namespace, query, res, recorded);
        return null;
      case 'create': {
        if (!body) return { code: 400, body: status(400, 'BadRequest', 'a request body is required') };
        const invalid = this.check(resource, namespace, body);
        if (invalid) return invalid;
        if (!body.metadata?.name && body.metadata?.generateName) {
          body.metadata.name = `${body.metadata.generateName}${randomUUID().slice(0, 5)}`;
        }
        if (this.store.has(key(resource, namespace, body.metadata.name))) {
          return {
            code: 409,
            body: status(409, 'AlreadyExists', `${resource}${info.group ? `.${info.group}` : ''} "${body.metadata.name}" already exists`,
              { name: body.metadata.name, group: info.group, kind: resource }),
          };
        }
        if (query.get('dryRun') === 'All') return { code: 201, body };
        return { code: 201, body: this.createObject(resource, namespace, body) };
      }
      case 'update': {
        if (!body) return { code: 400, body: status(400, 'BadRequest', 'a request body is required') };
        const current = this.store.get(key(resource, namespace, name!));
        if (!current) return notFound();
        if (body.metadata?.name !== name) {
          return { code: 400, body: status(400, 'BadRequest', `the name of the object (${body.metadata?.name}) does not match the name on the URL (${name})`) };
        }
        const invalid = this.check(resource, namespace, body) ?? this.immutable(resource, current, body);
        if (invalid) return invalid;
        const expected = body.metadata.resourceVersion;
        if (expected !== undefined && expected !== current.metadata.resourceVersion) return conflict(resource, name!);
        return { code: 200, body: this.updateObject(resource, namespace, this.keepServerFields(current, body)) };
      }
      case 'patch': {
        const current = this.store.get(key(resource, namespace, name!));
        if (!current) return notFound();
        if (contentType !== 'application/merge-patch+json' && contentType !== 'application/strategic-merge-patch+json') {
          return { code: 415, body: status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got ${contentType})`) };
        }
        if (!body || typeof body !== 'object' || Array.isArray(body)) return { code: 400, body: status(400, 'BadRequest', 'a patch must be a JSON object') };
        // Strategic merge differs from a merge patch only for lists with merge keys (containers by
        // name...); KubeScribe patches no lists, so both are applied as RFC 7386 here.
        const next = mergePatch(structuredClone(current), body) as KubeObject;
        const expected = body.metadata?.resourceVersion;
        if (expected !== undefined && expected !== current.metadata.resourceVersion) return conflict(resource, name!);
        const invalid = this.check(resource, namespace, next) ?? this.immutable(resource, current, next);
        if (invalid) return invalid;
        return { code: 200, body: this.updateObject(resource, namespace, this.keepServerFields(current, next)) };
      }
      case 'delete': {
        const current = this.store.get(key(resource, namespace, name!));
        if (!current) return notFound();
        // batch/v1 Jobs and CronJobs default to orphaning their dependents (a legacy the API keeps);
        // only an explicit Background or Foreground deletes their pods.
        const policy = query.get('propagationPolicy') ?? body?.propagationPolicy ?? (resource === 'pods' ? 'Background' : 'Orphan');
        if (!['Background', 'Foreground', 'Orphan'].includes(policy)) {
          return { code: 422, body: invalidStatus(resource, name!, [{ field: 'propagationPolicy', message: `Unsupported value: "${policy}"` }]) };
        }
        this.deletions.push({ resource, name: name!, propagationPolicy: policy });
        if (resource === 'pods') {
          const grace = query.get('gracePeriodSeconds') ?? body?.gracePeriodSeconds;
          this.kubelet.deletePod(namespace, name!, grace === undefined ? undefined : Number(grace));
        } else {
          this.kubelet.ownerDeleted(resource, namespace, current, policy);
        }
        return {
          code: 200,
          body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: info.group, kind: resource, uid: current.metadata.uid } },
        };
      }
    }
  }

  /** 422 with the offending fields, as admission and validation answer. */
  private check(resource: Resource, namespace: string, obj: KubeObject): { code: number; body: unknown } | null {
    const info = RESOURCES[resource];
    const causes: { field: string; message: string }[] = [];
    if (obj.apiVersion !== info.apiVersion || obj.kind !== info.kind) {
      return { code: 400, body: status(400, 'BadRequest', `the API version in the data (${obj.apiVersion}) and kind (${obj.kind}) do not match ${info.apiVersion} ${info.kind}`) };
    }
    if (obj.metadata?.namespace !== undefined && obj.metadata.namespace !== namespace) {
      return { code: 400, body: status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request') };
    }
    if (!obj.metadata?.name && !obj.metadata?.generateName) causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required' });
    if (info.validated) {
      // validateManifest says "<Kind> <name>: <field>: <message>".
      for (const problem of validateManifest(obj)) {
        const match = problem.match(/^[^:]+: ([^:\s]+): ([\s\S]*)$/);
        causes.push(match ? { field: match[1]!, message: match[2]! } : { field: 'spec', message: problem });
      }
    }
    return causes.length > 0 ? { code: 422, body: invalidStatus(resource, obj.metadata?.name ?? '', causes) } : null;
  }

  /** A Job's pod template cannot change once created (the API server rejects it). */
  private immutable(resource: Resource, current: KubeObject, next: KubeObject): { code: number; body: unknown } | null {
    if (resource !== 'jobs') return null;
    if (JSON.stringify(current.spec?.template) === JSON.stringify(next.spec?.template)) return null;
    return { code: 422, body: invalidStatus(resource, current.metadata.name, [{ field: 'spec.template', message: 'Invalid value: field is immutable' }]) };
  }

  /** uid, creationTimestamp and status are the server's; a client's update cannot change them. */
  private keepServerFields(current: KubeObject, next: KubeObject): KubeObject {
    return {
      ...next,
      metadata: {
        ...next.metadata,
        namespace: current.metadata.namespace,
        uid: current.metadata.uid,
        creationTimestamp: current.metadata.creationTimestamp,
        generation: (current.metadata.generation ?? 1) + (JSON.stringify(current.spec) === JSON.stringify(next.spec) ? 0 : 1),
      },
      status: current.status,
    };
  }

  private startWatch(resource: Resource, namespace: string, query: URLSearchParams, res: ServerResponse, recorded: RecordedRequest): void {
    const selector = parseSelector(query.get('labelSelector') ?? '');
    if (typeof selector === 'string') {
      recorded.status = 400;
      send(res, 400, status(400, 'BadRequest', `unable to parse requirement: ${selector}`));
      return;
    }
    recorded.status = 200;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const from = query.get('resourceVersion');
    const watcher: Watcher = { res, resource, namespace, selector, bookmarks: query.get('allowWatchBookmarks') === 'true', timer: null };
    if (from && from !== '0' && Number(from) < this.compactedRv) {
      // What a real API server does for a watch from a compacted revision: 200, one ERROR event, end.
      writeLine(res, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`) });
      res.end();
      return;
    }
    if (!from || from === '0') {
      for (const obj of this.list(resource, namespace)) if (selector(obj.metadata.labels ?? {})) writeLine(res, { type: 'ADDED', object: obj });
    } else {
      for (const entry of this.history) {
        if (entry.rv <= Number(from) || entry.resource !== resource || entry.namespace !== namespace) continue;
        if (selector(entry.object.metadata.labels ?? {})) writeLine(res, { type: entry.type, object: entry.object });
      }
    }
    this.watchers.add(watcher);
    const timeout = Number(query.get('timeoutSeconds') ?? 0);
    if (timeout > 0) {
      watcher.timer = setTimeout(() => {
        if (watcher.bookmarks) this.sendBookmark(watcher);
        this.endWatch(watcher);
      }, timeout * 1000);
    }
    res.on('close', () => this.endWatch(watcher));
  }

  private sendBookmark(watcher: Watcher): void {
    const info = RESOURCES[watcher.resource];
    writeLine(watcher.res, { type: 'BOOKMARK', object: { kind: info.kind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(this.rv) } } });
  }

  private endWatch(watcher: Watcher): void {
    if (!this.watchers.delete(watcher)) return;
    if (watcher.timer) clearTimeout(watcher.timer);
    watcher.res.end();
  }
}

// ---- helpers -----------------------------------------------------------------------------------

const key = (resource: Resource, namespace: string, name: string) => `${resource}/${namespace}/${name}`;

interface Route { verb: Verb; resource: ApiResource; namespace: string; name: string | null; sub: string | null }

function parsePath(method: string, url: URL): Route | null {
  // TokenReview is cluster-scoped: under a namespace its path does not exist (404), as on a real server.
  const review = url.pathname.match(/^\/apis\/authentication\.k8s\.io\/v1\/tokenreviews(?:\/([^/]+))?$/);
  if (review) {
    const name = review[1] ? decodeURIComponent(review[1]) : null;
    const verb: Verb = method === 'POST' && !name ? 'create' : method === 'GET' ? (name ? 'get' : 'list') : method === 'DELETE' ? 'delete' : 'update';
    return { verb, resource: 'tokenreviews', namespace: '', name, sub: null };
  }
  const match = url.pathname.match(/^\/(?:apis\/batch\/v1\/namespaces\/([^/]+)\/(jobs|cronjobs)|api\/v1\/namespaces\/([^/]+)\/(pods))(?:\/([^/]+))?(?:\/(log))?$/);
  if (!match) return null;
  const namespace = decodeURIComponent(match[1] ?? match[3]!);
  const resource = (match[2] ?? match[4]) as Resource;
  const name = match[5] ? decodeURIComponent(match[5]) : null;
  const sub = match[6] ?? null;
  if (sub && (resource !== 'pods' || method !== 'GET')) return null;
  const watching = ['true', '1'].includes(url.searchParams.get('watch') ?? '');
  const verb: Verb | null =
    method === 'GET' ? (name ? 'get' : watching ? 'watch' : 'list')
      : method === 'POST' && !name ? 'create'
        : method === 'PUT' && name ? 'update'
          : method === 'PATCH' && name ? 'patch'
            : method === 'DELETE' && name ? 'delete'
              : null;
  return verb ? { verb, resource, namespace, name, sub } : null;
}

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): KubeObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function invalidStatus(resource: Resource, name: string, causes: { field: string; message: string }[]): KubeObject {
  const info = RESOURCES[resource];
  const message = `${info.kind}.${info.group || 'core'} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`;
  return status(422, 'Invalid', message, {
    name, group: info.group, kind: info.kind,
    causes: causes.map((cause) => ({ reason: 'FieldValueInvalid', message: cause.message, field: cause.field })),
  });
}

function conflict(resource: Resource, name: string): { code: number; body: unknown } {
  const info = RESOURCES[resource];
  return {
    code: 409,
    body: status(409, 'Conflict',
      `Operation cannot be fulfilled on ${resource}${info.group ? `.${info.group}` : ''} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, group: info.group, kind: resource }),
  };
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [field, value] of Object.entries(patch)) {
    if (value === null) delete out[field];
    else out[field] = mergePatch(out[field], value);
  }
  return out;
}

type Selector = (labels: Record<string, string>) => boolean;

/** Parses a label selector (=, ==, !=, in, notin, exists, !exists); returns the bad requirement as a string. */
export function parseSelector(text: string): Selector | string {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  if (current.trim() !== '' || parts.length > 0) parts.push(current);
  const tests: Selector[] = [];
  const KEY = '([A-Za-z0-9][-A-Za-z0-9_./]*)';
  for (const raw of parts) {
    const part = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = part.match(new RegExp(`^${KEY}\\s+(in|notin)\\s+\\(([^)]*)\\)$`)))) {
      const [, label, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(',').map((value) => value.trim());
      tests.push(op === 'in' ? (l) => label in l && values.includes(l[label]!) : (l) => !(label in l) || !values.includes(l[label]!));
    } else if ((m = part.match(new RegExp(`^${KEY}\\s*(==|=|!=)\\s*([-A-Za-z0-9_.]*)$`)))) {
      const [, label, op, value] = m as unknown as [string, string, string, string];
      tests.push(op === '!=' ? (l) => l[label] !== value : (l) => l[label] === value);
    } else if ((m = part.match(new RegExp(`^!${KEY}$`)))) {
      const label = m[1]!;
      tests.push((l) => !(label in l));
    } else if ((m = part.match(new RegExp(`^${KEY}$`)))) {
      const label = m[1]!;
      tests.push((l) => label in l);
    } else {
      return part || '(empty requirement)';
    }
  }
  return (labels) => tests.every((t) => t(labels));
}

function writeLine(res: ServerResponse, event: unknown): void {
  if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(event)}\n`);
}

function send(res: ServerResponse, code: number, body: unknown): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
