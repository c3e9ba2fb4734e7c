import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, login, removeTempDirs, sleep, startServer, stopServer, tempDir, type Child, type RunningServer, withAdminClient } from './support/process.ts';

/**
 * With REDIS_URL the ERP cache is shared between processes: two real `deskhook serve --role api`
 * processes on one PostgreSQL database (so they share the ERP settings) and one Redis. A contract
 * fetched through one process is a cache hit in the other, without asking the ERP again, and an
 * invalidation made through either (DELETE /erp/cache/contracts/{id} as an agent, or the ERP's own
 * POST /erp/changes with a service user's API key) is seen by both at once.
 *
 * The product's Redis namespace is fixed (`deskhook:erp:`), and changing the ERP settings clears
 * every contractById entry in it; so this test uses ids with a random suffix, serialises itself
 * against concurrent runs of itself with a lock key outside that namespace, and at the end deletes
 * exactly the keys it created.
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const NAMESPACE = 'deskhook:erp:';
/** Outside NAMESPACE: the product's cache clears never touch it. */
const LOCK_KEY = 'deskhook:test-lock:erp-redis-processes';
const LOCK_TTL_MS = 120_000;
/** How long a process may keep using ERP settings it read before (src/app/erp/erp-service.ts). */
const SETTINGS_REFRESH_MS = 5_000;

afterAll(async () => {
  await killAll();
  removeTempDirs();
});

/** The team's ERP: one POST endpoint per operation, counting the calls per record id. */
class FakeErp {
  readonly contracts = new Map<string, Record<string, unknown>>();
  readonly calls: { op: string; input: Record<string, unknown> }[] = [];

  private constructor(private readonly server: Server, readonly base: string) {}

  static async start(): Promise<FakeErp> {
    let erp: FakeErp | null = null;
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; });
      req.on('end', () => {
        const op = (req.url ?? '/').slice(1);
        const input = (body ? JSON.parse(body) : {}) as Record<string, unknown>;
        erp!.calls.push({ op, input });
        const out = op === 'contractById' ? erp!.contracts.get(String(input.contractId)) : undefined;
        if (!out) res.writeHead(404).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    erp = new FakeErp(server, `http://127.0.0.1:${(server.address() as { port: number }).port}`);
    return erp;
  }

  callsFor(contractId: string): number {
    return this.calls.filter((c) => c.op === 'contractById' && c.input.contractId === contractId).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Answer {
  status: number;
  cache: string | null;
  json: any;
  text: string;
}

/** Like support/process.ts's `request`, with the `x-deskhook-cache` header of the answer. */
async function call(server: RunningServer, method: string, path: string, options: { token: string; body?: unknown }): Promise<Answer> {
  const res = await fetch(`${server.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${options.token}`, ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // empty (204)
  }
  return { status: res.status, cache: res.headers.get('x-deskhook-cache'), json, text };
}

/** What a process logged at level error or worse (pino: 50 and up). */
const errorLines = (child: Child) => child.logLines().filter((l) => typeof l.level === 'number' && l.level >= 50);

describe.skipIf(!process.env.DATABASE_URL)('PostgreSQL + Redis: two `serve --role api` processes', () => {
  const database = `dh_erpr_${randomBytes(6).toString('hex')}`;
  const suffix = randomBytes(6).toString('hex');
  const lockToken = `${process.pid}:${suffix}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2, lazyConnect: true });
  redis.on('error', () => undefined);
  const cleanups: (() => Promise<unknown>)[] = [];

  const admin = withAdminClient;

  /** Every key of the product's namespace that names one of this run's ids. */
  const ourKeys = async (): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${NAMESPACE}*${suffix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  };
  const deleteOurKeys = async (): Promise<void> => {
    const keys = await ourKeys();
    if (keys.length) await redis.del(...keys);
  };

  const acquireLock = async (waitMs: number): Promise<void> => {
    const deadline = Date.now() + waitMs;
    while ((await redis.set(LOCK_KEY, lockToken, 'PX', LOCK_TTL_MS, 'NX')) !== 'OK') {
      if (Date.now() > deadline) throw new Error(`${LOCK_KEY} is held by another run (${await redis.get(LOCK_KEY)}) for more than ${waitMs} ms`);
      await sleep(250);
    }
  };
  /** Deletes the lock only if it is still ours. */
  const releaseLock = () => redis.eval(
    `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`, 1, LOCK_KEY, lockToken,
  );

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    if (redis.status === 'ready') {
      await deleteOurKeys().catch(() => undefined);
      await releaseLock().catch(() => undefined);
    }
    await redis.quit().catch(() => redis.disconnect());
    await admin((c) => c.query(`drop database if exists ${database} with (force)`));
  }, 30_000);

  it('share one ERP cache: a miss in one is a hit in the other, an invalidation in either is seen by both', async () => {
    const started = Date.now();
    await redis.connect();

    const erp = await FakeErp.start();
    cleanups.push(() => erp.close());
    const contractId = `V-${suffix}`;
    const probeId = `probe-${suffix}`;
    const record = { id: contractId, customerId: `K-${suffix}`, business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika@example.com', zip: '10115' };
    erp.contracts.set(contractId, { ...record, tariff: 'Öko Strom 24' });

    // A database of its own, shared by both processes.
    await admin((c) => c.query(`create database ${database}`));
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${database}`;
    const adminEmail = 'erp-admin@example.com';
    const adminPassword = `pw-${randomBytes(8).toString('hex')}`;
    const env = {
      DATABASE_URL: url.toString(),
      DESKHOOK_SECRET_KEY: randomBytes(32).toString('base64'),
      REDIS_URL,
      DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32',
      DESKHOOK_DATABASE_POOL_SIZE: '4',
    };
    const servers: RunningServer[] = [];
    cleanups.push(() => Promise.all(servers.map((s) => s.child.kill())));
    // One after the other: the first migrates the fresh database and creates the admin.
    const a = await startServer({ dataDir: tempDir(), args: ['--role', 'api'], env: { ...env, DESKHOOK_ADMIN_EMAIL: adminEmail, DESKHOOK_ADMIN_PASSWORD: adminPassword }, timeoutMs: 40_000 });
    servers.push(a);
    const b = await startServer({ dataDir: tempDir(), args: ['--role', 'api'], env, timeoutMs: 40_000 });
    servers.push(b);
    for (const s of servers) {
      expect(s.child.logLines().find((l) => l.msg === 'deskhook is up'), s.child.describe()).toMatchObject({ role: 'api', database: 'postgres', smtpPort: null });
    }

    // The admin logs in on A; the session is in the shared database, so it works on B too.
    const session = await login(a.baseUrl, adminEmail, adminPassword);
    expect(session.status, session.text).toBe(200);
    const token = session.json.token as string;
    // The ERP's own credentials: a service user's API key.
    const user = await call(a, 'POST', '/api/v1/users', { token, body: { email: `erp-${suffix}@example.com`, name: 'ERP', role: 'agent', service: true } });
    expect(user.status, user.text).toBe(201);
    const key = await call(a, 'POST', '/api/v1/api-keys', { token, body: { userId: user.json.id, name: 'ERP change notifications' } });
    expect(key.status, key.text).toBe(201);
    const erpKey = key.json.key as string;

    const contract = (server: RunningServer, id = contractId) => call(server, 'GET', `/api/v1/contracts/${encodeURIComponent(id)}`, { token });

    // From here on this run clears the namespace (PUT /erp below does): no other run of this test may be mid-way.
    await acquireLock(90_000);
    // Local mode (the default) still: nothing is asked of the ERP. B now holds these settings for up to 5 s.
    for (const s of [a, b]) {
      const before = await contract(s);
      expect([before.status, before.cache], before.text).toEqual([404, 'local']);
    }
    const localReadAtB = Date.now();

    const live = await call(a, 'PUT', '/api/v1/erp', {
      token,
      body: { mode: 'live', executors: { contractById: { type: 'apiCall', url: `${erp.base}/contractById` } }, cacheTtlSeconds: { contractById: 600 } },
    });
    expect(live.status, live.text).toBe(200);
    expect(live.json).toMatchObject({ mode: 'live', cacheTtlSeconds: { contractById: 600 } });
    const putAt = Date.now();

    // B re-reads the settings from the shared database within SETTINGS_REFRESH_MS of its last read.
    let probe: Answer;
    let stillLocal = 0;
    for (;;) {
      probe = await contract(b, probeId);
      if (probe.cache !== 'local') break;
      stillLocal++;
      expect(Date.now() - localReadAtB, 'B still answers from local mode').toBeLessThan(SETTINGS_REFRESH_MS + 3_000);
      await sleep(200);
    }
    const liveAtB = Date.now();
    expect([probe.status, probe.cache], probe.text).toEqual([404, 'miss']);
    expect(erp.callsFor(probeId)).toBe(1);

    // A fetches the contract: a miss, one ERP call, and the answer is in Redis.
    const first = await contract(a);
    expect([first.status, first.cache], first.text).toEqual([200, 'miss']);
    expect(first.json).toMatchObject({ id: contractId, tariff: 'Öko Strom 24' });
    expect(erp.callsFor(contractId)).toBe(1);
    const redisKey = `${NAMESPACE}contractById:contractId=${contractId}`;
    expect(JSON.parse((await redis.get(redisKey))!)).toMatchObject({ value: { id: contractId, tariff: 'Öko Strom 24' } });

    // B never fetched it, and answers from the shared cache: a hit, no ERP call.
    const shared = await contract(b);
    expect([shared.status, shared.cache], shared.text).toEqual([200, 'hit']);
    expect(shared.json).toEqual(first.json);
    expect((await contract(a)).cache).toBe('hit');
    expect(erp.callsFor(contractId)).toBe(1);

    // The record changes in the ERP; until someone says so, both still answer what is cached.
    erp.contracts.set(contractId, { ...record, tariff: 'Basis' });
    const cached = await contract(b);
    expect([cached.cache, cached.json.tariff]).toEqual(['hit', 'Öko Strom 24']);

    // An agent invalidates on B ...
    const invalidated = await call(b, 'DELETE', `/api/v1/erp/cache/contracts/${encodeURIComponent(contractId)}`, { token });
    expect(invalidated.status, invalidated.text).toBe(204);
    expect(await redis.exists(redisKey)).toBe(0);
    // ... and A asks the ERP again and gets the new data, which B then has too.
    const afterDelete = await contract(a);
    expect([afterDelete.status, afterDelete.cache, afterDelete.json.tariff], afterDelete.text).toEqual([200, 'miss', 'Basis']);
    expect(erp.callsFor(contractId)).toBe(2);
    const afterDeleteB = await contract(b);
    expect([afterDeleteB.cache, afterDeleteB.json.tariff]).toEqual(['hit', 'Basis']);
    expect(erp.callsFor(contractId)).toBe(2);

    // The ERP changes the record again and tells A, with its API key ...
    erp.contracts.set(contractId, { ...record, tariff: 'Fix 12' });
    const change = await call(a, 'POST', '/api/v1/erp/changes', { token: erpKey, body: { contractId } });
    expect(change.status, change.text).toBe(202);
    expect(change.json).toEqual({ invalidated: { contractId, customerId: null } });
    expect(await redis.exists(redisKey)).toBe(0);
    // ... and B, which had the old answer cached, asks the ERP now.
    const afterChange = await contract(b);
    expect([afterChange.status, afterChange.cache, afterChange.json.tariff], afterChange.text).toEqual([200, 'miss', 'Fix 12']);
    expect(erp.callsFor(contractId)).toBe(3);
    const afterChangeA = await contract(a);
    expect([afterChangeA.cache, afterChangeA.json.tariff]).toEqual(['hit', 'Fix 12']);
    expect(erp.callsFor(contractId)).toBe(3);

    // Each process counts its own lookups; both say the cache is shared; together they made every ERP call.
    const statsA = await call(a, 'GET', '/api/v1/erp/stats', { token });
    const statsB = await call(b, 'GET', '/api/v1/erp/stats', { token });
    expect(statsB.status, statsB.text).toBe(200);
    expect(statsB.json).toMatchObject({ shared: true, hits: 3, misses: 2, erpCalls: 2, erpFailures: 0, staleServed: 0 });
    expect(statsA.json).toMatchObject({ shared: true, hits: 2, misses: 2, erpCalls: 2, erpFailures: 0, staleServed: 0 });
    expect(statsA.json.erpCalls + statsB.json.erpCalls).toBe(erp.calls.length);
    expect(erp.calls.every((c) => c.op === 'contractById')).toBe(true);

    // Leave nothing behind in Redis: this run's keys are the contract's and perhaps the probe's
    // "not found" (the settings change clears the cache once more SETTINGS_PROPAGATION_MS after the
    // PUT, which removes the probe's entry when B wrote it before then).
    const left = await ourKeys();
    expect(left).toContain(redisKey);
    expect(left.filter((k) => k !== redisKey && k !== `${NAMESPACE}contractById:contractId=${probeId}`)).toEqual([]);
    await deleteOurKeys();
    expect(await ourKeys()).toEqual([]);
    expect(await releaseLock()).toBe(1);

    for (const s of servers) expect(errorLines(s.child), s.child.describe()).toEqual([]);
    for (const s of servers) {
      const exit = await stopServer(s, 15_000);
      expect(exit, s.child.describe()).toEqual({ code: 0, signal: null });
    }
    console.log(`[erp-redis] B used the new ERP settings ${((liveAtB - putAt) / 1000).toFixed(1)} s after the PUT on A (${stillLocal} answers from local mode before); `
      + `${erp.calls.length} ERP calls in all; ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
  }, 180_000);
});
