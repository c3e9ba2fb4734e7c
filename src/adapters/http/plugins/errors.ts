import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERROR_CATALOGUE, type ErrorCode, type FieldProblem } from '../../../app/errors.ts';

export const PROBLEM_TYPE_PREFIX = 'urn:deskhook:problem:';

function send(reply: FastifyReply, code: ErrorCode, detail: string, extras: Record<string, unknown> = {}): FastifyReply {
  const entry = ERROR_CATALOGUE[code];
  const { retryAfterSeconds, ...rest } = extras;
  if (typeof retryAfterSeconds === 'number') reply.header('retry-after', String(retryAfterSeconds));
  return reply
    .status(entry.status)
    .type('application/problem+json')
    .send(JSON.stringify({ type: PROBLEM_TYPE_PREFIX + code, title: entry.title, status: entry.status, code, detail, ...rest }));
}

type AjvError = NonNullable<FastifyError['validation']>[number];

/**
 * A value failing a union (`executor`: apiCall or sourceCode) gets errors from every branch.
 * Keep those of the branches whose discriminator (`type`) matched, so an apiCall with a bad URL
 * hears about its URL, not about a missing `code`.
 */
function relevantBranches(errors: AjvError[]): AjvError[] {
  const branchOf = (e: AjvError) => /^(.*\/anyOf)\/(\d+)\//.exec(e.schemaPath);
  const mismatched = new Set<string>();
  for (const e of errors) {
    const b = branchOf(e);
    if (b && e.keyword === 'const') mismatched.add(`${b[1]}/${b[2]}`);
  }
  const kept = errors.filter((e) => {
    const b = branchOf(e);
    if (!b) return true;
    const unionPrefix = b[1]!;
    const siblings = errors.filter((x) => branchOf(x)?.[1] === unionPrefix).map((x) => `${unionPrefix}/${branchOf(x)![2]}`);
    // When every branch was a mismatch, the discriminator itself is wrong: keep everything.
    return !mismatched.has(`${unionPrefix}/${b[2]}`) || siblings.every((k) => mismatched.has(k));
  });
  const specific = kept.filter((e) => e.keyword !== 'anyOf');
  return specific.length ? specific : kept;
}

/** Ajv's messages with the field path spelled the way clients send it (`webhooks.timeoutMs`). */
function validationProblems(err: FastifyError): FieldProblem[] {
  const problems = relevantBranches(err.validation ?? []).map((v) => {
    const path = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
    const params = v.params as Record<string, unknown>;
    if (v.keyword === 'additionalProperties') {
      const extra = String(params.additionalProperty);
      return { field: path ? `${path}.${extra}` : extra, message: 'unknown field' };
    }
    if (v.keyword === 'required') {
      const missing = String(params.missingProperty);
      return { field: path ? `${path}.${missing}` : missing, message: 'required' };
    }
    if (v.keyword === 'enum' && Array.isArray(params.allowedValues)) {
      return { field: path || err.validationContext || 'body', message: `must be one of ${params.allowedValues.join(', ')}` };
    }
    return { field: path || err.validationContext || 'body', message: v.message ?? 'invalid' };
  });
  // A value failing a union gets one error per branch; the first says enough.
  const seen = new Set<string>();
  return problems.filter((p) => !seen.has(p.field) && seen.add(p.field));
}

/**
 * Every error leaves as application/problem+json with a stable code. Client mistakes name the
 * problem; anything unexpected is logged with the request id and answered with a bare 500.
 */
/** The path of the first string holding a NUL character, or null (depth-limited walk). */
function nulAt(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (depth > 32 || value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\u0000')) return path ? `${path}.${k}` : k;
    const found = nulAt(v, path ? `${path}.${k}` : k, depth + 1);
    if (found !== null) return found;
  }
  return null;
}

/** Errors that mean "the database is away" (restart, failover, network), not a bug: 503, try again. */
function databaseUnreachable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004'].includes(e.code ?? '')) return true;
  return /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect/i.test(e.message ?? '');
}

export function registerErrorHandling(app: FastifyInstance): void {
  // No text deskhook stores may hold NUL (PostgreSQL refuses it): a clear 400, never a 500.
  app.addHook('preValidation', async (request) => {
    for (const [part, value] of [['params', request.params], ['querystring', request.query], ['body', request.body]] as const) {
      const at = nulAt(value, '');
      if (at !== null) {
        const field = at || part;
        throw new AppError('validation_failed', `${part}: ${field} must not contain the NUL character`, { errors: [{ field, message: 'must not contain the NUL character' }] });
      }
    }
  });

  app.setErrorHandler((err: FastifyError | AppError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof AppError) return send(reply, err.code, err.detail, err.extras);
    const fe = err as FastifyError;
    if (fe.validation) {
      const errors = validationProblems(fe);
      const where = fe.validationContext ?? 'request';
      return send(reply, 'validation_failed', `${where}: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`, { errors });
    }
    switch (fe.code) {
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return send(reply, 'invalid_json', fe.message);
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return send(reply, 'payload_too_large', fe.message);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return send(reply, 'unsupported_media_type', fe.message);
    }
    if (fe.name === 'SyntaxError' && fe.statusCode === 400) return send(reply, 'invalid_json', fe.message);
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      if (fe.statusCode === 413) return send(reply, 'payload_too_large', fe.message);
      if (fe.statusCode === 415) return send(reply, 'unsupported_media_type', fe.message);
      if (fe.statusCode === 429) return send(reply, 'too_many_requests', fe.message);
      return send(reply, 'validation_failed', fe.message);
    }
    if (databaseUnreachable(err)) {
      request.log.warn({ err }, 'the database is unreachable');
      return send(reply, 'not_ready', 'the database is unreachable; try again shortly', { retryAfterSeconds: 5 });
    }
    request.log.error({ err }, 'unhandled error');
    return send(reply, 'internal_error', 'an internal error occurred; see the server log for request ' + request.id);
  });

  app.setNotFoundHandler((request, reply) => send(reply, 'route_not_found', `${request.method} ${request.url.split('?')[0]} is not a route`));
}
