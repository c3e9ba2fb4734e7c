import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticate, type Principal } from '../../../app/auth/login.ts';
import type { AppDeps } from '../../../app/deps.ts';
import { AppError } from '../../../app/errors.ts';

/** Who may call a route: nobody needs a token for `public`; `admin` routes refuse agents. */
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

  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.access ?? 'admin';
    if (access === 'public' || !request.routeOptions.url) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new AppError('unauthorized', 'missing bearer token');
    const principal = await authenticate(deps, match[1]!);
    if (!principal) throw new AppError('unauthorized', 'the token is unknown, expired or revoked');
    request.principal = principal;
    request.log = request.log.child({ userId: principal.user.id });
    if (access === 'admin' && principal.user.role !== 'admin') {
      throw new AppError('forbidden', 'this route is for admins only');
    }
  });
}
