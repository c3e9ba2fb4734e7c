import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticate, type Principal } from '../../../app/auth/login.ts';
import type { AppDeps } from '../../../app/deps.ts';
import { AppError } from '../../../app/errors.ts';

/**
 * Who may call a route: nobody needs a token for `public`; `admin` routes refuse agents. API keys
 * add their scope: `read` keys only GET, `agent` keys act as agents, `admin` keys as their owner.
 */
export type Access = 'public' | 'agent' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('unauthorized', 'no principal on an authenticated route');
  return request.principal;
}

/**
 * Authentication runs before the body is parsed, so an anonymous caller learns nothing about a
 * route's schema. Routes declare `config.access`; a route that forgets it is admin-only.
 */
export function registerAuth(app: FastifyInstance, deps: AppDeps, publicPrefixes: readonly string[] = []): void {
  app.decorateRequest('principal', null);

  app.addHook('onRoute', (route) => {
    const isPublic = publicPrefixes.some((prefix) => route.url.startsWith(prefix));
    const access: Access = route.config?.access ?? (isPublic ? 'public' : 'admin');
    route.config = { ...route.config, access };
    if (route.schema) {
      const schema = route.schema as Record<string, unknown>;
      schema['x-access'] = access;
      if (access !== 'public') schema.security = [{ bearer: [] }];
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config.access ?? 'admin';
    if (access === 'public' || !request.routeOptions.url) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    // RFC 6750 §3: a challenge on every 401; an error code only when a token was sent.
    if (!match) {
      reply.header('www-authenticate', 'Bearer');
      throw new AppError('unauthorized', 'missing bearer token');
    }
    const principal = await authenticate(deps, match[1]!);
    if (!principal) {
      reply.header('www-authenticate', 'Bearer error="invalid_token", error_description="the token is unknown, expired or revoked"');
      throw new AppError('unauthorized', 'the token is unknown, expired or revoked');
    }
    request.principal = principal;
    request.log = request.log.child({ userId: principal.user.id });
    // principal.user.role is already what the token may act as (a key never exceeds its owner).
    if (access === 'admin' && principal.user.role !== 'admin') {
      throw new AppError('forbidden', 'this route is for admins only');
    }
    if (principal.scope === 'read' && request.method !== 'GET' && request.method !== 'HEAD') {
      reply.header('www-authenticate', 'Bearer error="insufficient_scope", scope="agent"');
      throw new AppError('forbidden', 'this API key is read-only (scope read): it may only make GET requests');
    }
  });
}
