// Every route with a `:run_id` path parameter accepts any run reference (a run id, `job#N` sent as
// `job%23N`, `job~N`, an id prefix): this hook resolves it once, before the handler, so handlers
// only ever see a run id.
import type { FastifyInstance } from 'fastify';
import type { Queryable } from '../../runlog/db.ts';
import { AmbiguousRunRefError, InvalidRunRefError, resolveRunRef, RunRefNotFoundError } from '../../runlog/run-ref.ts';
import { ApiError, BadRequestError } from '../errors.ts';

/** Adds a preHandler (after auth and validation) that replaces `params.run_id` with the run id it names. */
export function resolveRunIdParam(app: FastifyInstance, db: Queryable): void {
  app.addHook('preHandler', async (request) => {
    const params = request.params as { run_id?: unknown } | undefined;
    if (typeof params?.run_id !== 'string') return;
    try {
      params.run_id = await resolveRunRef(db, params.run_id);
    } catch (error) {
      throw runRefApiError(error);
    }
  });
}

/** The API answer for a failed run reference; any other error is returned unchanged. */
export function runRefApiError(error: unknown): unknown {
  if (error instanceof InvalidRunRefError) {
    return new BadRequestError(`params.run_id: ${error.message}`, [{ field: 'params.run_id', reason: error.message }]);
  }
  if (error instanceof RunRefNotFoundError) return new ApiError(404, 'run_not_found', error.message, { run: error.ref });
  if (error instanceof AmbiguousRunRefError) {
    return new ApiError(400, 'ambiguous_run_ref', error.message, { run: error.ref, matches: error.matches });
  }
  return error;
}
