// The runs page: GET /runs's filters and keyset pages (the same function, listRunPage), each run by
// status colour and words, linking to /ui/runs/<id>. While rows are live the page holds one
// Server-Sent Events stream (/ui/runs/live) that swaps in each row whose status changed and, on the
// first page, says when new runs arrived: one small query per open page every LIVE_POLL_MS, instead
// of a browser poll re-rendering the whole page (docs/ui.md, "Live updates").
import type { FastifyReply, FastifyRequest } from 'fastify';
import { listJobViews } from '../../api/routes/jobs.ts';
import { listRunPage, type RunListQuery } from '../../api/routes/runs-read.ts';
import { ApiError } from '../../api/errors.ts';
import { listRunsByIds } from '../../runlog/sql/run-queries.ts';
import { findLiveToken } from '../../runlog/sql/tokens.ts';
import { isUuid } from '../../runlog/uuidv7.ts';
import { RUN_STATUSES, TRIGGERS, type RunRecord, type RunStatus, type Trigger } from '../../runlog/types.ts';
import { isLive } from '../format.ts';
import { setSecurityHeaders } from '../security-headers.ts';
import { requireScope, SESSION_COOKIE } from '../session.ts';
import type { UiContext, UiPageModule } from '../ui-context.ts';

const PAGE_SIZE = 50;
const LIVE_POLL_MS = 2_000;
const KEEPALIVE_MS = 15_000;
// A forgotten tab stops costing queries after this long; reloading the page starts again.
const LIVE_MAX_MS = 30 * 60_000;
// The stream's token is checked again this often: a revoked token's stream ends within it.
const LIVE_AUTH_MS = 5_000;

const FILTER_FIELDS = ['job', 'status', 'trigger', 'label', 'since', 'until'] as const;
type FilterField = (typeof FILTER_FIELDS)[number];
type Filters = Partial<Record<FilterField, string>>;

const text = (maxLength: number) => ({ type: 'string', maxLength });
const FilterProperties = {
  job: text(200), status: text(20), trigger: text(20), label: text(500), since: text(40), until: text(40),
};
const ListQuery = { type: 'object', properties: { ...FilterProperties, cursor: text(500) }, additionalProperties: false } as const;
const LiveQuery = {
  type: 'object',
  properties: { ...FilterProperties, ids: text(PAGE_SIZE * 37), newest: text(36) },
  additionalProperties: false,
} as const;

// A `datetime-local` input sends `2026-12-04T14:03` (no zone; the form says UTC); an ISO time is taken too.
const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/;

/** The filters read from a query: the API's query object, or the reason for each field that is wrong. */
function readFilters(raw: Filters): { query: RunListQuery; errors: Partial<Record<FilterField | 'cursor', string>> } {
  const errors: Partial<Record<FilterField | 'cursor', string>> = {};
  const value = (field: FilterField) => {
    const v = raw[field]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const query: RunListQuery = {};
  const job = value('job');
  if (job !== undefined) query.job = job;
  const status = value('status');
  if (status !== undefined) {
    if ((RUN_STATUSES as readonly string[]).includes(status)) query.status = status as RunStatus;
    else errors.status = `must be one of ${RUN_STATUSES.join(', ')}`;
  }
  const trigger = value('trigger');
  if (trigger !== undefined) {
    if ((TRIGGERS as readonly string[]).includes(trigger)) query.trigger = trigger as Trigger;
    else errors.trigger = `must be one of ${TRIGGERS.join(', ')}`;
  }
  const label = value('label');
  if (label !== undefined) {
    if (/^[^=]+=/.test(label)) query.label = label;
    else errors.label = 'must be key=value';
  }
  for (const field of ['since', 'until'] as const) {
    const v = value(field);
    if (v === undefined) continue;
    const time = new Date(LOCAL_TIME.test(v) ? `${v.length === 16 ? `${v}:00` : v}Z` : v);
    if (Number.isNaN(time.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(v)) errors[field] = 'must be a date and time such as 2026-12-04T14:03 (UTC)';
    else query[field] = time.toISOString();
  }
  return { query, errors };
}

/** The query string of these filters (empty ones left out), for links and the live stream. */
function filterQuery(filters: Filters, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const field of FILTER_FIELDS) if (filters[field]?.trim()) params.set(field, filters[field]!.trim());
  for (const [key, v] of Object.entries(extra)) params.set(key, v);
  return params.toString();
}

/** GET /ui/runs and its live stream GET /ui/runs/live. */
export const runsPages: UiPageModule = (app, ui) => {
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  app.get('/ui/runs', { schema: { hide: true, querystring: ListQuery } }, async (request, reply) => {
    requireScope(request, 'read');
    const raw = request.query as Filters & { cursor?: string };
    const { query, errors } = readFilters(raw);
    const cursor = raw.cursor?.trim() || undefined;
    let runs: RunRecord[] = [];
    let nextCursor: string | null = null;
    if (Object.keys(errors).length === 0) {
      try {
        const page = await listRunPage(ui.deps.db, { ...query, cursor, limit: PAGE_SIZE });
        runs = page.runs;
        nextCursor = page.next_cursor;
      } catch (error) {
        if (!(error instanceof ApiError) || error.statusCode !== 400) throw error;
        errors.cursor = 'is not a page of this list any more; start from the first page';
      }
    }
    const jobs = (await listJobViews(ui.deps, null)).map((job) => job.name);
    const liveIds = runs.filter((run) => isLive(run.status)).map((run) => run.run_id);
    const firstPage = cursor === undefined;
    const live = Object.keys(errors).length === 0 && (liveIds.length > 0 || firstPage)
      ? `/ui/runs/live?${filterQuery(raw, { ids: liveIds.join(','), ...(firstPage && runs[0] ? { newest: runs[0].run_id } : {}) })}`
      : null;
    const filtered = FILTER_FIELDS.some((field) => raw[field]?.trim());
    return ui.render(reply, 'runs', {
      runs,
      filters: Object.fromEntries(FILTER_FIELDS.map((field) => [field, raw[field] ?? ''])),
      errors,
      jobs,
      statuses: RUN_STATUSES,
      triggers: TRIGGERS,
      filtered,
      firstPage,
      nextUrl: nextCursor ? `/ui/runs?${filterQuery(raw, { cursor: nextCursor })}` : null,
      firstUrl: `/ui/runs${filterQuery(raw) ? `?${filterQuery(raw)}` : ''}`,
      live,
    }, { title: 'Runs', status: Object.keys(errors).length > 0 ? 400 : 200 });
  });

  app.get('/ui/runs/live', { schema: { hide: true, querystring: LiveQuery } }, async (request, reply) => {
    requireScope(request, 'read');
    const raw = request.query as Filters & { ids?: string; newest?: string };
    const ids = (raw.ids ?? '').split(',').filter((id) => isUuid(id));
    const newest = raw.newest && isUuid(raw.newest) ? raw.newest : null;
    const { query, errors } = readFilters(raw);
    if (Object.keys(errors).length > 0) return reply.code(400).send();
    await streamRunUpdates(ui, request, reply, { ids, newest, query }, streams);
  });
};

/** Sends `run-<id>` (the row's new HTML) when a live row changes, `new-runs` once, `done` at the end. */
async function streamRunUpdates(
  ui: UiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  { ids, newest, query }: { ids: string[]; newest: string | null; query: RunListQuery },
  streams: Set<() => void>,
): Promise<void> {
  setSecurityHeaders(reply);
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string>),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // Node holds the head back until the first write, which may be the keep-alive 15 s away: the page's
  // EventSource would not open until then, and a client waiting on the headers would wait as long.
  raw.flushHeaders();
  const statuses = new Map<string, string>();
  const watching = new Set(ids);
  let announced = newest === null;
  let ended = false;
  let lastWrite = Date.now();
  const startedAt = Date.now();
  let checkedAt = startedAt;
  const stillSignedIn = async (): Promise<boolean> => {
    const opened = await ui.keys.unseal(request.cookies[SESSION_COOKIE] ?? '');
    return opened !== null && (await findLiveToken(ui.deps.db, opened.session.t)) !== null;
  };
  const send = (event: string, data: string) => {
    raw.write(`event: ${event}\n${data.split('\n').map((line) => `data: ${line}`).join('\n')}\n\n`);
    lastWrite = Date.now();
  };
  let timer: NodeJS.Timeout | undefined;
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    streams.delete(end);
    if (!raw.writableEnded) {
      try {
        send('done', '');
      } catch {
        // The client is gone already.
      }
      raw.end();
    }
  };
  streams.add(end);
  raw.on('close', end);
  const tick = async () => {
    if (ended) return;
    try {
      if (Date.now() - checkedAt >= LIVE_AUTH_MS) {
        checkedAt = Date.now();
        // Revoked, expired or signed out since the page opened: the stream ends as any request would be refused.
        if (!(await stillSignedIn())) return end();
      }
      if (watching.size > 0) {
        // The first read re-sends every row (the page may be a few seconds old); then only changes.
        for (const run of await listRunsByIds(ui.deps.db, [...watching])) {
          if (statuses.get(run.run_id) === run.status) continue;
          statuses.set(run.run_id, run.status);
          send(`run-${run.run_id}`, await ui.renderFragment(reply, 'partials/run-row', { run, live: isLive(run.status) }));
          if (!isLive(run.status)) watching.delete(run.run_id);
        }
      }
      if (!announced) {
        const page = await listRunPage(ui.deps.db, { ...query, limit: 1 });
        if (page.runs[0] && page.runs[0].run_id !== newest) {
          announced = true;
          send('new-runs', await ui.renderFragment(reply, 'partials/new-runs', {}));
        }
      }
      if (Date.now() - lastWrite >= KEEPALIVE_MS) {
        raw.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
    } catch (error) {
      request.log.warn({ err: { message: (error as Error).message } }, 'live runs update failed; the page keeps its rows');
    }
    if ((watching.size === 0 && announced) || Date.now() - startedAt > LIVE_MAX_MS) return end();
    timer = setTimeout(() => void tick(), LIVE_POLL_MS);
  };
  timer = setTimeout(() => void tick(), 0);
}
