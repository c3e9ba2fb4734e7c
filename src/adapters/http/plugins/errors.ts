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

/** Ajv's messages with the field path spelled the way clients send it (`webhooks.timeoutMs`). */
function validationProblems(err: FastifyError): FieldProblem[] {
  const problems = (err.validation ?? []).map((v) => {
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
export function registerErrorHandling(app: FastifyInstance): void {
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
    request.log.error({ err }, 'unhandled error');
    return send(reply, 'internal_error', 'an internal error occurred; see the server log for request ' + request.id);
  });

  app.setNotFoundHandler((request, reply) => send(reply, 'route_not_found', `${request.method} ${request.url.split('?')[0]} is not a route`));
}
