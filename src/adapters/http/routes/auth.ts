import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { login, logout } from '../../../app/auth/login.ts';
import type { AppDeps } from '../../../app/deps.ts';
import { principalOf } from '../plugins/auth.ts';
import { Closed, DateTime, Problem, User } from '../schemas.ts';

const LoginIn = Type.Object({ email: Type.String({ minLength: 1, maxLength: 320 }), password: Type.String({ minLength: 1, maxLength: 1000 }) }, Closed);
const LoginOut = Type.Object({ token: Type.String(), expiresAt: DateTime, user: User });

export const authRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.post('/auth/login', {
    config: { access: 'public' },
    schema: { tags: ['auth'], summary: 'Exchange e-mail and password for a bearer token', body: LoginIn, response: { 200: LoginOut, 401: Problem, 429: Problem } },
  }, async (request) => login(deps, request.body.email, request.body.password, request.ip));

  app.post('/auth/logout', {
    config: { access: 'agent' },
    schema: { tags: ['auth'], summary: 'Revoke the login token used for this request', response: { 204: Type.Null() } },
  }, async (request, reply) => {
    await logout(deps, principalOf(request));
    return reply.status(204).send(null);
  });

  app.get('/auth/me', {
    config: { access: 'agent' },
    schema: { tags: ['auth'], summary: 'The user behind the token', response: { 200: User } },
  }, async (request) => principalOf(request).user);
};
