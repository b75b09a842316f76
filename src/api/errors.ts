/** An error the API answers with its own status and code; everything else is a 500 with no details. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> | unknown[] = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** 404 for a run or job the RunLog does not have. */
export class NotFoundError extends ApiError {
  constructor(what: 'run' | 'job' | 'route', id: string) {
    super(404, `${what}_not_found`, `no ${what} ${id}`, { [what === 'route' ? 'path' : what]: id });
  }
}

/** 409 when the request conflicts with the run's or job's state. */
export class ConflictError extends ApiError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(409, code, message, details);
  }
}

/** 400 naming the field and the reason. */
export class BadRequestError extends ApiError {
  constructor(message: string, details: { field: string; reason: string }[]) {
    super(400, 'invalid_request', message, details);
  }
}

/** The one error shape of every response: `{"error": {"code", "message", "details"}}`. */
export function errorBody(code: string, message: string, details: unknown = {}) {
  return { error: { code, message, details } };
}
