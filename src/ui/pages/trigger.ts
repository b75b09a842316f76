// The trigger form, GET/POST /ui/jobs/<name>/trigger: a form generated from the job's params JSON
// Schema (src/ui/params-form.ts), an optional reason and idempotency key, a Preview that shows what
// the trigger would start (the API's dry run: triggerRun with dry_run, so the same checks), and the
// trigger itself through triggerRun, the one way a run is requested. With ?from=<run> it is "Rerun
// with changes": the form holds that run's params and says how they differ from the job's last
// successful run.
import type { FastifyReply } from 'fastify';
import { stringify } from 'yaml';
import type { JobDefinition } from '../../config/job-definition.ts';
import { runRefApiError } from '../../api/routes/run-ref-param.ts';
import { resolveRunRef } from '../../runlog/run-ref.ts';
import { lastSucceededRun, type RunLink } from '../../runlog/sql/run-links.ts';
import { getRun } from '../../runlog/sql/runs.ts';
import { ConcurrencyConflictError, IdempotencyConflictError, JobNotFoundError } from '../../runs/errors.ts';
import { InvalidParamsError, triggerRun, type DryRunPlan } from '../../runs/trigger-run.ts';
import { flash } from '../flash.ts';
import {
  acceptsExtraParams, attachErrors, buildParamsForm, diffParams, fieldOfErrorPath, parseParamsForm, refillFromBody,
  type FieldError, type FormBody, type FormField, type ParamChange,
} from '../params-form.ts';
import { requireScope } from '../session.ts';
import type { UiContext, UiPageModule } from '../ui-context.ts';
import { UiError } from '../ui-errors.ts';

// The API's limits for the same fields (src/api/routes/runs-write.ts TriggerBody).
const MAX_REASON = 1000;
const MAX_KEY = 255;
const FORM_FIELDS = new Set(['_csrf', 'reason', 'idempotency_key', 'action', 'from', 'params._extra']);

const NameParams = { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 200 } }, required: ['name'] } as const;
const FormQuery = { type: 'object', properties: { from: { type: 'string', minLength: 1, maxLength: 200 } }, additionalProperties: false } as const;

/** What the form page shows. */
interface FormState {
  job: JobDefinition;
  fields: FormField[];
  extra: { allowed: boolean; value: string; error: string | null };
  reason: { value: string; error: string | null };
  key: { value: string; error: string | null };
  errors: string[];
  conflictRun: string | null;
  from: RunLink | null;
  lastSuccess: RunLink | null;
  changes: ParamChange[] | null;
  preview: (DryRunPlan & { manifestText: string | null }) | null;
}

function declaredJob(ui: UiContext, name: string): JobDefinition {
  const job = ui.deps.config.jobs.get(name);
  if (!job) throw new UiError(404, 'No such job', new JobNotFoundError(name).message);
  return job;
}

async function renderForm(ui: UiContext, reply: FastifyReply, state: FormState, status = 200): Promise<FastifyReply> {
  return ui.render(reply, 'trigger', { ...state, runCss: ui.assetUrl('run.css'), maxReason: MAX_REASON, maxKey: MAX_KEY }, {
    title: `Trigger ${state.job.name}`,
    status,
  });
}

/** The last successful run, compared with `params` when there are params to compare. */
async function comparison(ui: UiContext, job: string, params: Record<string, unknown> | null) {
  const last = await lastSucceededRun(ui.deps.db, job);
  const lastSuccess: RunLink | null = last ? { run_id: last.run_id, job: last.job, run_number: last.run_number, status: last.status, attempt: last.attempt, created_at: last.created_at } : null;
  return { lastSuccess, changes: last && params ? diffParams(last.params ?? {}, params) : null };
}

/** The run a `?from=` names, or the API's error for the ref. */
async function fromRun(ui: UiContext, ref: string, job: string) {
  let runId: string;
  try {
    runId = await resolveRunRef(ui.deps.db, ref);
  } catch (error) {
    throw runRefApiError(error);
  }
  const run = await getRun(ui.deps.db, runId);
  if (!run) throw new UiError(404, 'No such run', `There is no run ${ref}.`);
  if (run.job !== job) throw new UiError(400, 'Another job', `Run ${run.job}#${run.run_number} is a run of ${run.job}, not of ${job}.`);
  return run;
}

/** Fields the form does not have are refused, naming them, as the API refuses unknown body fields. */
function checkFormFields(body: FormBody, fields: FormField[]): void {
  const known = new Set(fields.map((field) => field.input));
  const unknown = Object.keys(body).filter((name) => !FORM_FIELDS.has(name) && !known.has(name));
  if (unknown.length > 0) {
    throw new UiError(400, 'Malformed form', `The form has no field ${unknown.map((name) => JSON.stringify(name)).join(', ')}.`);
  }
  for (const name of ['_csrf', 'reason', 'idempotency_key', 'action', 'from', 'params._extra']) {
    if (Array.isArray(body[name])) throw new UiError(400, 'Malformed form', `The form field ${name} must be sent once, as text.`);
  }
}

/** GET and POST /ui/jobs/:name/trigger. */
export const triggerPages: UiPageModule = (app, ui) => {
  app.get('/ui/jobs/:name/trigger', { schema: { hide: true, params: NameParams, querystring: FormQuery } }, async (request, reply) => {
    requireScope(request, 'trigger');
    const job = declaredJob(ui, (request.params as { name: string }).name);
    const ref = (request.query as { from?: string }).from;
    const run = ref ? await fromRun(ui, ref, job.name) : null;
    const fields = buildParamsForm(job.params, run?.params);
    const declared = new Set(fields.map((field) => field.name));
    const extraParams = run ? Object.fromEntries(Object.entries(run.params).filter(([name]) => !declared.has(name))) : {};
    return renderForm(ui, reply, {
      job,
      fields,
      extra: { allowed: acceptsExtraParams(job.params), value: Object.keys(extraParams).length > 0 ? JSON.stringify(extraParams, null, 2) : '', error: null },
      reason: { value: run ? `rerun of ${run.job}#${run.run_number}` : '', error: null },
      key: { value: '', error: null },
      errors: [],
      conflictRun: null,
      from: run ? { run_id: run.run_id, job: run.job, run_number: run.run_number, status: run.status, attempt: run.attempt, created_at: run.created_at } : null,
      ...(await comparison(ui, job.name, run?.params ?? null)),
      preview: null,
    });
  });

  app.post('/ui/jobs/:name/trigger', { schema: { hide: true, params: NameParams } }, async (request, reply) => {
    const session = requireScope(request, 'trigger');
    const job = declaredJob(ui, (request.params as { name: string }).name);
    const body = (request.body ?? {}) as FormBody;
    if (typeof body !== 'object' || Array.isArray(body)) throw new UiError(400, 'Malformed form', 'The trigger form must be sent as a form.');
    const fields = buildParamsForm(job.params);
    checkFormFields(body, fields);
    refillFromBody(fields, body);
    const text = (name: string) => ((body[name] as string | undefined) ?? '');
    const extraAllowed = acceptsExtraParams(job.params);
    const state: FormState = {
      job,
      fields,
      extra: { allowed: extraAllowed, value: text('params._extra'), error: null },
      reason: { value: text('reason'), error: null },
      key: { value: text('idempotency_key'), error: null },
      errors: [],
      conflictRun: null,
      from: null,
      lastSuccess: null,
      changes: null,
      preview: null,
    };
    const fromRef = text('from');
    if (fromRef) {
      const run = await fromRun(ui, fromRef, job.name);
      state.from = { run_id: run.run_id, job: run.job, run_number: run.run_number, status: run.status, attempt: run.attempt, created_at: run.created_at };
    }
    const preview = text('action') === 'preview';
    const reason = state.reason.value.trim();
    const key = state.key.value.trim();
    const { params, errors } = parseParamsForm(fields, body, { extra: extraAllowed });
    const problems: FieldError[] = [...errors];
    if (reason.length > MAX_REASON) state.reason.error = `must be at most ${MAX_REASON} characters (it has ${reason.length})`;
    if (key.length > MAX_KEY) state.key.error = `must be at most ${MAX_KEY} characters (it has ${key.length})`;
    const failed = async (status: number) => {
      const extraError = problems.find((problem) => problem.field === '_extra');
      if (extraError) state.extra.error = extraError.message;
      state.errors.push(...attachErrors(fields, problems.filter((problem) => problem.field !== '_extra')));
      Object.assign(state, await comparison(ui, job.name, errors.length === 0 ? params : null));
      return renderForm(ui, reply, state, status);
    };
    if (problems.length > 0 || state.reason.error || state.key.error) return failed(400);

    try {
      const result = await triggerRun(ui.deps, {
        job: job.name,
        params,
        idempotency_key: key || null,
        reason: reason || null,
        trigger: 'manual',
        triggered_by: session.actor,
        dry_run: preview,
      });
      if (result.dry_run) {
        const plan = result.dry_run;
        state.preview = { ...plan, manifestText: plan.manifest ? stringify(plan.manifest) : null };
        Object.assign(state, await comparison(ui, job.name, plan.params));
        return renderForm(ui, reply, state);
      }
      const run = result.run!;
      flash(reply, result.created
        ? `Triggered ${run.job}#${run.run_number}.`
        : `The idempotency key ${key} had already created ${run.job}#${run.run_number}: this is that run, nothing new was started.`);
      return reply.redirect(`/ui/runs/${run.run_id}`, 303);
    } catch (error) {
      if (error instanceof InvalidParamsError) {
        problems.push(...error.issues.map((issue) => ({ field: fieldOfErrorPath(fields, issue.param), message: issue.message })));
        return failed(400);
      }
      if (error instanceof ConcurrencyConflictError) {
        state.conflictRun = error.running_run_id;
        problems.push({ field: null, message: error.message });
        return failed(409);
      }
      if (error instanceof IdempotencyConflictError) {
        state.key.error = error.message;
        return failed(409);
      }
      if (error instanceof JobNotFoundError) throw new UiError(404, 'No such job', error.message);
      throw error;
    }
  });
};
