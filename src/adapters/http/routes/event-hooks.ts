import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../../../app/deps.ts';
import {
  countMissedEvents, createEventHook, deleteEventHook, enableEventHook, getEventHook, listEventHooks, replayEvent, replayRange,
  revealEventHookSecret, rollbackEventHook, rotateEventHookSecret, updateEventHook, type EventHookInput,
} from '../../../app/events/event-hooks.ts';
import { notFound } from '../../../app/errors.ts';
import { EVENT_TYPES } from '../../../domain/event.ts';
import {
  ATTEMPT_OUTCOMES, DEFAULT_RETRY_SCHEDULE_SECONDS, DELIVERY_STATUSES, DISABLED_REASONS, MAX_IN_FLIGHT_MAX, MAX_RETRIES, RATE_PER_SECOND_MAX, MAX_RETRY_DELAY_SECONDS, ORDERING_KEYS,
} from '../../../domain/event-hook.ts';
import { principalOf } from '../plugins/auth.ts';
import { Closed, DateTime, Enum, Event, Executor, IdParams, Nullable, PageQuery, pageOf, withExecutorDefaults } from '../schemas.ts';
import { CompareQuery, HookVersionOut, SigningSecret, VersionComparison } from './email-accounts.ts';
import { compareHookVersions, eventHookScope, listHookVersions } from '../../../app/webhooks/hook-versions.ts';

const EventTypes = Type.Array(Enum(EVENT_TYPES), { minItems: 1, maxItems: EVENT_TYPES.length });
const RetrySchedule = Type.Array(Type.Integer({ minimum: 0, maximum: MAX_RETRY_DELAY_SECONDS }), {
  maxItems: MAX_RETRIES,
  description: `Seconds before each retry after the first, immediate attempt (default ${JSON.stringify(DEFAULT_RETRY_SCHEDULE_SECONDS)}: 8 attempts over about 30 hours); each delay is spread by ±20 %.`,
});

const HookFields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  events: EventTypes,
  executor: Executor,
  enabled: Type.Optional(Type.Boolean()),
  orderingKey: Type.Optional(Enum(ORDERING_KEYS, { description: '`ticket`: the events of one ticket arrive one after another, in order; a failing ticket holds back only its own events.' })),
  retryScheduleSeconds: Type.Optional(RetrySchedule),
  maxInFlight: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: MAX_IN_FLIGHT_MAX, description: 'At most this many deliveries to the receiver at once, across all workers; more wait (they never fail for it). Null: no limit.' }))),
  ratePerSecond: Type.Optional(Nullable(Type.Number({ minimum: 0.01, maximum: RATE_PER_SECOND_MAX, description: 'At most this many deliveries started per second, across all workers; more wait. Null: no limit.' }))),
  signingSecret: Type.Optional(Type.String({ maxLength: 200, description: '`whsec_…` to keep a secret receivers already know; generated when left out. Never returned except by the signing-secret route.' })),
};

const HookIn = Type.Object(HookFields, Closed);
const HookPatch = Type.Object(
  Object.fromEntries(Object.entries(HookFields).map(([k, v]) => [k, Type.Optional(v)])) as { [K in keyof typeof HookFields]: ReturnType<typeof Type.Optional<(typeof HookFields)[K]>> },
  { ...Closed, minProperties: 1 },
);

const EventHook = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  events: Type.Array(Enum(EVENT_TYPES)),
  executor: Executor,
  enabled: Type.Boolean(),
  orderingKey: Enum(ORDERING_KEYS),
  retryScheduleSeconds: Type.Array(Type.Integer()),
  ownerUserId: Nullable(Type.Integer()),
  disabledReason: Nullable(Enum(DISABLED_REASONS)),
  disabledAt: Nullable(DateTime),
  failingSince: Nullable(DateTime),
  lastSuccessAt: Nullable(DateTime),
  maxInFlight: Nullable(Type.Integer()),
  ratePerSecond: Nullable(Type.Number()),
  throttledUntil: Type.Optional(Nullable(DateTime)),
  throttledMs: Type.Optional(Type.Integer({ description: 'How long its deliveries have waited, in total, for maxInFlight, ratePerSecond or a receiver\'s Retry-After (which pauses the whole hook).' })),
  createdAt: DateTime,
  modifiedAt: DateTime,
});

const Attempt = Type.Object({
  attempt: Type.Integer(),
  outcome: Enum(ATTEMPT_OUTCOMES),
  status: Nullable(Type.Integer({ description: 'HTTP status of an apiCall.' })),
  durationMs: Type.Number(),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
  response: Nullable(Type.String({ description: 'The start of the answer, or of the error.' })),
  worker: Nullable(Type.String()),
  startedAt: DateTime,
});

const Delivery = Type.Object({
  id: Type.Integer(),
  eventId: Type.String(),
  eventType: Enum(EVENT_TYPES),
  hookId: Type.Integer(),
  ticketId: Nullable(Type.Integer()),
  status: Enum(DELIVERY_STATUSES),
  attemptCount: Type.Integer(),
  nextAttemptAt: Nullable(DateTime),
  lastError: Nullable(Type.String()),
  replay: Type.Boolean(),
  createdAt: DateTime,
  completedAt: Nullable(DateTime),
  attempts: Type.Array(Attempt),
});

const DeliveryQuery = Type.Object({
  ...PageQuery,
  status: Type.Optional(Enum(DELIVERY_STATUSES)),
  eventId: Type.Optional(Type.String({ maxLength: 100 })),
  ticketId: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })),
}, Closed);

const Missed = Type.Object({
  since: Nullable(DateTime),
  count: Type.Integer({ description: 'Events of the hook\'s types since then that it neither received nor still has queued.' }),
});

export const eventHookRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const tags = ['event-hooks'];

  app.get('/event-hooks', {
    config: { access: 'admin' },
    schema: { tags, querystring: Type.Object(PageQuery, Closed), response: { 200: pageOf(EventHook) } },
  }, async (request) => listEventHooks(deps, { limit: request.query.limit ?? 50, cursor: request.query.cursor ?? null }));

  app.post('/event-hooks', {
    config: { access: 'admin' },
    schema: { tags, summary: 'Subscribe an executor to event types', body: HookIn, response: { 201: EventHook } },
  }, async (request, reply) => {
    const input = { ...request.body, executor: withExecutorDefaults(request.body.executor) } as EventHookInput;
    return reply.status(201).send(await createEventHook(deps, input, principalOf(request).user.id));
  });

  app.get('/event-hooks/:id', {
    config: { access: 'admin' },
    schema: { tags, params: IdParams, response: { 200: EventHook } },
  }, async (request) => getEventHook(deps, request.params.id));

  app.patch('/event-hooks/:id', {
    config: { access: 'admin' },
    schema: { tags, summary: 'Change a hook; `enabled: false` sets its queued deliveries aside', params: IdParams, body: HookPatch, response: { 200: EventHook } },
  }, async (request) => {
    const patch = request.body.executor ? { ...request.body, executor: withExecutorDefaults(request.body.executor) } : request.body;
    return updateEventHook(deps, request.params.id, patch as Partial<EventHookInput>, principalOf(request).user.id);
  });

  app.get('/event-hooks/:id/versions', {
    config: { access: 'admin' },
    schema: { tags, summary: 'Every executor the hook has had, newest first', params: IdParams, response: { 200: Type.Object({ items: Type.Array(HookVersionOut) }) } },
  }, async (request) => {
    await getEventHook(deps, request.params.id);
    return { items: await listHookVersions(deps, eventHookScope(request.params.id)) };
  });

  app.get('/event-hooks/:id/versions/compare', {
    config: { access: 'admin' },
    schema: { tags, summary: 'Two versions of the hook and a unified diff', params: IdParams, querystring: CompareQuery, response: { 200: VersionComparison } },
  }, async (request) => {
    await getEventHook(deps, request.params.id);
    return compareHookVersions(deps, eventHookScope(request.params.id), request.query.from, request.query.to);
  });

  app.post('/event-hooks/:id/versions/:version/rollback', {
    config: { access: 'admin' },
    schema: {
      tags, summary: 'Make an earlier version the hook\'s executor again (kept as a new version)',
      params: Type.Object({ id: IdParams.properties.id, version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }), response: { 200: EventHook },
    },
  }, async (request) => rollbackEventHook(deps, request.params.id, request.params.version, principalOf(request).user.id));

  app.delete('/event-hooks/:id', {
    config: { access: 'admin' },
    schema: { tags, params: IdParams, response: { 204: Type.Null() } },
  }, async (request, reply) => {
    await deleteEventHook(deps, request.params.id);
    return reply.status(204).send(null);
  });

  app.get('/event-hooks/:id/signing-secret', {
    config: { access: 'admin' },
    schema: { tags, summary: 'Reveal the signing secret(s)', params: IdParams, response: { 200: SigningSecret } },
  }, async (request) => revealEventHookSecret(deps, request.params.id));

  app.post('/event-hooks/:id/signing-secret/rotate', {
    config: { access: 'admin' },
    schema: { tags, summary: 'New signing secret; deliveries carry both signatures for 24 h', params: IdParams, response: { 200: SigningSecret } },
  }, async (request) => rotateEventHookSecret(deps, request.params.id));

  app.get('/event-hooks/:id/deliveries', {
    config: { access: 'admin' },
    schema: { tags, summary: 'Deliveries of the hook, newest first, each with its attempts', params: IdParams, querystring: DeliveryQuery, response: { 200: pageOf(Delivery) } },
  }, async (request) => {
    await getEventHook(deps, request.params.id);
    const q = request.query;
    return deps.store.deliveries.list(
      { hookId: request.params.id, ...(q.status ? { status: q.status } : {}), ...(q.eventId ? { eventId: q.eventId } : {}), ...(q.ticketId ? { ticketId: q.ticketId } : {}) },
      { limit: q.limit ?? 50, cursor: q.cursor ?? null },
    );
  });

  app.get('/event-hooks/:id/missed', {
    config: { access: 'admin' },
    schema: { tags, summary: 'How many events the hook missed while failing or disabled (before enabling it with a replay)', params: IdParams, response: { 200: Missed } },
  }, async (request) => countMissedEvents(deps, request.params.id));

  app.post('/event-hooks/:id/enable', {
    config: { access: 'admin' },
    schema: {
      tags, summary: 'Enable the hook, optionally replaying everything it missed', params: IdParams,
      body: Type.Object({ replayMissed: Type.Boolean() }, Closed),
      response: { 200: Type.Object({ hook: EventHook, replayed: Type.Integer() }) },
    },
  }, async (request) => enableEventHook(deps, request.params.id, request.body));

  app.post('/event-hooks/:id/replay', {
    config: { access: 'admin' },
    schema: {
      tags, summary: 'Deliver again every event of a time range to this hook', params: IdParams,
      body: Type.Object({
        since: DateTime,
        until: Type.Optional(DateTime),
        types: Type.Optional(EventTypes),
        onlyMissed: Type.Optional(Type.Boolean({ description: 'Skip events the hook received or still has queued.' })),
        dryRun: Type.Optional(Type.Boolean({ description: 'Only count.' })),
      }, Closed),
      response: { 200: Type.Object({ count: Type.Integer(), replayed: Type.Integer() }) },
    },
  }, async (request) => replayRange(deps, request.params.id, request.body));

  app.get('/events/:id', {
    config: { access: 'admin' },
    schema: {
      tags: ['events'], summary: 'One event with its deliveries (the event\'s trace)', params: Type.Object({ id: Type.String({ maxLength: 100 }) }),
      response: { 200: Type.Object({ ...Event.properties, deliveries: Type.Array(Delivery) }) },
    },
  }, async (request) => {
    const event = await deps.store.events.get(request.params.id);
    if (!event) throw notFound('event', request.params.id);
    const deliveries = await deps.store.deliveries.list({ eventId: event.id }, { limit: 100, cursor: null });
    return { ...event, deliveries: deliveries.items };
  });

  app.post('/events/:id/replay', {
    config: { access: 'admin' },
    schema: {
      tags: ['events'], summary: 'Deliver an event again, to one hook or to every enabled hook subscribed to its type',
      params: Type.Object({ id: Type.String({ maxLength: 100 }) }),
      body: Type.Object({ hookId: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })) }, Closed),
      response: { 200: Type.Object({ hooks: Type.Array(Type.Integer()), replayed: Type.Integer() }) },
    },
  }, async (request) => replayEvent(deps, request.params.id, request.body.hookId ?? null));
};
