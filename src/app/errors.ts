/**
 * The catalogue of errors a client can see. Each code is stable: clients and docs/errors.md
 * rely on it (a test keeps the two in step). Anything not in here is an internal error and
 * reaches the client as a bare `internal_error`.
 */
export const ERROR_CATALOGUE = {
  unauthorized: { status: 401, title: 'Authentication required', hint: 'Send `Authorization: Bearer <token>` with a login token or an API key.' },
  invalid_credentials: { status: 401, title: 'Wrong e-mail or password', hint: 'Check the credentials; repeated failures are throttled.' },
  forbidden: { status: 403, title: 'Not allowed for your role', hint: 'Settings, hooks, secrets, users and API keys are for admins only.' },
  not_found: { status: 404, title: 'Not found', hint: 'The resource does not exist or was deleted.' },
  route_not_found: { status: 404, title: 'No such route', hint: 'See /api/openapi.json for the routes.' },
  validation_failed: { status: 400, title: 'The request is not valid', hint: '`errors` lists each problem with the field it concerns.' },
  invalid_json: { status: 400, title: 'The body is not valid JSON', hint: 'Send a JSON document with `Content-Type: application/json`.' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type', hint: 'The API accepts `application/json` bodies.' },
  payload_too_large: { status: 413, title: 'The body is too large', hint: 'See DESKHOOK_BODY_LIMIT_BYTES.' },
  rule_violation: { status: 422, title: 'The change breaks a rule of the ticket model', hint: 'For example: status `pending` needs a `dueBy` in the future.' },
  conflict: { status: 409, title: 'Conflicts with the current state', hint: 'Another resource already uses this value, or the resource changed meanwhile.' },
  webhook_aborted: { status: 422, title: 'A webhook refused the step', hint: 'The email account\'s webhook answered `abort: true`; `detail` carries its message and `invocationId` its log entry.' },
  webhook_failed: { status: 502, title: 'A webhook failed and its policy blocks the step', hint: 'Nothing was changed or sent. `detail` names the hook and the reason; see the account\'s invocation log.' },
  erp_failed: { status: 502, title: 'The ERP did not answer usably', hint: '`detail` names the operation and the reason (an error of the executor, or the field of the answer that is wrong); no cached answer was there to fall back on.' },
  too_many_requests: { status: 429, title: 'Too many requests', hint: 'Wait for the time given in `Retry-After`.' },
  not_ready: { status: 503, title: 'Not ready', hint: 'The database is unreachable or migrations are pending.' },
  internal_error: { status: 500, title: 'Internal error', hint: 'Something failed on the server; the log has the details under the request id.' },
} as const satisfies Record<string, { status: number; title: string; hint: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface FieldProblem {
  field: string;
  message: string;
}

/** An error meant for the client: its code is in the catalogue and its detail is safe to show. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extras: { errors?: FieldProblem[]; retryAfterSeconds?: number; [key: string]: unknown } = {},
  ) {
    super(detail);
    this.name = 'AppError';
    this.status = ERROR_CATALOGUE[code].status;
  }
}

export const notFound = (what: string, id: unknown): AppError => new AppError('not_found', `${what} ${String(id)} does not exist`);
