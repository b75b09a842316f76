// The run page, GET /ui/runs/<ref> (a run id, `job#N` sent as `job%23N`, `job~N`, or an id prefix:
// the API's run-ref reading), where every alert's "Open in KubeScribe" link lands: status, timeline,
// params, outputs, metrics, the error, notifications, retry links, and the log — its head and tail,
// the rest a page at a time, searched in the RunLog, and followed live (the API's LogFollowers, the
// same stream as GET /runs/{id}/logs?follow=true) until the run ends. Retry and Cancel call the
// services the API calls (src/runs/retry-run.ts, cancel-run.ts).
import type { FastifyRequest } from 'fastify';
import { LogFollowers } from '../../api/log-stream.ts';
import { runRefApiError } from '../../api/routes/run-ref-param.ts';
import { resolveRunRef } from '../../runlog/run-ref.ts';
import { listRunNotifications } from '../../runlog/sql/notification-deliveries.ts';
import { getRunLink, listRetriesOf } from '../../runlog/sql/run-links.ts';
import { readRunEvents } from '../../runlog/sql/run-logs.ts';
import { getRunRetry } from '../../runlog/sql/run-retries.ts';
import { getRun } from '../../runlog/sql/runs.ts';
import { isTerminal, type RunRecord } from '../../runlog/types.ts';
import { formatBytes } from '../../runner/log-capture.ts';
import { cancelRun } from '../../runs/cancel-run.ts';
import { ConcurrencyConflictError, IdempotencyConflictError, RunNotFoundError, RunStateConflictError } from '../../runs/errors.ts';
import { retryRun } from '../../runs/retry-run.ts';
import { InvalidParamsError } from '../../runs/trigger-run.ts';
import { flash } from '../flash.ts';
import { openLog, readGap, searchLog, MAX_SEARCH_LENGTH } from '../log-view.ts';
import { buildTimeline } from '../run-timeline.ts';
import { canDo, requireScope } from '../session.ts';
import type { UiContext, UiPageModule } from '../ui-context.ts';
import { UiError } from '../ui-errors.ts';

// run_logs.seq is a PostgreSQL integer.
const MAX_SEQ = 2_147_483_647;
const SEQ = { type: 'string', pattern: '^[0-9]{1,10}$' } as const;
const RefParams = { type: 'object', properties: { ref: { type: 'string', minLength: 1, maxLength: 200 } }, required: ['ref'] } as const;
const GapQuery = { type: 'object', properties: { after_seq: SEQ, before_seq: SEQ }, required: ['after_seq', 'before_seq'], additionalProperties: false } as const;
const StreamQuery = { type: 'object', properties: { after_seq: SEQ }, additionalProperties: false } as const;
const SearchQuery = { type: 'object', properties: { q: { type: 'string', maxLength: MAX_SEARCH_LENGTH } }, additionalProperties: false } as const;
const ActionBody = {
  type: 'object',
  properties: { _csrf: { type: 'string' }, reason: { type: 'string', maxLength: 1000 } },
  additionalProperties: false,
} as const;

const seqOf = (text: string | undefined): number => Math.min(Number(text ?? 0), MAX_SEQ);

/** The run id a `:ref` names, or the API's error for it (400 malformed or ambiguous, 404 none). */
async function runIdOf(ui: UiContext, ref: string): Promise<string> {
  try {
    return await resolveRunRef(ui.deps.db, ref);
  } catch (error) {
    throw runRefApiError(error);
  }
}

async function loadRun(ui: UiContext, ref: string): Promise<RunRecord> {
  const run = await getRun(ui.deps.db, await runIdOf(ui, ref));
  if (!run) throw new UiError(404, 'No such run', `There is no run ${ref}.`);
  return run;
}

/** Domain errors of Retry and Cancel as the page words them. */
function actionError(error: unknown): unknown {
  if (error instanceof RunNotFoundError) return new UiError(404, 'No such run', error.message);
  if (error instanceof RunStateConflictError || error instanceof ConcurrencyConflictError || error instanceof IdempotencyConflictError) {
    return new UiError(409, 'Cannot do that now', error.message);
  }
  if (error instanceof InvalidParamsError) {
    return new UiError(400, 'The params are not valid any more', `${error.message}. Use "Rerun with changes" to correct them.`);
  }
  return error;
}

const pretty = (value: unknown) => JSON.stringify(value, null, 2);

/** Everything the run page shows, read with the API's queries. */
async function runPageData(ui: UiContext, request: FastifyRequest, run: RunRecord) {
  const db = ui.deps.db;
  const [events, notifications, retryDecision, retries, original, log] = await Promise.all([
    readRunEvents(db, run.run_id),
    listRunNotifications(db, run.run_id),
    getRunRetry(db, run.run_id),
    listRetriesOf(db, run.run_id),
    run.retry_of ? getRunLink(db, run.retry_of) : Promise.resolve(null),
    openLog(db, run.run_id),
  ]);
  const live = !isTerminal(run.status);
  const job = ui.deps.config.jobs.get(run.job) ?? null;
  const canTrigger = canDo(request, 'trigger');
  return {
    run,
    zone: job?.time_zone ?? 'UTC',
    declared: job !== null,
    timeline: buildTimeline(events),
    notifications,
    retryDecision,
    retries,
    original,
    log,
    live,
    afterSeq: log.tail?.lastSeq ?? log.head.lastSeq,
    streamUrl: live ? `/ui/runs/${run.run_id}/log/stream` : null,
    params: Object.entries(run.params ?? {}).map(([name, value]) => ({ name, value: typeof value === 'string' ? value : pretty(value) })),
    outputs: Object.entries(run.outputs ?? {}).map(([name, value]) => ({ name, value: typeof value === 'string' ? value : pretty(value) })),
    metrics: Object.entries(run.metrics ?? {}),
    executorRef: Object.keys(run.executor_ref ?? {}).length > 0 ? pretty(run.executor_ref) : null,
    logBytes: formatBytes(run.log_bytes ?? 0),
    droppedBytes: run.log_dropped_bytes > 0 ? formatBytes(run.log_dropped_bytes) : null,
    formatBytes,
    can: {
      cancel: canTrigger && live,
      retry: canTrigger && !live && job !== null,
      rerun: canTrigger && job !== null,
    },
    assets: { runJs: ui.assetUrl('run-log.js'), runCss: ui.assetUrl('run.css') },
  };
}

/** GET /ui/runs/:ref and its parts (log pages, search, live stream, summary); POST retry and cancel. */
export const runPages: UiPageModule = (app, ui) => {
  const followers = new LogFollowers(ui.deps.db, app.log, ui.deps.logStream);
  // Open streams would hold server.close() until their clients hang up: end them first.
  app.addHook('preClose', () => followers.close());

  app.get('/ui/runs/:ref', { schema: { hide: true, params: RefParams } }, async (request, reply) => {
    requireScope(request, 'read');
    const { ref } = request.params as { ref: string };
    const run = await loadRun(ui, ref);
    return ui.render(reply, 'run', await runPageData(ui, request, run), { title: `${run.job}#${run.run_number}` });
  });

  // The status block, re-read when the live log says the run has started.
  app.get('/ui/runs/:ref/summary', { schema: { hide: true, params: RefParams } }, async (request, reply) => {
    requireScope(request, 'read');
    const run = await loadRun(ui, (request.params as { ref: string }).ref);
    const html = await ui.renderFragment(reply, 'partials/run-summary', { run, zone: ui.deps.config.jobs.get(run.job)?.time_zone ?? 'UTC' });
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  });

  // One more page of a log's gap, and the gap that remains: the htmx "load more".
  app.get('/ui/runs/:ref/log', { schema: { hide: true, params: RefParams, querystring: GapQuery } }, async (request, reply) => {
    requireScope(request, 'read');
    const runId = await runIdOf(ui, (request.params as { ref: string }).ref);
    const query = request.query as { after_seq: string; before_seq: string };
    const page = await readGap(ui.deps.db, runId, seqOf(query.after_seq), seqOf(query.before_seq));
    const html = await ui.renderFragment(reply, 'partials/log-page', { runId, section: page.section, gap: page.gap, formatBytes });
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  });

  // The whole stored log searched in the RunLog; a fragment for htmx, a page without it.
  app.get('/ui/runs/:ref/log/search', { schema: { hide: true, params: RefParams, querystring: SearchQuery } }, async (request, reply) => {
    requireScope(request, 'read');
    const run = await loadRun(ui, (request.params as { ref: string }).ref);
    const q = ((request.query as { q?: string }).q ?? '').trim();
    const found = q === '' ? { matches: [], truncated: false } : await searchLog(ui.deps.db, run.run_id, q);
    const data = { run, q, ...found };
    if (request.headers['hx-request'] === 'true') {
      const html = await ui.renderFragment(reply, 'partials/log-search', data);
      return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
    }
    return ui.render(reply, 'run-log-search', { ...data, runCss: ui.assetUrl('run.css') }, { title: `Search ${run.job}#${run.run_number}` });
  });

  // The live log: the API's follower stream (same feed, same events, and the run's status changes so
  // that the page shows queued → running before any output), authorised by the session.
  app.get('/ui/runs/:ref/log/stream', { schema: { hide: true, params: RefParams, querystring: StreamQuery } }, async (request, reply) => {
    requireScope(request, 'read');
    const runId = await runIdOf(ui, (request.params as { ref: string }).ref);
    if ((await getRun(ui.deps.db, runId)) === null) throw new UiError(404, 'No such run', `There is no run ${runId}.`);
    const lastEventId = request.headers['last-event-id'];
    const resume = typeof lastEventId === 'string' && /^[0-9]{1,10}$/.test(lastEventId) ? seqOf(lastEventId) : null;
    await followers.follow(runId, resume ?? seqOf((request.query as { after_seq?: string }).after_seq), reply, { statusEvents: true });
    return reply;
  });

  app.post('/ui/runs/:ref/cancel', { schema: { hide: true, params: RefParams, body: ActionBody } }, async (request, reply) => {
    const session = requireScope(request, 'trigger');
    const run = await loadRun(ui, (request.params as { ref: string }).ref);
    const result = await cancelRun(ui.deps, run.run_id, session.actor).catch((error: unknown) => {
      throw actionError(error);
    });
    flash(reply, result.status === 'cancelled'
      ? `${run.job}#${run.run_number} is cancelled.`
      : `Cancelling ${run.job}#${run.run_number}: its executor is stopping it (SIGTERM, then SIGKILL after the grace period).`);
    return reply.redirect(`/ui/runs/${run.run_id}`, 303);
  });

  app.post('/ui/runs/:ref/retry', { schema: { hide: true, params: RefParams, body: ActionBody } }, async (request, reply) => {
    const session = requireScope(request, 'trigger');
    const run = await loadRun(ui, (request.params as { ref: string }).ref);
    const reason = ((request.body as { reason?: string } | undefined)?.reason ?? '').trim();
    const result = await retryRun(ui.deps, run.run_id, { triggered_by: session.actor, reason: reason || null }).catch((error: unknown) => {
      throw actionError(error);
    });
    const created = result.run!;
    flash(reply, `Retry of ${run.job}#${run.run_number} created as ${created.job}#${created.run_number}.`);
    return reply.redirect(`/ui/runs/${created.run_id}`, 303);
  });
};
