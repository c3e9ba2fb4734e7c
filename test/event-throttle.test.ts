// Throttled endpoints: an event hook's maxInFlight and ratePerSecond hold across workers, what is
// beyond them waits and is delivered, never failed; a 429 with Retry-After pauses the whole hook;
// the hook shows the time spent throttled.
import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AppDeps } from '../src/app/deps.ts';
import { createEventHook, getEventHook, updateEventHook } from '../src/app/events/event-hooks.ts';
import { publish } from '../src/app/record-change.ts';
import { DeliveryWorker } from '../src/main/delivery-worker.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from './support/backends.ts';
import { makeDeps } from './support/test-app.ts';

/** A small endpoint: counts requests in flight, remembers when each started, answers after `delayMs`. */
let server: Server;
let url: string;
let inFlight = 0;
let maxSeen = 0;
let starts: number[] = [];
let delayMs = 150;
let answer: () => { status: number; headers?: Record<string, string> } = () => ({ status: 204 });
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      inFlight++;
      maxSeen = Math.max(maxSeen, inFlight);
      starts.push(performance.now());
      const a = answer();
      setTimeout(() => {
        inFlight--;
        res.writeHead(a.status, a.headers).end();
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/events`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe.each(BACKENDS)('throttled event hooks on %s', (kind) => {
  let db: TestDatabase;
  let deps: AppDeps;
  const workers: DeliveryWorker[] = [];

  beforeEach(async () => {
    db = await openTestDatabase(kind);
    // Real time: the limits are about real concurrency and real seconds.
    deps = makeDeps(db, { now: () => new Date() });
    inFlight = 0;
    maxSeen = 0;
    starts = [];
    delayMs = 150;
    answer = () => ({ status: 204 });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await db.cleanup();
  });

  const events = async (n: number) => {
    await deps.store.transaction((tx) => publish(tx, deps, Array.from({ length: n }, (_, i) => ({ type: 'TicketCreated' as const, ticketId: null, userId: null, data: { n: i } }))));
  };
  /** Two workers, as two processes would run them, each with room for many deliveries at once. */
  const startWorkers = () => {
    for (const holder of ['worker-a', 'worker-b']) {
      const w = new DeliveryWorker({ deps, holder, concurrency: 8, pollMs: 20, leaseMs: 30_000 });
      w.start();
      workers.push(w);
    }
  };
  const succeeded = async (hookId: number) => (await deps.store.deliveries.list({ hookId, status: 'succeeded' }, { limit: 200, cursor: null })).items.length;

  it('maxInFlight: two workers together never have more deliveries at the receiver than allowed, and all arrive', async () => {
    const hook = await createEventHook(deps, { name: 'small CRM', events: ['TicketCreated'], executor: { type: 'apiCall', url, method: 'POST', headers: {} }, maxInFlight: 2 }, null);
    await events(16);
    startWorkers();
    await expect.poll(() => succeeded(hook.id), { timeout: 20_000, interval: 100 }).toBe(16);
    expect(maxSeen).toBeLessThanOrEqual(2);
    expect(maxSeen).toBe(2);
    const failed = (await deps.store.deliveries.list({ hookId: hook.id, status: 'failed' }, { limit: 10, cursor: null })).items;
    expect(failed).toEqual([]);
  });

  it('ratePerSecond: starts are spaced by the rate across both workers; none fails for it', async () => {
    delayMs = 5;
    const hook = await createEventHook(deps, { name: 'rate limited', events: ['TicketCreated'], executor: { type: 'apiCall', url, method: 'POST', headers: {} }, ratePerSecond: 10 }, null);
    await events(12);
    startWorkers();
    await expect.poll(() => succeeded(hook.id), { timeout: 20_000, interval: 100 }).toBe(12);
    starts.sort((a, b) => a - b);
    // Twelve starts at 10 per second span at least 1.1 s (a little less for timer granularity), and
    // no half second holds more than its five starts (two more where a busy worker started late).
    expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(1_000);
    const busiest = Math.max(...starts.map((s) => starts.filter((x) => x >= s && x < s + 500).length));
    expect(busiest).toBeLessThanOrEqual(7);
    expect((await getEventHook(deps, hook.id)).throttledMs).toBeGreaterThan(500);
  });

  it('a 429 with Retry-After pauses the whole hook, then everything is delivered', async () => {
    delayMs = 5;
    const hook = await createEventHook(deps, { name: 'busy', events: ['TicketCreated'], executor: { type: 'apiCall', url, method: 'POST', headers: {} }, maxInFlight: 1 }, null);
    let first = true;
    answer = () => {
      if (!first) return { status: 204 };
      first = false;
      return { status: 429, headers: { 'retry-after': '2' } };
    };
    await events(3);
    startWorkers();
    await expect.poll(async () => (await getEventHook(deps, hook.id)).throttledUntil ?? null, { timeout: 5_000, interval: 50 }).not.toBeNull();
    const pausedAt = performance.now();
    await expect.poll(() => succeeded(hook.id), { timeout: 20_000, interval: 100 }).toBe(3);
    // Nothing reached the receiver during the pause.
    expect(starts.filter((s) => s > pausedAt && s < pausedAt + 1_500)).toEqual([]);
    expect((await getEventHook(deps, hook.id)).throttledMs).toBeGreaterThanOrEqual(1_500);
    // The limits can be changed and removed.
    await updateEventHook(deps, hook.id, { maxInFlight: null, ratePerSecond: 50 });
    expect(await getEventHook(deps, hook.id)).toMatchObject({ maxInFlight: null, ratePerSecond: 50 });
  });
});
