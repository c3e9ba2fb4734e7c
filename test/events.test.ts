import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimDeliveries, deliverClaimed, publishDueCronEvents, pruneEventHistory } from '../src/app/events/deliver-events.ts';
import type { AttemptOutcome } from '../src/domain/event-hook.ts';
import { publish } from '../src/app/record-change.ts';
import { DeliveryWorker } from '../src/main/delivery-worker.ts';
import { registerEventMetrics } from '../src/main/event-metrics.ts';
import { BACKENDS, openTestDatabase } from './support/backends.ts';
import { makeDeps, PASSWORD, startTestApp, TestClock, type TestApp } from './support/test-app.ts';

interface Call { headers: IncomingHttpHeaders; body: string; json: any; path: string }

/** A team's receiver: answers what the current test scripts, records every call. */
let receiver: Server;
let base: string;
const calls: Call[] = [];
let answer: (call: Call) => { status?: number; body?: string; headers?: Record<string, string> } = () => ({ status: 204 });

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const call = { headers: req.headers, body, json: body ? JSON.parse(body) : null, path: req.url ?? '/' };
      calls.push(call);
      const a = answer(call);
      res.writeHead(a.status ?? 200, a.headers ?? {});
      res.end(a.body ?? '');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
});
afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise<void>((r) => receiver.close(() => r()));
});

const verify = (secret: string, call: Call) => new Webhook(secret).verify(call.body, {
  'webhook-id': String(call.headers['webhook-id']), 'webhook-timestamp': String(call.headers['webhook-timestamp']), 'webhook-signature': String(call.headers['webhook-signature']),
});

describe.each(BACKENDS)('event hooks on %s', (kind) => {
  let t: TestApp;

  beforeEach(async () => {
    t = await startTestApp(kind);
    calls.length = 0;
    answer = () => ({ status: 204 });
  });
  afterEach(async () => { await t.close(); });

  const createHook = async (fields: Record<string, unknown> = {}) => {
    const res = await t.api('POST', '/api/v1/event-hooks', { name: 'CRM sync', events: ['TicketCreated', 'TicketUpdated'], executor: { type: 'apiCall', url: `${base}/events` }, ...fields });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  };
  const newTicket = async (subject = 'Abschlag') => (await t.api('POST', '/api/v1/tickets', { subject, from: 'erika@example.com' })).json().id as number;
  /** Runs every delivery due at the test clock's time, as a worker would, until none is due. */
  const drain = async (): Promise<AttemptOutcome[]> => {
    const outcomes: AttemptOutcome[] = [];
    for (;;) {
      const batch = await claimDeliveries(t.deps, 'test-worker', 50, 60_000);
      if (!batch.deliveries.length) return outcomes;
      for (const d of batch.deliveries) outcomes.push(await deliverClaimed(t.deps, d, batch.hooks.get(d.delivery.hookId)!, 'test-worker'));
    }
  };
  const deliveries = async (hookId: number, query = '') => (await t.api('GET', `/api/v1/event-hooks/${hookId}/deliveries${query}`)).json().items as any[];

  it('admins manage hooks; agents cannot; the signing secret is only on its own route', async () => {
    expect((await t.api('GET', '/api/v1/event-hooks', undefined, t.agentToken)).statusCode).toBe(403);
    expect((await t.api('POST', '/api/v1/event-hooks', { name: 'x', events: ['TicketCreated'], executor: { type: 'apiCall', url: `${base}/e` } }, t.agentToken)).statusCode).toBe(403);
    const hook = await createHook({ orderingKey: 'ticket' });
    expect(hook).toMatchObject({
      name: 'CRM sync', enabled: true, orderingKey: 'ticket', retryScheduleSeconds: [5, 300, 1800, 7200, 18000, 36000, 36000], ownerUserId: t.adminId,
      executor: { type: 'apiCall', method: 'POST', headers: {} },
    });
    expect(JSON.stringify(hook)).not.toContain('whsec_');
    const listed = (await t.api('GET', '/api/v1/event-hooks')).json();
    expect(listed.items.map((h: any) => h.id)).toEqual([hook.id]);
    expect(JSON.stringify(listed)).not.toContain('whsec_');
    const secret = (await t.api('GET', `/api/v1/event-hooks/${hook.id}/signing-secret`)).json();
    expect(secret.signingSecret).toMatch(/^whsec_/);
    const patched = await t.api('PATCH', `/api/v1/event-hooks/${hook.id}`, { events: ['EmailSent'], retryScheduleSeconds: [1, 2] });
    expect(patched.json()).toMatchObject({ events: ['EmailSent'], retryScheduleSeconds: [1, 2] });
    expect((await t.api('DELETE', `/api/v1/event-hooks/${hook.id}`)).statusCode).toBe(204);
    expect((await t.api('GET', `/api/v1/event-hooks/${hook.id}`)).statusCode).toBe(404);
  });

  it('bad input is refused naming the field', async () => {
    const bad = async (body: Record<string, unknown>) => {
      const res = await t.api('POST', '/api/v1/event-hooks', { name: 'x', events: ['TicketCreated'], executor: { type: 'apiCall', url: `${base}/e` }, ...body });
      expect(res.statusCode).toBe(400);
      return JSON.stringify(res.json());
    };
    expect(await bad({ events: [] })).toContain('events');
    expect(await bad({ events: ['TicketExploded'] })).toContain('events');
    expect(await bad({ orderingKey: 'customer' })).toContain('orderingKey');
    expect(await bad({ retryScheduleSeconds: [-1] })).toContain('retryScheduleSeconds');
    expect(await bad({ signingSecret: 'whsec_short' })).toContain('signingSecret');
    expect(await bad({ executor: { type: 'apiCall', url: 'ftp://x' } })).toContain('executor');
    // What could never run is refused on save too, naming what to fix.
    expect(await bad({ executor: { type: 'sourceCode', language: 'typescript', code: 'export default async (e: unknown) => {' } })).toMatch(/"code":"syntax_error","line":1/);
    expect(await bad({ executor: { type: 'apiCall', url: `${base}/e`, headers: { authorization: 'Bearer {{secret.EVENTS_TOKEN}}' } } })).toMatch(/"secret":"EVENTS_TOKEN"/);
    expect(await bad({ executor: { type: 'apiCall', url: 'http://169.254.169.254/latest' } })).toContain('egress_refused');
  });

  it('the change and its deliveries are written together: a failed transaction leaves neither', async () => {
    const hook = await createHook();
    await expect(t.deps.store.transaction(async (tx) => {
      await publish(tx, t.deps, [{ type: 'TicketCreated', ticketId: null, userId: null, data: { lost: true } }]);
      throw new Error('the change failed');
    })).rejects.toThrow('the change failed');
    expect((await t.api('GET', '/api/v1/events?type=TicketCreated')).json().items).toEqual([]);
    expect(await deliveries(hook.id)).toEqual([]);
    const ticketId = await newTicket();
    const [queued] = await deliveries(hook.id);
    expect(queued).toMatchObject({ eventType: 'TicketCreated', ticketId, status: 'pending', attemptCount: 0, attempts: [] });
    // A hook not subscribed to the type, or disabled, gets nothing.
    const other = await createHook({ events: ['EmailSent'] });
    const off = await createHook({ enabled: false });
    await newTicket();
    expect(await deliveries(other.id)).toEqual([]);
    expect(await deliveries(off.id)).toEqual([]);
  });

  it('delivers the Standard Webhooks envelope, signed, with webhook-id = event id on every attempt', async () => {
    const hook = await createHook();
    const ticketId = await newTicket();
    answer = () => ({ status: 500, body: 'database is down' });
    expect(await drain()).toEqual(['failed']);
    t.clock.advance(7_000);
    answer = () => ({ status: 200, body: '{"ok":true}' });
    expect(await drain()).toEqual(['succeeded']);
    expect(calls).toHaveLength(2);
    const { signingSecret } = (await t.api('GET', `/api/v1/event-hooks/${hook.id}/signing-secret`)).json();
    const [event] = (await t.api('GET', `/api/v1/events?type=TicketCreated&ticketId=${ticketId}`)).json().items;
    for (const call of calls) {
      expect(call.headers['webhook-id']).toBe(event.id);
      // Each attempt says how long the receiver has (the delivery timeout, 15 s by default).
      expect(call.headers['deskhook-timeout-ms']).toBe('15000');
      expect(Number(call.headers['deskhook-deadline']) - Date.now()).toBeGreaterThan(5_000);
      expect(verify(signingSecret, call)).toEqual({ id: event.id, type: 'TicketCreated', timestamp: event.createdAt, data: event.data });
    }
    const [d] = await deliveries(hook.id);
    expect(d).toMatchObject({ status: 'succeeded', attemptCount: 2, eventId: event.id });
    expect(d.attempts).toMatchObject([
      { attempt: 1, outcome: 'failed', status: 500, error: { code: 'http_status' } },
      { attempt: 2, outcome: 'succeeded', status: 200, error: null, response: '{"ok":true}' },
    ]);
    expect(d.attempts[0].response).toContain('database is down');
    // The event's trace shows the same.
    const trace = (await t.api('GET', `/api/v1/events/${event.id}`)).json();
    expect(trace.deliveries).toMatchObject([{ hookId: hook.id, status: 'succeeded', attemptCount: 2 }]);
  });

  it('retries on the schedule with jitter, honours Retry-After on 429/503, and gives up after the last attempt', async () => {
    const hook = await createHook({ retryScheduleSeconds: [10, 100] });
    await newTicket();
    answer = () => ({ status: 503 });
    await drain();
    let [d] = await deliveries(hook.id);
    const first = Date.parse(d.nextAttemptAt) - t.clock.now().getTime();
    expect(first).toBeGreaterThanOrEqual(8_000);
    expect(first).toBeLessThanOrEqual(12_000);
    // Not due before its time.
    t.clock.advance(7_000);
    expect(await drain()).toEqual([]);
    t.clock.advance(6_000);
    answer = () => ({ status: 429, headers: { 'retry-after': '3600' } });
    expect(await drain()).toEqual(['throttled']);
    [d] = await deliveries(hook.id);
    // The receiver asked for an hour: that beats the schedule's 100 s.
    expect(Date.parse(d.nextAttemptAt) - t.clock.now().getTime()).toBeGreaterThanOrEqual(3_600_000);
    t.clock.advance(3_601_000);
    answer = () => ({ status: 500 });
    expect(await drain()).toEqual(['failed']);
    [d] = await deliveries(hook.id);
    expect(d).toMatchObject({ status: 'failed', attemptCount: 3, nextAttemptAt: null });
    expect(d.lastError).toContain('500');
    t.clock.advance(86_400_000);
    expect(await drain()).toEqual([]);
  });

  it('410 Gone disables the hook and tells its owner; enabling it offers a replay of what it missed, with a count first', async () => {
    const hook = await createHook();
    await newTicket('one');
    answer = () => ({ status: 410 });
    expect(await drain()).toEqual(['gone']);
    const disabled = (await t.api('GET', `/api/v1/event-hooks/${hook.id}`)).json();
    expect(disabled).toMatchObject({ enabled: false, disabledReason: 'gone' });
    const notes = (await t.api('GET', '/api/v1/notifications')).json().items;
    expect(notes[0]).toMatchObject({ kind: 'event_hook_disabled' });
    expect(notes[0].message).toContain('CRM sync');
    // Events while it is off are not queued for it…
    await newTicket('two');
    await newTicket('three');
    expect(await drain()).toEqual([]);
    // …but counted as missed (the one that got 410 as well), and replayed on request, oldest first.
    expect((await t.api('GET', `/api/v1/event-hooks/${hook.id}/missed`)).json()).toMatchObject({ count: 3 });
    answer = () => ({ status: 200 });
    const enabled = (await t.api('POST', `/api/v1/event-hooks/${hook.id}/enable`, { replayMissed: true })).json();
    expect(enabled).toMatchObject({ replayed: 3, hook: { enabled: true, disabledReason: null } });
    calls.length = 0;
    expect(await drain()).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(calls.map((c) => c.json.data.ticket?.subject ?? c.json.data.subject)).toEqual(['one', 'two', 'three']);
    expect((await t.api('GET', `/api/v1/event-hooks/${hook.id}/missed`)).json()).toEqual({ since: null, count: 0 });
  });

  it('a hook failing for 5 days is disabled and its owner notified; one success resets the clock', async () => {
    const hook = await createHook({ retryScheduleSeconds: Array(20).fill(21_600) });
    // Every 6 h (±20 %): each 8 h step below finds the first ticket's delivery due again.
    answer = (c) => ({ status: c.json.data.ticket.subject === 'two' ? 200 : 500 });
    await newTicket('one');
    await drain();
    t.clock.advance(4 * 86_400_000);
    const fresh = (await t.api('POST', '/api/v1/auth/login', { email: 'admin@example.com', password: PASSWORD }, null)).json().token;
    expect((await t.api('POST', '/api/v1/tickets', { subject: 'two', from: 'erika@example.com' }, fresh)).statusCode).toBe(201);
    await drain();
    // The second event succeeded: the hook is healthy again although the first keeps failing.
    // (Read through the store: the test's login tokens have expired by now.)
    expect((await t.deps.store.eventHooks.get(hook.id))!.hook).toMatchObject({ enabled: true, failingSince: null });
    answer = () => ({ status: 500 });
    for (let i = 0; i < 17; i++) {
      t.clock.advance(8 * 3_600_000);
      await drain();
    }
    const after = (await t.deps.store.eventHooks.get(hook.id))!.hook;
    expect(after).toMatchObject({ enabled: false, disabledReason: 'failing' });
    expect(Date.parse(after.disabledAt!) - Date.parse(after.failingSince!)).toBeGreaterThanOrEqual(120 * 3_600_000);
    const notes = await t.deps.store.notifications.list(t.adminId, false, { limit: 10, cursor: null });
    expect(notes.items.map((n) => n.kind)).toContain('event_hook_disabled');
    expect((await t.deps.store.deliveries.list({ hookId: hook.id, status: 'pending' }, { limit: 10, cursor: null })).items).toEqual([]);
  });

  it('orderingKey ticket: one ticket\'s events arrive in order, and a failing ticket holds back only its own', async () => {
    await createHook({ orderingKey: 'ticket', retryScheduleSeconds: [60] });
    const a = await newTicket('A');
    const b = await newTicket('B');
    await t.api('PATCH', `/api/v1/tickets/${a}`, { priority: 'high' });
    await t.api('PATCH', `/api/v1/tickets/${b}`, { priority: 'high' });
    await t.api('PATCH', `/api/v1/tickets/${a}`, { priority: 'urgent' });
    answer = (c) => ({ status: c.json.data.ticketId === a || c.json.data.ticket?.id === a ? 500 : 200 });
    await drain();
    const seen = () => calls.map((c) => `${c.json.data.ticketId ?? c.json.data.ticket?.id}:${c.json.type}:${c.json.data.changes?.priority ?? ''}`);
    // A's first event failed: A's later events wait; B went through in order.
    expect(seen()).toEqual([`${a}:TicketCreated:`, `${b}:TicketCreated:`, `${b}:TicketUpdated:high`]);
    calls.length = 0;
    answer = () => ({ status: 200 });
    t.clock.advance(80_000);
    await drain();
    expect(seen()).toEqual([`${a}:TicketCreated:`, `${a}:TicketUpdated:high`, `${a}:TicketUpdated:urgent`]);
  });

  it('replays one event to one hook or all subscribed hooks, and a time range per hook', async () => {
    const h1 = await createHook();
    const h2 = await createHook({ name: 'BI' });
    const ticketId = await newTicket();
    await drain();
    const [event] = (await t.api('GET', `/api/v1/events?ticketId=${ticketId}`)).json().items;
    calls.length = 0;
    expect((await t.api('POST', `/api/v1/events/${event.id}/replay`, {})).json()).toEqual({ hooks: [h1.id, h2.id], replayed: 2 });
    expect((await t.api('POST', `/api/v1/events/${event.id}/replay`, { hookId: h2.id })).json()).toEqual({ hooks: [h2.id], replayed: 1 });
    await drain();
    expect(calls.map((c) => c.headers['webhook-id'])).toEqual([event.id, event.id, event.id]);
    expect((await deliveries(h2.id)).filter((d) => d.replay)).toHaveLength(2);
    t.clock.advance(1000);
    const since = t.clock.now().toISOString();
    await newTicket();
    await t.api('PATCH', `/api/v1/tickets/${ticketId}`, { priority: 'low' });
    const range = { since, until: new Date(t.clock.now().getTime() + 1).toISOString() };
    expect((await t.api('POST', `/api/v1/event-hooks/${h1.id}/replay`, { ...range, dryRun: true })).json()).toEqual({ count: 2, replayed: 0 });
    expect((await t.api('POST', `/api/v1/event-hooks/${h1.id}/replay`, { ...range, types: ['TicketUpdated'] })).json()).toEqual({ count: 1, replayed: 1 });
    expect((await t.api('POST', '/api/v1/events/evt_nope/replay', {})).statusCode).toBe(404);
  });

  it('a failing hook never reaches the person who acted', async () => {
    await createHook({ executor: { type: 'apiCall', url: 'http://127.0.0.1:9/unreachable' } });
    const ticketId = await newTicket();
    const res = await t.api('PATCH', `/api/v1/tickets/${ticketId}`, { status: 'closed' }, t.agentToken);
    expect(res.statusCode).toBe(200);
    expect(res.json().warnings).toBeUndefined();
    expect(await drain()).toEqual(['failed', 'failed']);
    expect((await t.api('GET', '/api/v1/notifications', undefined, t.agentToken)).json().items).toEqual([]);
  });

  it('a custom-code hook receives the envelope; a throw is a failed attempt with its message', async () => {
    const hook = await createHook({
      events: ['TicketCreated'],
      executor: { type: 'sourceCode', language: 'typescript', code: 'export default async (e: any) => { if (e.data.ticket.subject === "boom") throw new Error("cannot sync " + e.id); return { seen: e.type }; }' },
    });
    await newTicket('fine');
    await newTicket('boom');
    expect(await drain()).toEqual(['succeeded', 'failed']);
    const [boom, fine] = await deliveries(hook.id);
    expect(fine.attempts[0].response).toBe('{"seen":"TicketCreated"}');
    expect(boom.attempts[0].error.message).toContain(`cannot sync ${boom.eventId}`);
  });

  it('users are profiles: created, updated and deactivated publish Profile* events', async () => {
    const created = (await t.api('POST', '/api/v1/users', { email: 'neu@example.com', name: 'Neu', role: 'agent', password: 'a long password 1' })).json();
    await t.api('PATCH', `/api/v1/users/${created.id}`, { name: 'Neu Agent' });
    await t.api('PATCH', `/api/v1/users/${created.id}`, { disabled: true });
    const events = (await t.api('GET', '/api/v1/events?type=ProfileCreated&type=ProfileUpdated&type=ProfileDeleted')).json().items;
    expect(events.filter((e: any) => e.userId === created.id).map((e: any) => [e.type, e.data.name])).toEqual([
      ['ProfileCreated', 'Neu'], ['ProfileUpdated', 'Neu Agent'], ['ProfileDeleted', 'Neu Agent'],
    ]);
  });

  it('retention deletes finished deliveries and old events, never what is still queued', async () => {
    const hook = await createHook({ retryScheduleSeconds: [86_400] });
    await newTicket('kept');
    answer = () => ({ status: 200 });
    await drain();
    answer = () => ({ status: 500 });
    await newTicket('queued');
    await drain();
    t.clock.advance(40 * 86_400_000);
    // The two ProfileCreated events of the test's users go as well.
    expect(await pruneEventHistory(t.deps, { eventDays: 30, deliveryDays: 30 })).toEqual({ deliveries: 1, events: 3 });
    // (Read through the store: the test's login tokens have expired by now.)
    const left = await t.deps.store.deliveries.list({ hookId: hook.id }, { limit: 10, cursor: null });
    expect(left.items).toMatchObject([{ status: 'pending' }]);
    const events = await t.deps.store.events.list({}, { limit: 10, cursor: null });
    expect(events.items.map((e: any) => e.data.ticket?.subject)).toEqual(['queued']);
  });

  it('the worker delivers on its own and metrics show the queue', async () => {
    const hook = await createHook();
    const registry = new Registry();
    const metrics = registerEventMetrics(registry, t.deps.store);
    for (let i = 0; i < 5; i++) await newTicket(`n${i}`);
    const depth = await registry.getSingleMetricAsString('deskhook_event_deliveries_pending');
    expect(depth).toContain('deskhook_event_deliveries_pending 5');
    const worker = new DeliveryWorker({ deps: t.deps, holder: 'w1', concurrency: 3, pollMs: 20, leaseMs: 30_000, onAttempt: (o) => metrics.attempts.inc({ outcome: o }) });
    worker.start();
    try {
      await expect.poll(async () => (await deliveries(hook.id, '?status=succeeded')).length, { timeout: 10_000 }).toBe(5);
    } finally {
      await worker.stop();
    }
    expect(await registry.getSingleMetricAsString('deskhook_event_delivery_attempts_total')).toContain('outcome="succeeded"} 5');
    await new Promise((r) => setTimeout(r, 1100));
    expect(await registry.getSingleMetricAsString('deskhook_event_deliveries_pending')).toContain('deskhook_event_deliveries_pending 0');
  });

  it('a rotated secret signs the next delivery at once, though the worker had the hook cached', async () => {
    const hook = await createHook();
    const worker = new DeliveryWorker({ deps: t.deps, holder: 'w1', concurrency: 2, pollMs: 20, leaseMs: 30_000 });
    worker.start();
    try {
      await newTicket('vorher');
      await expect.poll(() => calls.length, { timeout: 10_000 }).toBe(1);
      const old = (await t.api('GET', `/api/v1/event-hooks/${hook.id}/signing-secret`)).json().signingSecret;
      expect(verify(old, calls[0]!)).toBeTruthy();
      // The worker has read (and cached) the hook; the rotation is a write it does not see.
      const rotated = (await t.api('POST', `/api/v1/event-hooks/${hook.id}/signing-secret/rotate`)).json().signingSecret;
      await newTicket('nachher');
      await expect.poll(() => calls.length, { timeout: 10_000 }).toBe(2);
      expect(String(calls[1]!.headers['webhook-signature']).split(' ')).toHaveLength(2);
      expect(verify(rotated, calls[1]!)).toBeTruthy();
      expect(verify(old, calls[1]!)).toBeTruthy();
    } finally {
      await worker.stop();
    }
  });

  it('the pull feed filters by type, ticket and time and follows a cursor', async () => {
    const a = await newTicket('A');
    t.clock.advance(60_000);
    const mark = t.clock.now().toISOString();
    await newTicket('B');
    await t.api('PATCH', `/api/v1/tickets/${a}`, { priority: 'high' });
    const tickets = 'type=TicketCreated&type=TicketUpdated';
    const page1 = (await t.api('GET', `/api/v1/events?${tickets}&limit=1`)).json();
    expect(page1.items).toHaveLength(1);
    // The pull feed: every answer carries a cursor; an empty page means nothing new.
    let page2: any;
    await expect.poll(async () => {
      page2 = (await t.api('GET', `/api/v1/events?${tickets}&after=${page1.nextCursor}`)).json();
      return page2.items.map((e: any) => e.type);
    }).toEqual(['TicketCreated', 'TicketUpdated']);
    const caughtUp = (await t.api('GET', `/api/v1/events?${tickets}&after=${page2.nextCursor}`)).json();
    expect(caughtUp).toEqual({ items: [], nextCursor: page2.nextCursor });
    await newTicket('C');
    // (On PostgreSQL the feed waits for transactions older than an event, other tests' included: poll.)
    await expect.poll(async () => (await t.api('GET', `/api/v1/events?${tickets}&after=${caughtUp.nextCursor}`)).json().items.map((e: any) => e.data.ticket?.subject)).toEqual(['C']);
    expect((await t.api('GET', `/api/v1/events?${tickets}&after=0&limit=1`)).json().items[0].data.ticket.subject).toBe('A');
    expect((await t.api('GET', `/api/v1/events?since=${mark}&type=TicketCreated`)).json().items).toHaveLength(2);
    expect((await t.api('GET', `/api/v1/events?ticketId=${a}`)).json().items.map((e: any) => e.type)).toEqual(['TicketCreated', 'TicketUpdated']);
    // Browsing newest first, paging backwards.
    const newest = (await t.api('GET', `/api/v1/events?${tickets}&order=desc&limit=2`)).json();
    expect(newest.items.map((e: any) => e.data.ticket?.subject ?? e.type)).toEqual(['C', 'TicketUpdated']);
    const older = (await t.api('GET', `/api/v1/events?${tickets}&order=desc&limit=2&cursor=${newest.nextCursor}`)).json();
    expect(older.items.map((e: any) => e.data.ticket?.subject)).toEqual(['B', 'A']);
  });
});

describe.skipIf(!BACKENDS.includes('postgres'))('the pull feed on postgres', () => {
  it('never skips an event whose transaction commits after a later one', async () => {
    const db = await openTestDatabase('postgres');
    try {
      const deps = makeDeps(db, new TestClock());
      const event = (name: string) => ({ id: `evt_${name}_${Math.random().toString(36).slice(2)}`, type: 'TicketCreated' as const, ticketId: null, userId: null, data: { name }, createdAt: new Date().toISOString() });
      let release!: () => void;
      let written!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const firstWritten = new Promise<void>((r) => (written = r));
      // The first event's transaction stays open while a second one commits.
      const slow = deps.store.transaction(async (tx) => {
        await tx.events.append([event('first')]);
        written();
        await gate;
      });
      await firstWritten;
      await deps.store.events.append([event('second')]);
      const names = async (cursor: string | null) => {
        const page = await deps.store.events.list({ feed: true }, { limit: 10, cursor });
        return { names: page.items.map((e) => e.data.name), cursor: page.nextCursor };
      };
      // Without the feed rule a reader would see "second" now and move past "first" for good.
      const before = await names(null);
      expect(before.names).toEqual([]);
      expect((await deps.store.events.list({}, { limit: 10, cursor: null })).items.map((e) => e.data.name)).toEqual(['second']);
      release();
      await slow;
      await expect.poll(async () => (await names(before.cursor)).names).toEqual(['first', 'second']);
    } finally {
      await db.cleanup();
    }
  });
});

describe.each(BACKENDS)('schedule events on %s', (kind) => {
  it('each period fires once however many workers race for it, at the documented times', async () => {
    const db = await openTestDatabase(kind);
    try {
      const clock = new TestClock(new Date('2026-11-30T01:59:30Z')); // Monday
      const workers = Array.from({ length: 4 }, () => makeDeps(db, clock));
      const race = async () => (await Promise.all(workers.map((d) => publishDueCronEvents(d)))).flat().sort();
      expect(await race()).toEqual(['CronHour:2026-11-30T01', 'CronMinute:2026-11-30T01:55']);
      expect(await race()).toEqual([]);
      clock.set('2026-11-30T02:00:10Z');
      expect(await race()).toEqual(['CronDay:2026-11-30', 'CronMinute:2026-11-30T02:00']);
      clock.set('2026-11-30T02:04:59Z');
      expect(await race()).toEqual(['CronHour:2026-11-30T02']);
      clock.set('2026-12-05T02:00:00Z'); // Saturday: the week, no day
      expect(await race()).toEqual(['CronMinute:2026-12-05T02:00', 'CronWeek:2026-12-05']);
      const events = await db.store.events.list({ types: ['CronDay', 'CronWeek'] }, { limit: 10, cursor: null });
      expect(events.items.map((e) => [e.type, e.data.scheduledFor])).toEqual([['CronDay', '2026-11-30T02:00'], ['CronWeek', '2026-12-05T02:00']]);
      // In Berlin it is 03:00 on that Saturday: the same week period, keyed by local date.
      const berlin = makeDeps(db, clock, { events: { disableAfterHours: 120, timeoutMs: 1000, cronTimeZone: 'Europe/Berlin' } });
      expect(await publishDueCronEvents(berlin)).toEqual(['CronMinute:2026-12-05T03:00']);
    } finally {
      await db.cleanup();
    }
  });
});
