import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { createApiKey, createUser, listApiKeys, revokeApiKey, updateUser } from '../../../app/auth/users.ts';
import type { AppDeps } from '../../../app/deps.ts';
import { notFound } from '../../../app/errors.ts';
import { API_KEY_SCOPES, ROLES } from '../../../domain/user.ts';
import { principalOf } from '../plugins/auth.ts';
import { ApiKey, Closed, Email, Enum, IdParams, PageQuery, pageOf, User } from '../schemas.ts';

const UserIn = Type.Object({
  email: Email,
  name: Type.String({ minLength: 1, maxLength: 200 }),
  role: Enum(ROLES),
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
  service: Type.Optional(Type.Boolean()),
}, Closed);
const UserPatch = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  role: Type.Optional(Enum(ROLES)),
  disabled: Type.Optional(Type.Boolean()),
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
}, { ...Closed, minProperties: 1 });
const ApiKeyIn = Type.Object({
  userId: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  scope: Type.Optional(Enum(API_KEY_SCOPES, { description: 'Default: the owner\'s role (agent or admin); admin only for admins.' })),
  expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'In the future; the key never expires when left out.' })),
}, Closed);
const ApiKeyCreated = Type.Object({ key: Type.String({ description: 'Shown once; only its digest is stored.' }), apiKey: ApiKey });

export const userRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get('/users', {
    // Agents read the team to assign tickets to each other; changing users stays with admins.
    config: { access: 'agent' },
    schema: { tags: ['users'], summary: 'The team (agents read it to assign tickets)', querystring: Type.Object(PageQuery, Closed), response: { 200: pageOf(User) } },
  }, async (request) => deps.store.users.list({ limit: request.query.limit ?? 50, cursor: request.query.cursor ?? null }));

  app.post('/users', {
    config: { access: 'admin' },
    schema: { tags: ['users'], body: UserIn, response: { 201: User } },
  }, async (request, reply) => reply.status(201).send(await createUser(deps, request.body)));

  app.get('/users/:id', {
    config: { access: 'admin' },
    schema: { tags: ['users'], params: IdParams, response: { 200: User } },
  }, async (request) => (await deps.store.users.get(request.params.id)) ?? Promise.reject(notFound('user', request.params.id)));

  app.patch('/users/:id', {
    config: { access: 'admin' },
    schema: {
      tags: ['users'], params: IdParams, body: UserPatch, response: { 200: User },
      description: 'A new password, role or disabling ends the user\'s sessions (an admin changing their own password keeps the session that did it); disabling also revokes their API keys.',
    },
  }, async (request) => {
    const principal = principalOf(request);
    const keepSession = principal.kind === 'session' && principal.user.id === request.params.id ? principal.tokenId : null;
    return updateUser(deps, request.params.id, request.body, { keepSession });
  });

  app.get('/api-keys', {
    config: { access: 'admin' },
    schema: { tags: ['api-keys'], querystring: Type.Object({ ...PageQuery, userId: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })) }, Closed), response: { 200: pageOf(ApiKey) } },
  }, async (request) => listApiKeys(deps, request.query.userId ?? null, { limit: request.query.limit ?? 50, cursor: request.query.cursor ?? null }));

  app.post('/api-keys', {
    config: { access: 'admin' },
    schema: { tags: ['api-keys'], body: ApiKeyIn, response: { 201: ApiKeyCreated } },
  }, async (request, reply) => {
    const { userId, name, scope, expiresAt } = request.body;
    return reply.status(201).send(await createApiKey(deps, userId, name, { ...(scope ? { scope } : {}), expiresAt: expiresAt ?? null }));
  });

  app.delete('/api-keys/:id', {
    config: { access: 'admin' },
    schema: { tags: ['api-keys'], params: IdParams, response: { 204: Type.Null() } },
  }, async (request, reply) => {
    await revokeApiKey(deps, request.params.id);
    return reply.status(204).send(null);
  });
};
