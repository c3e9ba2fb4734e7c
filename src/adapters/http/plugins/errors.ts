import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERROR_CATALOGUE, type ErrorCode, type FieldProblem } from '../../../app/errors.ts';
import { badTextAt } from '../../../domain/storable-text.ts';

export const PROBLEM_TYPE_PREFIX = 'urn:deskhook:problem:';

function problemBody(code: ErrorCode, detail: string, rest: Record<string, unknown> = {}): string {
  const entry = ERROR_CATALOGUE[code];
  return JSON.stringify({ type: PROBLEM_TYPE_PREFIX + code, title: entry.title, status: entry.status, code, detail, ...rest });
}

function send(reply: FastifyReply, code: ErrorCode, detail: string, extras: Record<string, unknown> = {}): FastifyReply {
  const entry = ERROR_CATALOGUE[code];
  const { retryAfterSeconds, ...rest } = extras;
  if (typeof retryAfterSeconds === 'number') reply.header('retry-after', String(retryAfterSeconds));
  // RFC 9110 wants a challenge on every 401 (the auth plugin sets a more precise one, RFC 6750).
  if (entry.status === 401 && !reply.hasHeader('www-authenticate')) reply.header('www-authenticate', 'Bearer');
  return reply
    .status(entry.status)
    .type('application/problem+json')
    .send(problemBody(code, detail, rest));
}

/**
 * A request Node's HTTP parser refuses (raw non-ASCII bytes in the URL such as `?q=Zähler`
 * unencoded, a broken request line or header) never reaches Fastify's routes: it is answered
 * here, as problem+json like every other 400. Timeouts and oversized headers keep their status.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let head: string;
  let body: string;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    head = '408 Request Timeout';
    body = JSON.stringify({ type: 'about:blank', title: 'Request Timeout', status: 408, detail: 'the request did not arrive in time' });
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    head = '431 Request Header Fields Too Large';
    body = JSON.stringify({ type: 'about:blank', title: 'Request Header Fields Too Large', status: 431, detail: 'the request headers are too large' });
  } else {
    head = '400 Bad Request';
    const detail = err.code === 'HPE_INVALID_URL' || err.code === 'HPE_INVALID_CHARACTER'
      ? 'the request line is not valid HTTP: characters outside ASCII in the URL must be percent-encoded (UTF-8), e.g. ?q=Z%C3%A4hler'
      : 'the request is not valid HTTP';
    body = problemBody('validation_failed', detail, { errors: [{ field: 'url', message: detail }] });
  }
  if (socket.writable && socket.bytesWritten === 0) {
    socket.write(`HTTP/1.1 ${head}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/problem+json\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** Errors Fastify raises before routing (a path with bad percent-encoding: `/tickets/%ZZ`): problem+json too. */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const detail = err.code === 'FST_ERR_BAD_URL' ? 'the URL is not validly percent-encoded (UTF-8)' : err.message;
  reply.header('x-content-type-options', 'nosniff');
  void send(reply, 'validation_failed', detail, { errors: [{ field: 'url', message: detail }] });
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

/** Errors that mean "the database is away" (restart, failover, network), not a bug: 503, try again. */
function databaseUnreachable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004'].includes(e.code ?? '')) return true;
  return /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect/i.test(e.message ?? '');
}

/**
 * Every error leaves as application/problem+json with a stable code. Client mistakes name the
 * problem; anything unexpected is logged with the request id and answered with a bare 500.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  // No text deskhook stores may hold NUL (PostgreSQL refuses it) or a lone surrogate (SQLite and
  // PostgreSQL would store different text): a clear 400, never a 500.
  app.addHook('preValidation', async (request) => {
    for (const [part, value] of [['params', request.params], ['querystring', request.query], ['body', request.body]] as const) {
      const at = badTextAt(value, '');
      if (at !== null) {
        const field = at.path || part;
        throw new AppError('validation_failed', `${part}: ${field} ${at.problem}`, { errors: [{ field, message: at.problem }] });
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
