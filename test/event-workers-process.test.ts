import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, it, type ExpectStatic } from 'vitest';
import { AesGcmSecretBox, generateSecretKey } from '../src/adapters/crypto/node-crypto.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../src/adapters/db/dialect.ts';
import { KyselyStore } from '../src/adapters/db/kysely-store.ts';
import { createEventHook } from '../src/app/events/event-hooks.ts';
import { systemClock } from '../src/app/ports/clock.ts';
import { publish, type EventDraft } from '../src/app/record-change.ts';
import type { TestDatabase } from './support/backends.ts';
import { killAll, login, removeTempDirs, request, sleep, startServer, stopServer, tempDir, type Child, type RunningServer, withAdminClient } from './support/process.ts';
import { makeDeps } from './support/test-app.ts';

/**
 * Event delivery survives a worker that dies mid-delivery: real `deskhook serve` processes deliver
 * hundreds of events to a receiver on 127.0.0.1, one of them is SIGKILLed while it has deliveries
 * in flight, and afterwards every event has arrived, with no more duplicates than the deliveries
 * the killed process had leased and not recorded. Those leases (DESKHOOK_EVENT_TIMEOUT_MS + 30 s)
 * have to run out before anyone takes them over, so each case takes 40-50 s, most of it waiting;
 * the two cases run concurrently.
 */

/** Kept small: the lease, and so the wait for the orphaned deliveries, is this plus 30 s. */
const EVENT_TIMEOUT_MS = 3_000;
const LEASE_MS = EVENT_TIMEOUT_MS + 30_000;

afterAll(async () => {
  await killAll();
  removeTempDirs();
});

interface Receipt {
  id: string;
  at: number;
}

/**
 * The team's receiver: records the `webhook-id` (the event id) of every request as soon as the
 * request is in, and answers 200 after `delayMs`, so that a sender always has deliveries in flight.
 */
class Receiver {
  readonly receipts: Receipt[] = [];
  /** Called with the number of receipts after each one (synchronously, in the request handler). */
  onReceipt: ((count: number) => void) | null = null;

  private constructor(private readonly server: Server, readonly url: string, public delayMs: number) {}

  static async start(delayMs: number): Promise<Receiver> {
    let receiver: Receiver | null = null;
    const server = createServer((req, res) => {
      req.on('error', () => undefined);
      res.on('error', () => undefined);
      req.resume();
      req.on('end', () => {
        const r = receiver!;
        r.receipts.push({ id: String(req.headers['webhook-id']), at: Date.now() });
        r.onReceipt?.(r.receipts.length);
        setTimeout(() => {
          if (res.destroyed) return;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"ok":true}');
        }, r.delayMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    receiver = new Receiver(server, `http://127.0.0.1:${port}/events`, delayMs);
    return receiver;
  }

  distinct(): Set<string> {
    return new Set(this.receipts.map((r) => r.id));
  }

  /** Event ids received more than once. */
  duplicated(): Set<string> {
    const seen = new Set<string>();
    const twice = new Set<string>();
    for (const { id } of this.receipts) (seen.has(id) ? twice : seen).add(id);
    return twice;
  }

  /** SIGKILLs `victim`'s process group once `threshold` receipts are in (at once if they already are). */
  killAt(threshold: number, victim: Child): Promise<{ receipts: number; at: number }> {
    return new Promise((resolve) => {
      const fire = (count: number) => {
        if (count < threshold) return;
        this.onReceipt = null;
        try {
          process.kill(-victim.pid, 'SIGKILL');
        } catch {
          victim.process.kill('SIGKILL');
        }
        resolve({ receipts: count, at: Date.now() });
      };
      this.onReceipt = fire;
      fire(this.receipts.length);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** What the database says about the deliveries, read with the same tables the workers write. */
async function deliveryState(handle: DatabaseHandle) {
  const deliveries = await handle.db.selectFrom('event_deliveries')
    .select(['id', 'event_id', 'status', 'attempts', 'locked_by']).orderBy('id').execute();
  const attempts = await handle.db.selectFrom('event_delivery_attempts')
    .select(['delivery_id', 'attempt', 'outcome', 'worker', 'started_at']).orderBy('id').execute();
  return { deliveries, attempts };
}

/** Deliveries leased by a holder matching `holderLike` and still pending: claimed, never recorded. */
async function leasedBy(handle: DatabaseHandle, holderLike: string) {
  return handle.db.selectFrom('event_deliveries').select(['id', 'event_id', 'locked_by', 'locked_until'])
    .where('status', '=', 'pending').where('locked_by', 'like', holderLike).execute();
}

async function eventIds(handle: DatabaseHandle): Promise<string[]> {
  return (await handle.db.selectFrom('events').select('id').where('type', '=', 'TicketCreated').execute()).map((e) => e.id);
}

/** Waits until every event id has been received and the database holds no pending delivery. */
async function waitAllDelivered(receiver: Receiver, handle: DatabaseHandle, ids: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = receiver.distinct();
    if (ids.every((id) => got.has(id))) {
      const pending = await handle.db.selectFrom('event_deliveries').select('id').where('status', '=', 'pending').execute();
      if (pending.length === 0) return;
    }
    if (Date.now() > deadline) {
      throw new Error(`not everything was delivered within ${timeoutMs} ms: ${got.size}/${ids.length} distinct ids, ${receiver.receipts.length} receipts`);
    }
    await sleep(250);
  }
}

const pidPattern = (pid: number) => `%:${pid}:%`;
const holderPid = (worker: string | null) => (worker ? Number(worker.split(':').at(-2)) : null);
/** What a process logged at level error or worse (pino: 50 and up). */
const errorLines = (child: Child) => child.logLines().filter((l) => typeof l.level === 'number' && l.level >= 50);
/** PostgreSQL hands back Date objects, SQLite ISO strings. */
const ms = (ts: string | Date | null) => (ts === null ? NaN : new Date(ts).getTime());

/**
 * Each orphaned delivery was attempted again exactly once, by `taker`, and not before the lease
 * the dead process held on it had run out.
 */
function expectTakenOverAfterLease(
  expect: ExpectStatic,
  state: Awaited<ReturnType<typeof deliveryState>>,
  orphaned: Awaited<ReturnType<typeof leasedBy>>,
  taker: number,
): void {
  for (const d of orphaned) {
    const attempts = state.attempts.filter((a) => a.delivery_id === d.id);
    expect(attempts, `delivery ${d.id}`).toHaveLength(1);
    expect(holderPid(attempts[0]!.worker), `delivery ${d.id}`).toBe(taker);
    expect(ms(attempts[0]!.started_at), `delivery ${d.id}`).toBeGreaterThanOrEqual(ms(d.locked_until));
  }
}

describe.skipIf(!process.env.DATABASE_URL)('PostgreSQL: several `serve --role worker` processes', { concurrent: true }, () => {
  const database = `dh_evw_${randomBytes(6).toString('hex')}`;
  const cleanups: (() => Promise<unknown>)[] = [];

  const admin = withAdminClient;

  // Not killAll(): the SQLite case runs at the same time and has processes of its own.
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await admin((c) => c.query(`drop database if exists ${database} with (force)`));
  }, 30_000);

  it('share the deliveries; one SIGKILLed mid-run loses nothing and duplicates at most what it had in flight', async ({ expect }) => {
    const started = Date.now();
    const EVENTS = 400;
    const CONCURRENCY = 8;

    // A database of its own: the processes use the default schema of whatever DATABASE_URL names.
    await admin((c) => c.query(`create database ${database}`));
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${database}`;
    const databaseUrl = url.toString();

    const handle = openDatabase({ kind: 'postgres', url: databaseUrl, poolSize: 4 });
    cleanups.push(() => handle.close());
    await migrateToLatest(handle);
    const store = new KyselyStore(handle);
    const db: TestDatabase = {
      kind: 'postgres', handle, store,
      reopen: () => Promise.reject(new Error('not used here')),
      cleanup: () => handle.close(),
    };
    // The workers open the hook's sealed signing secret: they need the key it was sealed with.
    const secretKey = generateSecretKey();
    const deps = makeDeps(db, systemClock, { secretBox: new AesGcmSecretBox(secretKey) });

    const receiver = await Receiver.start(30);
    cleanups.push(() => receiver.close());
    await createEventHook(deps, {
      name: 'CRM sync', events: ['TicketCreated'], executor: { type: 'apiCall', url: receiver.url, method: 'POST', headers: {} },
    }, null);

    const env = {
      DATABASE_URL: databaseUrl,
      DESKHOOK_SECRET_KEY: secretKey,
      DESKHOOK_EVENT_CONCURRENCY: String(CONCURRENCY),
      DESKHOOK_EVENT_POLL_MS: '50',
      DESKHOOK_EVENT_TIMEOUT_MS: String(EVENT_TIMEOUT_MS),
      DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32',
      DESKHOOK_DATABASE_POOL_SIZE: '4',
    };
    const workers: RunningServer[] = [];
    cleanups.push(() => Promise.all(workers.map((w) => w.child.kill())));
    await Promise.all([0, 1].map(async () => {
      workers.push(await startServer({ dataDir: tempDir(), args: ['--role', 'worker'], env, timeoutMs: 40_000 }));
    }));
    for (const w of workers) {
      expect(w.child.logLines().find((l) => l.msg === 'deskhook is up'), w.child.describe()).toMatchObject({ role: 'worker', database: 'postgres' });
    }
    const [victim, survivor] = workers as [RunningServer, RunningServer];

    // Both workers are polling; the whole batch appears at once, as a burst of changes would.
    const drafts: EventDraft[] = Array.from({ length: EVENTS }, (_, i) => ({ type: 'TicketCreated', ticketId: null, userId: null, data: { n: i } }));
    await deps.store.transaction((tx) => publish(tx, deps, drafts));
    const ids = await eventIds(handle);
    expect(ids).toHaveLength(EVENTS);

    // A quarter in, and at a moment the victim holds leases (on a loaded machine one process may
    // be between batches): the kill must find deliveries in flight.
    await new Promise<void>((resolve) => {
      receiver.onReceipt = (count) => { if (count >= EVENTS / 4) { receiver.onReceipt = null; resolve(); } };
      if (receiver.receipts.length >= EVENTS / 4) resolve();
    });
    for (let i = 0; i < 500 && (await leasedBy(handle, pidPattern(victim.child.pid))).length === 0; i++) await sleep(5);
    const kill = await receiver.killAt(0, victim.child);
    const exit = await victim.child.waitForExit(10_000);
    expect(exit.signal, victim.child.describe()).toBe('SIGKILL');
    // A record the victim had committed just before dying is visible once its backend is gone.
    await sleep(1_000);
    const orphaned = await leasedBy(handle, pidPattern(victim.child.pid));
    const inFlightAtKill = orphaned.length;

    await waitAllDelivered(receiver, handle, ids, LEASE_MS + 30_000);
    const finishedAt = Date.now();

    const distinct = receiver.distinct();
    const duplicated = receiver.duplicated();
    const receipts = receiver.receipts.length;
    const duplicates = receipts - distinct.size;
    console.log(`[postgres] ${EVENTS} events, 2 workers x ${CONCURRENCY}: killed ${((kill.at - started) / 1000).toFixed(1)} s in, after ${kill.receipts} receipts, with ${inFlightAtKill} deliveries leased; `
      + `${receipts} receipts, ${distinct.size} distinct, ${duplicates} duplicates; all delivered ${((finishedAt - kill.at) / 1000).toFixed(1)} s after the kill, `
      + `${((finishedAt - started) / 1000).toFixed(1)} s in all`);

    // Killed mid-run, with deliveries of its own in flight.
    expect(kill.receipts).toBeLessThan(EVENTS);
    expect(inFlightAtKill).toBeGreaterThanOrEqual(1);
    expect(inFlightAtKill).toBeLessThanOrEqual(CONCURRENCY);
    // Every event arrived; the only duplicates are deliveries the victim had leased and not recorded.
    expect([...distinct].sort()).toEqual([...ids].sort());
    expect(duplicates).toBeLessThanOrEqual(inFlightAtKill);
    const orphanedEvents = new Set(orphaned.map((d) => d.event_id));
    for (const id of duplicated) expect(orphanedEvents.has(id), `duplicate ${id} was not one of the victim's leases`).toBe(true);

    const state = await deliveryState(handle);
    expect(state.deliveries).toHaveLength(EVENTS);
    expect(state.deliveries.filter((d) => d.status !== 'succeeded')).toEqual([]);
    expect(state.deliveries.filter((d) => d.locked_by !== null)).toEqual([]);
    // One recorded attempt per delivery, all successful: no failure or timeout caused a duplicate.
    expect(state.attempts).toHaveLength(EVENTS);
    expect(state.attempts.filter((a) => a.outcome !== 'succeeded' || a.attempt !== 1)).toEqual([]);
    // The two really shared the work, and the victim's orphaned deliveries went to the survivor.
    const byPid = new Map<number | null, number>();
    for (const a of state.attempts) byPid.set(holderPid(a.worker), (byPid.get(holderPid(a.worker)) ?? 0) + 1);
    expect([...byPid.keys()].sort()).toEqual([victim.child.pid, survivor.child.pid].sort());
    expect(byPid.get(victim.child.pid)).toBeGreaterThan(0);
    expect(byPid.get(survivor.child.pid)).toBeGreaterThan(0);
    const beforeKill = state.attempts.filter((a) => ms(a.started_at) < kill.at);
    expect(beforeKill.filter((a) => holderPid(a.worker) === victim.child.pid).length).toBeGreaterThan(0);
    expect(beforeKill.filter((a) => holderPid(a.worker) === survivor.child.pid).length).toBeGreaterThan(0);
    for (const w of workers) expect(errorLines(w.child), w.child.describe()).toEqual([]);
    // Nobody took a lease over before it ran out.
    expectTakenOverAfterLease(expect, state, orphaned, survivor.child.pid);

    const stopped = await stopServer(survivor, 15_000);
    expect(stopped, survivor.child.describe()).toEqual({ code: 0, signal: null });
  }, 120_000);
});

describe('embedded SQLite: `serve` SIGKILLed mid-run and started again on the same data dir', { concurrent: true }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }, 30_000);

  it('delivers every event, with duplicates at most the deliveries in flight at the kill', async ({ expect }) => {
    const started = Date.now();
    const TICKETS = 200;
    const CONCURRENCY = 4;
    const dataDir = tempDir();
    // Slow at first, so the backlog outlasts the creation of the tickets and the kill finds work in flight.
    const receiver = await Receiver.start(200);
    cleanups.push(() => receiver.close());
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const env = {
      DESKHOOK_ADMIN_EMAIL: 'admin@example.com',
      DESKHOOK_ADMIN_PASSWORD: password,
      DESKHOOK_EVENT_CONCURRENCY: String(CONCURRENCY),
      DESKHOOK_EVENT_POLL_MS: '50',
      DESKHOOK_EVENT_TIMEOUT_MS: String(EVENT_TIMEOUT_MS),
      DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32',
    };
    const servers: RunningServer[] = [];
    cleanups.push(() => Promise.all(servers.map((s) => s.child.kill())));
    const first = await startServer({ dataDir, env, timeoutMs: 40_000 });
    servers.push(first);

    const session = await login(first.baseUrl, 'admin@example.com', password);
    expect(session.status, session.text).toBe(200);
    const token = session.json.token as string;
    const hook = await request(first.baseUrl, 'POST', '/api/v1/event-hooks', {
      token, body: { name: 'CRM sync', events: ['TicketCreated'], executor: { type: 'apiCall', url: receiver.url } },
    });
    expect(hook.status, hook.text).toBe(201);

    // Ten clients at a time.
    let next = 0;
    await Promise.all(Array.from({ length: 10 }, async () => {
      while (next < TICKETS) {
        const n = next++;
        const res = await request(first.baseUrl, 'POST', '/api/v1/tickets', { token, body: { subject: `Abschlag ${n}`, from: `kunde${n}@example.com` } });
        expect(res.status, res.text).toBe(201);
      }
    }));

    const kill = await receiver.killAt(TICKETS / 4, first.child);
    const exit = await first.child.waitForExit(10_000);
    expect(exit.signal, first.child.describe()).toBe('SIGKILL');
    expect(kill.receipts, 'everything was delivered before the kill').toBeLessThan(TICKETS);

    const handle = openDatabase({ kind: 'sqlite', path: join(dataDir, 'deskhook.sqlite') });
    cleanups.push(() => handle.close());
    const ids = await eventIds(handle);
    expect(ids).toHaveLength(TICKETS);
    const orphaned = await leasedBy(handle, pidPattern(first.child.pid));
    const inFlightAtKill = orphaned.length;

    receiver.delayMs = 20;
    const second = await startServer({ dataDir, env, timeoutMs: 40_000 });
    servers.push(second);
    await waitAllDelivered(receiver, handle, ids, LEASE_MS + 30_000);
    const finishedAt = Date.now();

    const distinct = receiver.distinct();
    const duplicated = receiver.duplicated();
    const receipts = receiver.receipts.length;
    const duplicates = receipts - distinct.size;
    console.log(`[sqlite] ${TICKETS} tickets, concurrency ${CONCURRENCY}: killed ${((kill.at - started) / 1000).toFixed(1)} s in, after ${kill.receipts} receipts, with ${inFlightAtKill} deliveries leased; `
      + `${receipts} receipts, ${distinct.size} distinct, ${duplicates} duplicates; all delivered ${((finishedAt - kill.at) / 1000).toFixed(1)} s after the kill, `
      + `${((finishedAt - started) / 1000).toFixed(1)} s in all`);

    expect(inFlightAtKill).toBeGreaterThanOrEqual(1);
    expect(inFlightAtKill).toBeLessThanOrEqual(CONCURRENCY);
    expect([...distinct].sort()).toEqual([...ids].sort());
    expect(duplicates).toBeLessThanOrEqual(inFlightAtKill);
    const orphanedEvents = new Set(orphaned.map((d) => d.event_id));
    for (const id of duplicated) expect(orphanedEvents.has(id), `duplicate ${id} was not one of the killed process's leases`).toBe(true);

    const state = await deliveryState(handle);
    expect(state.deliveries).toHaveLength(TICKETS);
    expect(state.deliveries.filter((d) => d.status !== 'succeeded')).toEqual([]);
    expect(state.attempts).toHaveLength(TICKETS);
    expect(state.attempts.filter((a) => a.outcome !== 'succeeded' || a.attempt !== 1)).toEqual([]);
    expectTakenOverAfterLease(expect, state, orphaned, second.child.pid);
    for (const server of servers) expect(errorLines(server.child), server.child.describe()).toEqual([]);
    // Both processes delivered: the first up to the kill, the second the rest.
    const pids = new Set(state.attempts.map((a) => holderPid(a.worker)));
    expect([...pids].sort()).toEqual([first.child.pid, second.child.pid].sort());

    const stopped = await stopServer(second, 15_000);
    expect(stopped, second.child.describe()).toEqual({ code: 0, signal: null });
  }, 120_000);
});
