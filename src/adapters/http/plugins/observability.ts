import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';
import { AppError } from '../../../app/errors.ts';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * /healthz (process up), /readyz (database reachable and migrated) and /metrics (Prometheus
 * text). They answer without a login token, for load balancers and scrapers, on every role;
 * with `metricsToken` (DESKHOOK_METRICS_TOKEN) /metrics wants `Authorization: Bearer <it>`.
 */
export function registerObservability(app: FastifyInstance, registry: Registry, ready: () => Promise<boolean>, metricsToken: string | null = null): void {
  const expected = metricsToken ? digest(metricsToken) : null;
  const duration = new Histogram({
    name: 'deskhook_http_request_duration_seconds',
    help: 'HTTP request duration by route and status class',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'deskhook_http_errors_total',
    help: 'HTTP responses with status >= 500',
    labelNames: ['route'] as const,
    registers: [registry],
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = `${Math.floor(reply.statusCode / 100)}xx`;
    duration.observe({ method: request.method, route, status }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 500) errors.inc({ route });
  });

  const hidden = { hide: true } as Record<string, unknown>;
  app.get('/healthz', { config: { access: 'public' }, schema: hidden, logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { access: 'public' }, schema: hidden, logLevel: 'warn' }, async (_request, reply) => {
    const ok = await ready();
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready' });
  });
  app.get('/metrics', { config: { access: 'public' }, schema: hidden, logLevel: 'warn' }, async (request, reply) => {
    if (expected) {
      const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
      // Compared as digests: equal length, constant time.
      if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
        reply.header('www-authenticate', 'Bearer realm="metrics"');
        throw new AppError('unauthorized', '/metrics needs Authorization: Bearer <DESKHOOK_METRICS_TOKEN>');
      }
    }
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
