import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ErpService } from '../src/app/erp/erp-service.ts';
import { RedisErpCache } from '../src/adapters/cache/redis-cache.ts';
import { BACKENDS } from './support/backends.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/** A team's ERP: contracts and customers behind one POST endpoint per operation, counting calls. */
const contracts = new Map<string, Record<string, unknown>>();
const customers = new Map<string, Record<string, unknown>>();
const calls: Array<{ op: string; input: any }> = [];
let down = false;
let delayMs = 0;
let override: ((op: string, input: any) => unknown) | null = null;
let erp: Server;
let base: string;

beforeAll(async () => {
  erp = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const op = (req.url ?? '/').slice(1);
      const input = body ? JSON.parse(body) : {};
      calls.push({ op, input });
      setTimeout(() => {
        if (down) {
          res.writeHead(500).end('ERP maintenance');
          return;
        }
        let out: unknown;
        if (override) out = override(op, input);
        else if (op === 'contractById') out = contracts.get(String(input.contractId)) ?? null;
        else if (op === 'customerById') out = customers.get(String(input.customerId)) ?? null;
        else if (op === 'searchContracts') {
          const hit = [...contracts.values()].find((c) => input.email && c.email === input.email);
          out = hit ? { contractId: hit.id, customerId: hit.customerId } : null;
        } else if (op === 'searchCustomers') {
          out = [...customers.values()].filter((c) => String(c.lastname).toLowerCase().includes(String(input.q).toLowerCase())).map((c) => ({ id: c.id }));
        }
        if (out === null) res.writeHead(404).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
      }, delayMs);
    });
  });
  await new Promise<void>((r) => erp.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(erp.address() as { port: number }).port}`;
});
afterAll(async () => {
  erp.closeAllConnections();
  await new Promise<void>((r) => erp.close(() => r()));
});

const erika = { id: 'V-1001', customerId: 'K-77', business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika@example.com', zip: '10115', tariff: 'Öko Strom 24' };
const erikaCustomer = { id: 'K-77', business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika@example.com', contractIds: ['V-1001'] };

describe.each(BACKENDS)('ERP integration on %s', (kind) => {
  let t: TestApp;

  beforeEach(async () => {
    t = await startTestApp(kind);
    contracts.clear();
    customers.clear();
    calls.length = 0;
    down = false;
    delayMs = 0;
    override = null;
    contracts.set('V-1001', erika);
    customers.set('K-77', erikaCustomer);
  });
  afterEach(async () => { await t.close(); });

  const goLive = async (ttl: Record<string, number> = {}) => {
    const executors = Object.fromEntries(['contractById', 'customerById', 'searchContracts', 'searchCustomers'].map((op) => [op, { type: 'apiCall', url: `${base}/${op}` }]));
    const res = await t.api('PUT', '/api/v1/erp', { mode: 'live', executors, cacheTtlSeconds: ttl });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const contract = (id: string, query = '', token = t.agentToken) => t.api('GET', `/api/v1/contracts/${id}${query}`, undefined, token);
  const callsOf = (op: string) => calls.filter((c) => c.op === op).length;

  it('settings are for admins; local mode is the default', async () => {
    expect((await t.api('GET', '/api/v1/erp', undefined, t.agentToken)).statusCode).toBe(403);
    expect((await t.api('GET', '/api/v1/erp')).json()).toMatchObject({ mode: 'local', executors: {}, cacheTtlSeconds: { contractById: 900, searchContracts: 60, notFound: 30 } });
    const settings = await goLive({ contractById: 120 });
    expect(settings).toMatchObject({ mode: 'live', cacheTtlSeconds: { contractById: 120, customerById: 900 }, executors: { contractById: { type: 'apiCall', method: 'POST' } } });
    expect((await t.api('PUT', '/api/v1/erp', { mode: 'cloud' })).statusCode).toBe(400);
    // An operation that could never run is refused on save, and the settings stay as they were.
    const broken = await t.api('PUT', '/api/v1/erp', { executors: { customerById: { type: 'sourceCode', language: 'javascript', code: 'export default async (input, ctx) => {\n  const token = await ctx.secrets.get("ERP_TOKEN");\n  return fetch(;\n}' } } });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().errors).toEqual([
      expect.objectContaining({ field: 'executors.customerById', code: 'syntax_error', line: 3 }),
      expect.objectContaining({ field: 'executors.customerById', code: 'secret_missing', secret: 'ERP_TOKEN' }),
    ]);
    expect((await t.api('GET', '/api/v1/erp')).json().executors.customerById).toMatchObject({ type: 'apiCall' });
  });

  it('live: a lookup asks the ERP once, then the cache answers; refresh asks again; cacheOnly never does', async () => {
    await goLive();
    const first = await contract('V-1001');
    expect(first.statusCode).toBe(200);
    // Fields beyond the mandatory ones are kept as the ERP gave them (company: null for a private customer).
    expect(first.json()).toEqual({ ...erika, company: null });
    expect(first.headers['x-deskhook-cache']).toBe('miss');
    const second = await contract('V-1001');
    expect(second.headers['x-deskhook-cache']).toBe('hit');
    expect(callsOf('contractById')).toBe(1);
    expect((await contract('V-1001', '?refresh=true')).headers['x-deskhook-cache']).toBe('miss');
    expect(callsOf('contractById')).toBe(2);
    expect((await contract('V-1001', '?cacheOnly=true')).json()).toEqual({ ...erika, company: null });
    const unknown = await contract('V-9999', '?cacheOnly=true');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['x-deskhook-cache']).toBe('miss');
    expect(callsOf('contractById')).toBe(2);
    const bar = await t.api('GET', '/api/v1/customers/search?q=nobody&cacheOnly=true', undefined, t.agentToken);
    expect(bar.json()).toEqual({ items: [], stale: false });
    expect(callsOf('searchCustomers')).toBe(0);
  });

  it('an answer that breaks the contract is an error naming the field', async () => {
    await goLive();
    contracts.set('V-2', { id: 'V-2', business: false, lastname: 'X' });
    customers.set('K-2', { id: 'K-2', business: false, lastname: 'X', contractIds: [] });
    contracts.set('V-3', { id: 'V-3', customerId: 'K-3', business: true, lastname: null });
    const noCustomer = await contract('V-2');
    expect(noCustomer.statusCode).toBe(502);
    expect(noCustomer.json()).toMatchObject({ code: 'erp_failed' });
    expect(noCustomer.json().detail).toContain('contract.customerId');
    expect((await t.api('GET', '/api/v1/customers/K-2', undefined, t.agentToken)).json().detail).toContain('customer.contractIds');
    expect((await contract('V-3')).json().detail).toContain('contract.company');
  });

  it('100 concurrent identical misses make one ERP call', async () => {
    await goLive();
    delayMs = 100;
    const results = await Promise.all(Array.from({ length: 100 }, () => contract('V-1001')));
    expect(results.every((r) => r.statusCode === 200 && r.json().id === 'V-1001')).toBe(true);
    expect(callsOf('contractById')).toBe(1);
  });

  it('when the ERP fails an expired answer is served, marked stale; without one the error shows', async () => {
    await goLive({ contractById: 60 });
    await contract('V-1001');
    t.clock.advance(61_000);
    down = true;
    const stale = await contract('V-1001');
    expect(stale.statusCode).toBe(200);
    expect(stale.json()).toMatchObject({ id: 'V-1001', stale: true });
    expect(stale.headers['x-deskhook-cache']).toBe('stale');
    const unknown = await contract('V-4711');
    expect(unknown.statusCode).toBe(502);
    expect(unknown.json().detail).toContain('500');
    const stats = (await t.api('GET', '/api/v1/erp/stats')).json();
    expect(stats).toMatchObject({ staleServed: 1, erpFailures: 2, shared: false });
    expect(stats.erpLatencyMs.p50).toBeGreaterThan(0);
  });

  it('not found is remembered for the notFound TTL', async () => {
    await goLive({ notFound: 30 });
    expect((await contract('V-404')).statusCode).toBe(404);
    expect((await contract('V-404')).statusCode).toBe(404);
    expect(callsOf('contractById')).toBe(1);
    t.clock.advance(31_000);
    contracts.set('V-404', { ...erika, id: 'V-404' });
    expect((await contract('V-404')).statusCode).toBe(200);
    expect(callsOf('contractById')).toBe(2);
  });

  it('invalidation by id through the API, and by the ERP itself with an API key', async () => {
    await goLive();
    await contract('V-1001');
    contracts.set('V-1001', { ...erika, tariff: 'Basis' });
    expect((await contract('V-1001')).json().tariff).toBe('Öko Strom 24');
    expect((await t.api('DELETE', '/api/v1/erp/cache/contracts/V-1001', undefined, t.agentToken)).statusCode).toBe(204);
    expect((await contract('V-1001')).json().tariff).toBe('Basis');
    // The ERP tells deskhook with the API key of a service user.
    const service = (await t.api('POST', '/api/v1/users', { email: 'erp@example.com', name: 'ERP', role: 'agent', service: true })).json();
    const key = (await t.api('POST', '/api/v1/api-keys', { userId: service.id, name: 'ERP changes' })).json().key;
    contracts.set('V-1001', { ...erika, tariff: 'Wärme' });
    expect((await t.api('POST', '/api/v1/erp/changes', { contractId: 'V-1001' }, null)).statusCode).toBe(401);
    expect((await t.api('POST', '/api/v1/erp/changes', { contractId: 'V-1001' }, key)).statusCode).toBe(202);
    expect((await contract('V-1001')).json().tariff).toBe('Wärme');
  });

  it('searchContracts answers at most one; searchCustomers loads up to 10 customers with their contracts', async () => {
    await goLive();
    const found = await t.api('POST', '/api/v1/contracts/search', { email: 'erika@example.com', lastname: 'Mustermann', ticketId: 5 }, t.agentToken);
    expect(found.json()).toEqual({ match: { contractId: 'V-1001', customerId: 'K-77' }, stale: false });
    expect(calls.find((c) => c.op === 'searchContracts')!.input).toEqual({ ticketId: 5, email: 'erika@example.com', lastname: 'Mustermann' });
    override = (op) => (op === 'searchContracts' ? [{ contractId: 'A', customerId: 'B' }, { contractId: 'C', customerId: 'D' }] : null);
    const two = await t.api('POST', '/api/v1/contracts/search', { email: 'x@example.com' }, t.agentToken);
    expect(two.statusCode).toBe(502);
    expect(two.json().detail).toContain('at most one');
    override = null;
    for (let i = 0; i < 12; i++) {
      customers.set(`K-${i}`, { id: `K-${i}`, business: false, lastname: 'Schmidt', contractIds: [`V-${i}`] });
      contracts.set(`V-${i}`, { id: `V-${i}`, customerId: `K-${i}`, business: false, lastname: 'Schmidt' });
    }
    const search = (await t.api('GET', '/api/v1/customers/search?q=schmidt', undefined, t.agentToken)).json();
    expect(search.items).toHaveLength(10);
    expect(search.items[0]).toMatchObject({ id: 'K-0', contracts: [{ id: 'V-0', customerId: 'K-0' }] });
  });

  it('the test button runs one operation without the cache and reports what is wrong', async () => {
    await goLive();
    const ok = (await t.api('POST', '/api/v1/erp/contractById/test', { input: { contractId: 'V-1001' } })).json();
    expect(ok).toMatchObject({ ok: true, output: { ...erika, company: null }, error: null });
    contracts.set('V-5', { id: 'V-5', customerId: 'K-5', business: 'no', lastname: 'X' });
    const bad = (await t.api('POST', '/api/v1/erp/contractById/test', { input: { contractId: 'V-5' } })).json();
    expect(bad).toMatchObject({ ok: false });
    expect(bad.error).toContain('contract.business');
    expect(callsOf('contractById')).toBe(2);
  });

  it('local mode: records imported into deskhook answer the same four operations', async () => {
    expect((await t.api('PUT', '/api/v1/contracts/V-1', { customerId: 'K-1', business: false, firstname: 'Jürgen', lastname: 'Müller', email: 'J.Mueller@example.com', zip: '50667', city: 'Köln', meterNumber: '1ESY1160123456' }, t.agentToken)).statusCode).toBe(403);
    expect((await t.api('PUT', '/api/v1/contracts/V-1', { customerId: 'K-1', business: false, firstname: 'Jürgen', lastname: 'Müller', email: 'J.Mueller@example.com', zip: '50667', city: 'Köln', meterNumber: '1ESY1160123456' })).statusCode).toBe(200);
    expect((await t.api('PUT', '/api/v1/customers/K-1', { business: false, firstname: 'Jürgen', lastname: 'Müller', email: 'j.mueller@example.com', contractIds: ['V-1'] })).statusCode).toBe(200);
    const otherId = await t.api('PUT', '/api/v1/contracts/V-7', { id: 'V-8', customerId: 'K-1', business: false, lastname: 'X' });
    expect(otherId.statusCode).toBe(400);
    expect(otherId.json().detail).toContain('not the id of the path');
    const bad = await t.api('PUT', '/api/v1/customers/K-2', { business: false, lastname: 'Leer', contractIds: [] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().detail).toContain('customer.contractIds');
    const lines = [
      { type: 'contract', id: 'V-2', customerId: 'K-2', business: true, company: 'Bäckerei Schmitz GmbH', lastname: null, zip: '50667' },
      { type: 'customer', id: 'K-2', business: true, company: 'Bäckerei Schmitz GmbH', contractIds: ['V-2'] },
    ].map((l) => JSON.stringify(l)).join('\n');
    const imported = await t.http.inject({ method: 'POST', url: '/api/v1/erp/import', payload: lines, headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/x-ndjson' } });
    expect(imported.json()).toEqual({ contracts: 1, customers: 1 });
    const broken = await t.http.inject({ method: 'POST', url: '/api/v1/erp/import', payload: `${lines}\n{"type":"contract","id":"V-3","business":false,"lastname":"Ohne"}`, headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/x-ndjson' } });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().detail).toContain('line 3');
    expect((await contract('V-3')).statusCode).toBe(404);
    // Text no database stores (a NUL, spelled as a JSON escape, or a lone surrogate) is refused
    // with its line and field before anything is written, as in any JSON body.
    for (const [value, problem] of [['Oh\\u0000ne', 'NUL'], ['Oh\\ud800ne', 'surrogate']] as const) {
      const bad = await t.http.inject({ method: 'POST', url: '/api/v1/erp/import', payload: `${lines}\n{"type":"contract","id":"V-4","customerId":"K-2","business":false,"lastname":"${value}"}`, headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/x-ndjson' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().detail).toMatch(new RegExp(`^line 3: lastname .*${problem}`));
      expect((await contract('V-4')).statusCode).toBe(404);
    }

    const got = await contract('V-1');
    expect(got.json()).toMatchObject({ id: 'V-1', lastname: 'Müller', meterNumber: '1ESY1160123456' });
    expect(got.headers['x-deskhook-cache']).toBe('local');
    const search = async (body: Record<string, string>) => (await t.api('POST', '/api/v1/contracts/search', body, t.agentToken)).json().match;
    expect(await search({ email: 'j.mueller@example.com' })).toEqual({ contractId: 'V-1', customerId: 'K-1' });
    expect(await search({ meterNumber: '1ESY 1160 1234 56' })).toEqual({ contractId: 'V-1', customerId: 'K-1' });
    await t.api('PUT', '/api/v1/contracts/V-9', { customerId: 'K-9', business: false, lastname: 'Gruppe', iban: 'DE89 3704 0044 0532 0130 00' });
    expect(await search({ iban: 'DE89370400440532013000' })).toEqual({ contractId: 'V-9', customerId: 'K-9' });
    expect(await search({ lastname: 'Müller', postalCode: '50667' })).toEqual({ contractId: 'V-1', customerId: 'K-1' });
    expect(await search({ company: 'Bäckerei Schmitz', postalCode: '50667' })).toEqual({ contractId: 'V-2', customerId: 'K-2' });
    // A name alone is not enough, and two matches are none.
    expect(await search({ lastname: 'Müller' })).toBeNull();
    expect(await search({ postalCode: '50667', lastname: 'GmbH', city: 'x' })).toBeNull();
    // The search bar matches word prefixes, with or without umlauts.
    for (const q of ['m%C3%BCll', 'mull', 'muell', 'J%C3%BCrgen%20M']) {
      const bar = (await t.api('GET', `/api/v1/customers/search?q=${q}`, undefined, t.agentToken)).json();
      expect(bar.items, q).toMatchObject([{ id: 'K-1', contracts: [{ id: 'V-1' }] }]);
    }
    expect((await t.api('GET', '/api/v1/customers/search?q=meier', undefined, t.agentToken)).json().items).toEqual([]);
    expect((await t.api('GET', '/api/v1/customers/search?q=B%C3%A4ckerei', undefined, t.agentToken)).json().items.map((c: any) => c.id)).toEqual(['K-2']);
    expect((await t.api('DELETE', '/api/v1/contracts/V-1')).statusCode).toBe(204);
    expect((await contract('V-1')).statusCode).toBe(404);
    expect(calls).toEqual([]);
  });
});

describe('ERP cache shared through Redis', () => {
  it('an answer cached by one process is a hit for another, and an invalidation in one is seen by all', async () => {
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const namespace = `deskhook:test:${randomUUID()}:`;
    const t = await startTestApp('sqlite');
    const caches = [new RedisErpCache(url, namespace), new RedisErpCache(url, namespace)];
    try {
      contracts.clear();
      calls.length = 0;
      down = false;
      delayMs = 0;
      override = null;
      contracts.set('V-1001', erika);
      await t.api('PUT', '/api/v1/erp', { mode: 'live', executors: { contractById: { type: 'apiCall', url: `${base}/contractById` } } });
      const [a, b] = caches.map((cache) => new ErpService(t.deps, cache));
      expect((await a!.contractById('V-1001')).source).toBe('erp');
      expect((await b!.contractById('V-1001'))).toMatchObject({ source: 'cache', value: { tariff: 'Öko Strom 24' } });
      contracts.set('V-1001', { ...erika, tariff: 'Basis' });
      await b!.invalidate({ contractId: 'V-1001' });
      expect((await a!.contractById('V-1001'))).toMatchObject({ source: 'erp', value: { tariff: 'Basis' } });
      expect(calls).toHaveLength(2);
      expect(a!.stats().shared).toBe(true);
    } finally {
      await caches[0]!.deletePrefixes(['']);
      await Promise.all(caches.map((c) => c.close()));
      await t.close();
    }
  });
});
