import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { Registry } from 'prom-client';
import type { AppDeps } from '../../app/deps.ts';
import { AppError } from '../../app/errors.ts';
import { continueTrace, withTrace } from '../../app/trace-context.ts';
import { registerAuth } from './plugins/auth.ts';
import { clientErrorHandler, frameworkErrors, registerErrorHandling } from './plugins/errors.ts';
import { registerObservability } from './plugins/observability.ts';
import { documentProblems, registerProblemSchema } from './problem-responses.ts';
import { requestIdOf, requestLogSerializer } from './request-log.ts';
import { authRoutes } from './routes/auth.ts';
import { emailAccountRoutes, invocationRetryRoutes, webhookRoutes } from './routes/email-accounts.ts';
import { eventRoutes, notificationRoutes, secretRoutes } from './routes/misc.ts';
import { executorRoutes } from './routes/executors.ts';
import { eventHookRoutes } from './routes/event-hooks.ts';
import { erpRoutes } from './routes/erp.ts';
import { recognitionRoutes } from './routes/recognition.ts';
import { ticketRoutes } from './routes/tickets.ts';
import { userRoutes } from './routes/users.ts';

export interface HttpOptions {
  deps: AppDeps;
  logger: PinoLogger | false;
  registry: Registry;
  bodyLimitBytes: number;
  ready: () => Promise<boolean>;
  version: string;
  /** false for processes that only run workers or SMTP: they serve the health endpoints alone. */
  api: boolean;
  /** Reverse proxies whose X-Forwarded-For is believed. */
  trustProxy?: readonly string[];
  /** The built web UI (web/dist); without it `/` explains how to build it. */
  webRoot?: string | null;
  /** When set, /metrics answers only `Authorization: Bearer <this>` (DESKHOOK_METRICS_TOKEN). */
  metricsToken?: string | null;
}

const PLACEHOLDER_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>deskhook</title></head>
<body><main><h1>deskhook</h1><p>The API runs. Its reference is at <a href="/api/docs">/api/docs</a>.</p>
<p>The web UI is not built: run <code>npm run build</code> (or <code>npm start</code>, which builds it when missing) and reload.</p></main></body></html>`;

/**
 * Headers every answer carries, and a strict content security policy for the web UI's pages (its
 * scripts and styles come from this origin only; CodeMirror sets inline styles). The UI sends its
 * login token in the Authorization header, never in a cookie, so there is no session a cross-site
 * request could ride on (no CSRF).
 */
function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html') && !request.url.startsWith('/api/docs')) {
      reply.header('content-security-policy', "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    }
    return payload;
  });
}

/**
 * Each request is a step of its caller's trace (W3C `traceparent`/`tracestate`) or starts one; the
 * hooks, events and ERP calls it makes continue it (src/app/trace-context.ts). Entered as a
 * callback hook so that every later hook and the handler run inside it.
 */
function registerTraceContext(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    withTrace(continueTrace(request.headers.traceparent, request.headers.tracestate), done);
  });
}

/** The HTTP API on Fastify: one plugin per resource under /api/v1, problem+json errors, OpenAPI 3.1. */
export async function buildHttpApp(options: HttpOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // Request log lines show the URL with its query values redacted (a token in `?token=`).
    ...(options.logger ? { loggerInstance: options.logger.child({}, { serializers: { req: requestLogSerializer } }) as FastifyBaseLogger } : { logger: false }),
    bodyLimit: options.bodyLimitBytes,
    // x-request-id is taken only when short and plain (requestIdOf); Fastify's own use of the
    // header would copy anything into every log line.
    requestIdHeader: false,
    genReqId: requestIdOf,
    ...(options.trustProxy?.length ? { trustProxy: [...options.trustProxy] } : {}),
    // Requests refused before routing (bad bytes or bad percent-encoding in the URL) answer problem+json too.
    clientErrorHandler,
    frameworkErrors,
    ajv: {
      customOptions: {
        // Unknown fields are errors, not silently dropped: a typo must not look like success.
        removeAdditional: false,
        coerceTypes: 'array',
        useDefaults: true,
        allErrors: true,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerTraceContext(app);
  registerErrorHandling(app);
  registerSecurityHeaders(app);
  registerAuth(app, options.deps, ['/api/docs']);
  registerProblemSchema(app);
  registerObservability(app, options.registry, options.ready, options.metricsToken ?? null);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'deskhook API', version: options.version, description: 'Tickets, email accounts with synchronous webhooks, events and ERP data. Errors are application/problem+json with a stable `code` (docs/errors.md).' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A login token (POST /api/v1/auth/login) or an API key.' } } },
    },
    // Shared schemas keep their $id as their name: #/components/schemas/Problem.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transform: documentProblems,
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs', uiConfig: { docExpansion: 'list' } });
  app.get('/api/openapi.json', { config: { access: 'public' }, schema: { hide: true } as Record<string, unknown> }, async () => app.swagger());

  if (!options.api) return app;

  await app.register(async (api) => {
    const deps = options.deps;
    await api.register(authRoutes, { deps });
    await api.register(userRoutes, { deps });
    await api.register(ticketRoutes, { deps });
    await api.register(emailAccountRoutes, { deps });
    await api.register(webhookRoutes, { deps });
    await api.register(invocationRetryRoutes, { deps });
    await api.register(notificationRoutes, { deps });
    await api.register(secretRoutes, { deps });
    await api.register(eventRoutes, { deps });
    await api.register(eventHookRoutes, { deps });
    await api.register(erpRoutes, { deps });
    await api.register(recognitionRoutes, { deps });
    await api.register(executorRoutes, { deps });
  }, { prefix: '/api/v1' });

  const webRoot = options.webRoot && existsSync(join(options.webRoot, 'index.html')) ? options.webRoot : null;
  if (!webRoot) {
    app.get('/', { config: { access: 'public' }, schema: { hide: true } as Record<string, unknown> }, async (_request, reply) => reply.type('text/html').send(PLACEHOLDER_PAGE));
    return app;
  }
  // The single-page app: files of the build, and index.html for every other page path.
  await app.register(fastifyStatic, { root: webRoot, serve: false });
  app.get('/*', { config: { access: 'public' }, schema: { hide: true } as Record<string, unknown> }, async (request, reply) => {
    const path = request.url.split('?')[0]!;
    if (path.startsWith('/api/')) throw new AppError('route_not_found', `${request.method} ${path} is not a route`);
    const file = path.replace(/^\/+/, '');
    if (file && !file.includes('..') && existsSync(join(webRoot, file)) && statSync(join(webRoot, file)).isFile()) {
      // Built assets carry a content hash in their name: cache them for good.
      if (file.startsWith('assets/')) reply.header('cache-control', 'public, max-age=31536000, immutable');
      return reply.sendFile(file);
    }
    reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html');
  });
  return app;
}
