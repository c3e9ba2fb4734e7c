import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../../../app/deps.ts';
import { listNotifications, markNotificationsRead } from '../../../app/notifications.ts';
import { deleteSecret, listSecrets, setSecret } from '../../../app/secrets.ts';
import { EVENT_TYPES } from '../../../domain/event.ts';
import { principalOf } from '../plugins/auth.ts';
import { Closed, DateTime, Enum, Event, Id, Notification, Nullable, PageQuery, pageOf } from '../schemas.ts';

const SecretKeyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 100 }) });
const SecretMeta = Type.Object({ key: Type.String(), createdAt: DateTime, modifiedAt: DateTime });

export const notificationRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get('/notifications', {
    config: { access: 'agent' },
    schema: {
      tags: ['notifications'], summary: "The caller's notifications, newest first, with the unread count",
      querystring: Type.Object({ ...PageQuery, unread: Type.Optional(Type.Boolean()) }, Closed),
      response: { 200: Type.Object({ items: Type.Array(Notification), nextCursor: Nullable(Type.String()), unread: Type.Integer() }) },
    },
  }, async (request) => listNotifications(deps, principalOf(request).user.id, request.query.unread ?? false, { limit: request.query.limit ?? 50, cursor: request.query.cursor ?? null }));

  app.post('/notifications/read', {
    config: { access: 'agent' },
    schema: {
      tags: ['notifications'], summary: 'Mark notifications read: the given ids, or all',
      body: Type.Object({ ids: Type.Optional(Type.Array(Id, { maxItems: 1000 })), all: Type.Optional(Type.Boolean()) }, { ...Closed, minProperties: 1 }),
      response: { 200: Type.Object({ marked: Type.Integer() }) },
    },
  }, async (request) => markNotificationsRead(deps, principalOf(request).user.id, request.body.all ? 'all' : (request.body.ids ?? [])));
};

export const secretRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get('/secrets', {
    config: { access: 'admin' },
    schema: { tags: ['secrets'], summary: 'Secret keys (values are never returned)', response: { 200: Type.Object({ items: Type.Array(SecretMeta), nextCursor: Type.Null() }) } },
  }, async () => ({ items: await listSecrets(deps), nextCursor: null }));

  app.put('/secrets/:key', {
    config: { access: 'admin' },
    schema: {
      tags: ['secrets'], summary: 'Set a secret; stored encrypted, write-only', params: SecretKeyParams,
      body: Type.Object({ value: Type.String({ maxLength: 16_384 }) }, Closed), response: { 200: Type.Object({ key: Type.String() }) },
    },
  }, async (request) => setSecret(deps, request.params.key, request.body.value));

  app.delete('/secrets/:key', {
    config: { access: 'admin' },
    schema: { tags: ['secrets'], params: SecretKeyParams, response: { 204: Type.Null() } },
  }, async (request, reply) => {
    await deleteSecret(deps, request.params.key);
    return reply.status(204).send(null);
  });
};

export const eventRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get('/events', {
    config: { access: 'admin' },
    schema: {
      tags: ['events'], summary: 'Events oldest first; follow nextCursor (or keep the last one) to pull new events',
      querystring: Type.Object({
        ...PageQuery,
        after: Type.Optional(Type.String({ maxLength: 500, description: 'Pull feed: `0` to start from the oldest kept event, then the `nextCursor` of the previous answer. Every answer has a `nextCursor`; an empty page means nothing new yet. On PostgreSQL an event joins the feed once every transaction older than it has ended, so the feed never skips one.' })),
        order: Type.Optional(Enum(['asc', 'desc'] as const, { description: '`desc`: newest first, to browse (not with `after`).' })),
        type: Type.Optional(Type.Array(Enum(EVENT_TYPES))),
        ticketId: Type.Optional(Id),
        since: Type.Optional(DateTime),
        until: Type.Optional(DateTime),
      }, Closed),
      response: { 200: pageOf(Event) },
    },
  }, async (request) => {
    const q = request.query;
    return deps.store.events.list(
      { ...(q.after !== undefined ? { feed: true } : {}), ...(q.order === 'desc' ? { newestFirst: true } : {}), ...(q.type ? { types: q.type } : {}), ...(q.ticketId ? { ticketId: q.ticketId } : {}), ...(q.since ? { since: q.since } : {}), ...(q.until ? { until: q.until } : {}) },
      { limit: q.limit ?? 50, cursor: q.after !== undefined ? (q.after === '0' ? null : q.after) : q.cursor ?? null },
    );
  });
};
