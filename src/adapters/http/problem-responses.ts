import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { ERROR_CATALOGUE } from '../../app/errors.ts';
import type { Access } from './plugins/auth.ts';
import { ProblemSchema } from './schemas.ts';

/**
 * The problem+json answers of every operation, declared in one place. Which ones an operation can
 * give follows from what kind of route it is:
 * - every operation: 400 (a query or path with bad text or bad percent-encoding, a failed schema),
 *   500 and 503 (the database is away);
 * - behind a token: 401; 403 on admin routes and on every non-GET route (a read-only API key);
 * - a path parameter: 404 (except upserts by key, which create what is missing);
 * - a body (POST, PUT, PATCH, DELETE may carry one): 413 and 415;
 * - what only some use cases do (409, 422, 429, 502, another 404): the table below.
 * A route's own `response` entries for 4xx/5xx are kept (their schema becomes the shared Problem).
 * test/openapi-conformance.test.ts and every API suite check the answers against the document.
 */
const WEBHOOK_STEP = [409, 422, 502]; // the ticketUpdates/outgoing hooks: busy ticket, abort, blocking failure
const EXTRA: Record<string, number[]> = {
  'POST /api/v1/auth/login': [429],
  'POST /api/v1/tickets': WEBHOOK_STEP,
  'PATCH /api/v1/tickets/:id': WEBHOOK_STEP,
  'POST /api/v1/tickets/:id/conversations': WEBHOOK_STEP,
  'POST /api/v1/tickets/:id/contract': [...WEBHOOK_STEP, 404],
  'POST /api/v1/tickets/:id/contract/confirm': WEBHOOK_STEP,
  'DELETE /api/v1/tickets/:id/contract': WEBHOOK_STEP,
  'POST /api/v1/users': [409],
  'PATCH /api/v1/users/:id': [409],
  'POST /api/v1/api-keys': [404],
  'POST /api/v1/email-accounts': [409],
  'PATCH /api/v1/email-accounts/:id': [409],
  'POST /api/v1/email-accounts/:id/invocations/:invocationId/retry': [409],
  'POST /api/v1/event-hooks': [404],
  'PATCH /api/v1/event-hooks/:id': [404],
  'POST /api/v1/event-hooks/:id/replay': [409],
  'POST /api/v1/events/:id/replay': [409],
  'GET /api/v1/contracts/:id': [502],
  'GET /api/v1/customers/:id': [502],
  'GET /api/v1/customers/search': [502],
  'POST /api/v1/contracts/search': [502],
};
/** Path parameters that name what the call creates when it is missing. */
const NO_NOT_FOUND = new Set(['PUT /api/v1/secrets/:key', 'PUT /api/v1/contracts/:id', 'PUT /api/v1/customers/:id']);

const PROBLEM_MEDIA = { 'application/problem+json': { schema: { $ref: 'Problem#' } } };

/** The codes of a status, for the response's description: `404: not_found, route_not_found`. */
function describe(status: number): string {
  const codes = Object.entries(ERROR_CATALOGUE).filter(([, e]) => e.status === status).map(([code, e]) => `\`${code}\` (${e.title})`);
  return `Problem: ${codes.join(', ')}. See docs/errors.md.`;
}

const UNAUTHORIZED_HEADERS = {
  'WWW-Authenticate': { type: 'string', description: 'RFC 6750: `Bearer`, with `error="invalid_token"` when the token sent is unknown, expired or revoked.' },
};

export function problemStatusesOf(method: string, url: string, access: Access): number[] {
  const key = `${method} ${url}`;
  const statuses = new Set([400, 500, 503]);
  if (access !== 'public') statuses.add(401);
  if (access === 'admin' || (access === 'agent' && method !== 'GET' && method !== 'HEAD')) statuses.add(403);
  if (url.includes('/:') && !NO_NOT_FOUND.has(key)) statuses.add(404);
  if (['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) {
    statuses.add(413);
    statuses.add(415);
  }
  for (const s of EXTRA[key] ?? []) statuses.add(s);
  return [...statuses].sort((a, b) => a - b);
}

/** Registers the shared Problem schema (the document's #/components/schemas/Problem). */
export function registerProblemSchema(app: FastifyInstance): void {
  app.addSchema(ProblemSchema);
}

/**
 * @fastify/swagger's `transform`: adds each operation's problem answers to the document only.
 * Declaring them in the routes' runtime schemas would make Fastify compile a serializer for every
 * status of every route at start-up (about a second of CPU for 71 operations); the answers
 * themselves are written by the error handler, which needs none.
 */
export function documentProblems({ schema, url, route }: { schema: FastifySchema; url: string; route: RouteOptions }): { schema: FastifySchema; url: string } {
  const s = schema as (Record<string, unknown> & { response?: Record<string, unknown> }) | undefined;
  if (!s || s.hide) return { schema, url };
  const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
  if (methods.length !== 1) return { schema, url };
  const access = (route.config as { access?: Access } | undefined)?.access ?? 'admin';
  const declared = Object.keys(s.response ?? {}).map(Number).filter((n) => n >= 400);
  const statuses = new Set([...problemStatusesOf(methods[0]!, route.url, access), ...declared]);
  const response: Record<string, unknown> = { ...s.response };
  // Declaring errors alone would hide the success answer from the document.
  if (!Object.keys(response).some((n) => n.startsWith('2') || n === 'default')) response[200] = { description: 'Default Response' };
  for (const status of statuses) {
    response[status] = {
      description: describe(status),
      ...(status === 401 ? { headers: UNAUTHORIZED_HEADERS } : {}),
      content: PROBLEM_MEDIA,
    };
  }
  return { schema: { ...s, response } as FastifySchema, url };
}
