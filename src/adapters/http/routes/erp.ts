import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { AppDeps } from '../../../app/deps.ts';
import { deleteLocalRecord, getErpSettings, importLocalRecords, putErpSettings, putLocalContract, putLocalCustomer } from '../../../app/erp/erp-admin.ts';
import type { Lookup, LookupOptions } from '../../../app/erp/erp-service.ts';
import { AppError, notFound } from '../../../app/errors.ts';
import { CHARACTERISTICS, ERP_MODES, ERP_OPERATIONS, type ErpSettings } from '../../../domain/erp.ts';
import type { Executor as ExecutorModel } from '../../../domain/executor.ts';
import { Closed, Enum, Executor, Nullable, TestedWhich, withExecutorDefaults } from '../schemas.ts';

const Ttl = Type.Integer({ minimum: 0, maximum: 7 * 86_400 });
const Ttls = Type.Object({ contractById: Ttl, customerById: Ttl, searchContracts: Ttl, searchCustomers: Ttl, notFound: Ttl });
const Executors = Type.Object({
  contractById: Type.Optional(Executor), customerById: Type.Optional(Executor), searchContracts: Type.Optional(Executor), searchCustomers: Type.Optional(Executor),
}, Closed);

const Settings = Type.Object({
  mode: Enum(ERP_MODES, { description: '`local`: records imported into deskhook answer; `live`: the executors ask the team\'s ERP.' }),
  executors: Executors,
  cacheTtlSeconds: Ttls,
  timeoutMs: Type.Integer({ minimum: 100, maximum: 60_000 }),
});
const SettingsPatch = Type.Object({
  mode: Type.Optional(Settings.properties.mode),
  executors: Type.Optional(Executors),
  cacheTtlSeconds: Type.Optional(Type.Partial(Ttls, Closed)),
  timeoutMs: Type.Optional(Settings.properties.timeoutMs),
}, { ...Closed, minProperties: 1 });

const Record = Type.Record(Type.String(), Type.Unknown());
const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 50 }) });
const LookupQuery = Type.Object({
  refresh: Type.Optional(Type.Boolean({ description: 'Ask the ERP even if the cache has a fresh answer.' })),
  cacheOnly: Type.Optional(Type.Boolean({ description: 'Never ask the ERP; answer from the cache (fresh or stale) or 404.' })),
}, Closed);

/** How the answer was obtained, for clients and for whoever reads the logs. */
function cacheHeader(reply: FastifyReply, lookup: Lookup<unknown>): void {
  reply.header('x-deskhook-cache', lookup.source === 'local' ? 'local' : lookup.stale ? 'stale' : lookup.source === 'cache' && lookup.cached ? 'hit' : 'miss');
}

function options(q: { refresh?: boolean; cacheOnly?: boolean }): LookupOptions {
  if (q.refresh && q.cacheOnly) throw new AppError('validation_failed', 'refresh and cacheOnly exclude each other', { errors: [{ field: 'cacheOnly', message: 'not with refresh' }] });
  return { ...(q.refresh ? { refresh: true } : {}), ...(q.cacheOnly ? { cacheOnly: true } : {}) };
}

function normaliseSettings<T extends Partial<ErpSettings>>(body: T): T {
  if (!body.executors) return body;
  return { ...body, executors: Object.fromEntries(Object.entries(body.executors).map(([op, ex]) => [op, withExecutorDefaults(ex)])) };
}

export const erpRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const erp = deps.erp;
  // Bulk import takes JSON lines.
  app.addContentTypeParser(['application/x-ndjson', 'application/jsonl', 'text/plain'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.get('/erp', {
    config: { access: 'admin' },
    schema: { tags: ['erp'], summary: 'ERP settings', response: { 200: Settings } },
  }, async () => getErpSettings(deps));

  app.put('/erp', {
    config: { access: 'admin' },
    schema: { tags: ['erp'], summary: 'Change the ERP settings (fields left out keep their value); clears the cache', body: SettingsPatch, response: { 200: Settings } },
  }, async (request) => putErpSettings(deps, erp, normaliseSettings(request.body as Partial<ErpSettings>)));

  app.post('/erp/:operation/test', {
    config: { access: 'admin' },
    schema: {
      tags: ['erp'], summary: 'Run one operation against the ERP (no cache), with the configured executor or one given here',
      params: Type.Object({ operation: Enum(ERP_OPERATIONS) }),
      body: Type.Object({ input: Record, executor: Type.Optional(Executor) }, Closed),
      response: { 200: Type.Object({ tested: TestedWhich, ok: Type.Boolean(), output: Type.Unknown(), error: Nullable(Type.String()), durationMs: Type.Number(), logs: Type.Unknown() }) },
    },
  }, async (request) => erp.test(request.params.operation, request.body.input, request.body.executor ? withExecutorDefaults(request.body.executor) as ExecutorModel : undefined));

  app.get('/erp/stats', {
    config: { access: 'admin' },
    schema: { tags: ['erp'], summary: 'Cache and ERP call statistics of this process' },
  }, async () => ({ ...erp.stats(), local: await deps.store.erp.counts() }));

  app.delete('/erp/cache', {
    config: { access: 'admin' },
    schema: { tags: ['erp'], summary: 'Forget every cached ERP answer', response: { 200: Type.Object({ deleted: Type.Integer() }) } },
  }, async () => ({ deleted: await erp.clearCache() }));

  app.delete('/erp/cache/:kind/:id', {
    config: { access: 'agent' },
    schema: {
      tags: ['erp'], summary: 'Forget what the cache knows of one contract or customer ("invalidate cache")',
      params: Type.Object({ kind: Enum(['contracts', 'customers'] as const), id: IdParam.properties.id }), response: { 204: Type.Null() },
    },
  }, async (request, reply) => {
    await erp.invalidate(request.params.kind === 'contracts' ? { contractId: request.params.id } : { customerId: request.params.id });
    return reply.status(204).send(null);
  });

  app.post('/erp/changes', {
    config: { access: 'agent' },
    schema: {
      tags: ['erp'], summary: 'For the ERP: a record changed, forget it (authenticate with an API key, e.g. of a service user)',
      body: Type.Object({ contractId: Type.Optional(IdParam.properties.id), customerId: Type.Optional(IdParam.properties.id) }, { ...Closed, minProperties: 1 }),
      response: { 202: Type.Object({ invalidated: Type.Object({ contractId: Nullable(Type.String()), customerId: Nullable(Type.String()) }) }) },
    },
  }, async (request, reply) => {
    await erp.invalidate(request.body);
    return reply.status(202).send({ invalidated: { contractId: request.body.contractId ?? null, customerId: request.body.customerId ?? null } });
  });

  app.get('/contracts/:id', {
    config: { access: 'agent' },
    schema: { tags: ['erp'], summary: 'A contract, from the cache or the ERP', params: IdParam, querystring: LookupQuery, response: { 200: Record } },
  }, async (request, reply) => {
    const opts = options(request.query);
    // A fresh hit in this process's cache answers without a promise chain.
    const hit = opts.refresh ? undefined : erp.peekContract(request.params.id);
    if (hit !== undefined) {
      reply.header('x-deskhook-cache', 'hit');
      if (!hit) throw notFound('contract', request.params.id);
      return hit;
    }
    const lookup = await erp.contractById(request.params.id, opts);
    cacheHeader(reply, lookup);
    if (!lookup.value) throw notFound('contract', request.params.id);
    return lookup.stale ? { ...lookup.value, stale: true } : lookup.value;
  });

  app.get('/customers/search', {
    config: { access: 'agent' },
    schema: {
      tags: ['erp'], summary: 'The agent\'s search bar: up to 10 customers, each with their contracts',
      querystring: Type.Object({
        q: Type.String({ minLength: 1, maxLength: 200 }), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
        offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })), ...LookupQuery.properties,
      }, Closed),
      response: { 200: Type.Object({ items: Type.Array(Record), stale: Type.Boolean() }) },
    },
  }, async (request, reply) => {
    const q = request.query;
    const lookup = await erp.searchCustomers(q.q, { limit: q.limit ?? 10, offset: q.offset ?? 0 }, options(q));
    cacheHeader(reply, lookup);
    return { items: lookup.value, stale: lookup.stale };
  });

  app.get('/customers/:id', {
    config: { access: 'agent' },
    schema: { tags: ['erp'], summary: 'A customer, from the cache or the ERP', params: IdParam, querystring: LookupQuery, response: { 200: Record } },
  }, async (request, reply) => {
    const lookup = await erp.customerById(request.params.id, options(request.query));
    cacheHeader(reply, lookup);
    if (!lookup.value) throw notFound('customer', request.params.id);
    return lookup.stale ? { ...lookup.value, stale: true } : lookup.value;
  });

  app.post('/contracts/search', {
    config: { access: 'agent' },
    schema: {
      tags: ['erp'], summary: 'Search by characteristics: at most one contract',
      body: Type.Object({
        ...Object.fromEntries(CHARACTERISTICS.map((c) => [c, Type.Optional(Type.String({ maxLength: 200 }))])),
        // null is the same as leaving it out: the search is not for a ticket.
        ticketId: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 2_147_483_647 }))),
      }, { ...Closed, minProperties: 1 }),
      querystring: LookupQuery,
      response: { 200: Type.Object({ match: Nullable(Record), stale: Type.Boolean() }) },
    },
  }, async (request, reply) => {
    const lookup = await erp.searchContracts(request.body as Record<string, string>, options(request.query));
    cacheHeader(reply, lookup);
    return { match: lookup.value as unknown as Record<string, unknown> | null, stale: lookup.stale };
  });

  // Local mode: the records deskhook answers with when there is no live ERP.
  app.put('/contracts/:id', {
    config: { access: 'admin' },
    schema: { tags: ['erp'], summary: 'Local ERP: store a contract', params: IdParam, body: Record, response: { 200: Record } },
  }, async (request) => putLocalContract(deps, erp, request.params.id, request.body));

  app.put('/customers/:id', {
    config: { access: 'admin' },
    schema: { tags: ['erp'], summary: 'Local ERP: store a customer', params: IdParam, body: Record, response: { 200: Record } },
  }, async (request) => putLocalCustomer(deps, erp, request.params.id, request.body));

  app.delete('/contracts/:id', {
    config: { access: 'admin' },
    schema: { tags: ['erp'], summary: 'Local ERP: delete a contract', params: IdParam, response: { 204: Type.Null() } },
  }, async (request, reply) => {
    await deleteLocalRecord(deps, erp, 'contract', request.params.id);
    return reply.status(204).send(null);
  });

  app.delete('/customers/:id', {
    config: { access: 'admin' },
    schema: { tags: ['erp'], summary: 'Local ERP: delete a customer', params: IdParam, response: { 204: Type.Null() } },
  }, async (request, reply) => {
    await deleteLocalRecord(deps, erp, 'customer', request.params.id);
    return reply.status(204).send(null);
  });

  app.post('/erp/import', {
    config: { access: 'admin' },
    schema: {
      tags: ['erp'], summary: 'Local ERP: import JSON lines `{"type":"contract"|"customer",…}`; every line is checked before any is written',
      response: { 200: Type.Object({ contracts: Type.Integer(), customers: Type.Integer() }) },
    },
  }, async (request) => {
    if (!Buffer.isBuffer(request.body)) throw new AppError('unsupported_media_type', 'send JSON lines with Content-Type: application/x-ndjson');
    return importLocalRecords(deps, erp, request.body);
  });
};
