import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimDeliveries, deliverClaimed } from '../src/app/events/deliver-events.ts';
import { EgressClient } from '../src/adapters/egress/egress-client.ts';
import { EgressPolicy } from '../src/adapters/egress/address-policy.ts';
import { DefaultExecutorRunner } from '../src/adapters/executors/executor-runner.ts';
import { SandboxPool } from '../src/adapters/sandbox/pool.ts';
import { BACKENDS } from './support/backends.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

// The sandbox cannot be starved: spinning test runs and event hooks never push a synchronous hook
// (an agent is waiting for the PATCH) past its own timeout, and a full queue is a clear
// `sandbox_busy` that the hook's failure policy handles.

const SPIN = 'export default () => { while (true) {} }';
const QUICK = 'export default (input: any) => ({ ticket: { priority: "high" }, message: "seen " + input.hook })';
/** The one timing threshold the issue asks for: a hook ends within its timeout plus this. */
const SLACK_MS = 100;

describe.each(BACKENDS)('sandbox lanes on %s', (kind) => {
  let t: TestApp;
  let pool: SandboxPool;
  let egress: EgressClient;
  const background: Promise<unknown>[] = [];

  /** The app with its own pool of two workers, as the issue measured it. */
  const start = async (maxQueued = 64) => {
    t = await startTestApp(kind);
    pool = new SandboxPool({ size: 2, maxQueued });
    egress = new EgressClient({ policy: new EgressPolicy(['127.0.0.1/32']) });
    t.deps.executors = new DefaultExecutorRunner({ egress, sandbox: pool, secret: async () => null });
    t.deps.events = { disableAfterHours: 120, timeoutMs: 3000, cronTimeZone: 'UTC' };
    // Both workers started, as in a server that has been running (a fresh worker's start-up is
    // not charged to a run's time limit).
    const warm = { type: 'sourceCode' as const, language: 'javascript' as const, code: 'export default () => 1' };
    await Promise.all([t.deps.executors.run(warm, null), t.deps.executors.run(warm, null)]);
  };
  beforeEach(() => { background.length = 0; });
  afterEach(async () => {
    await pool.close();
    await Promise.allSettled(background);
    await egress.close();
    await t.close();
  });

  const account = async (code: string, timeoutMs: number, failurePolicy: 'notify' | 'block') => (await t.api('POST', '/api/v1/email-accounts', {
    name: 'Service', address: `support-${Math.random().toString(36).slice(2)}@example.com`, inbound: { type: 'smtp' },
    webhooks: { enabled: true, ticketUpdates: { type: 'sourceCode', language: 'typescript', code }, timeoutMs, failurePolicy },
  })).json().id as number;
  const ticket = async (emailAccountId: number | null) => (await t.api('POST', '/api/v1/tickets', { subject: 'Abschlag', from: 'erika@example.com', emailAccountId })).json().id as number;
  const testRun = (timeoutMs: number) => t.api('POST', '/api/v1/executors/test', { executor: { type: 'sourceCode', language: 'typescript', code: SPIN }, input: null, timeoutMs });
  /** The hook's own run as its invocation log records it: from its start (queueing included) to its end. */
  const hookMs = async (ticketId: number) => {
    const [inv] = (await t.api('GET', `/api/v1/tickets/${ticketId}/activity`)).json().items.filter((a: { field: string }) => a.field === 'webhook');
    return inv.meta.durationMs as number;
  };
  const timedPatch = async (ticketId: number, body: unknown) => {
    const began = performance.now();
    const res = await t.api('PATCH', `/api/v1/tickets/${ticketId}`, body, t.agentToken);
    return { res, ms: performance.now() - began };
  };
  /** Six spinning test runs and spinning event hooks, all in flight. */
  const flood = async () => {
    await t.api('POST', '/api/v1/event-hooks', { name: 'spinner', events: ['TicketCreated'], executor: { type: 'sourceCode', language: 'typescript', code: SPIN } });
    for (let i = 0; i < 4; i++) await ticket(null);
    const batch = await claimDeliveries(t.deps, 'test-worker', 50, 60_000);
    expect(batch.deliveries.length).toBe(4);
    for (let i = 0; i < 6; i++) background.push(testRun(4000));
    for (const d of batch.deliveries) background.push(deliverClaimed(t.deps, d, batch.hooks.get(d.delivery.hookId)!, 'test-worker'));
    await expect.poll(() => pool.stats().lanes.background.queued + pool.stats().lanes.background.running).toBe(10);
  };

  it('a synchronous code hook answers within its timeout while test runs and event hooks spin', async () => {
    await start();
    const quickId = await ticket(await account(QUICK, 2000, 'block'));
    const spinId = await ticket(await account(SPIN, 1000, 'notify'));
    await flood();

    const quick = await timedPatch(quickId, { status: 'closed' });
    expect(quick.res.statusCode, quick.res.body).toBe(200);
    expect(quick.res.json()).toMatchObject({ priority: 'high' });
    expect(await hookMs(quickId)).toBeLessThan(2000 + SLACK_MS);
    // The agent's PATCH is not held up behind the 4 s background runs either.
    expect(quick.ms).toBeLessThan(2000);

    // A hook that spins itself times out at its own deadline, not after the queue.
    const spin = await timedPatch(spinId, { priority: 'low' });
    expect(spin.res.statusCode, spin.res.body).toBe(200);
    expect(spin.res.json().warnings).toEqual([expect.objectContaining({ code: 'webhook_failed', message: expect.stringContaining('time limit of 1000 ms') })]);
    expect(await hookMs(spinId)).toBeLessThan(1000 + SLACK_MS);
    expect(spin.ms).toBeLessThan(2000);
    // The background work is still there: it was not dropped to make room.
    expect(pool.stats().lanes.background.running).toBe(1);
  });

  it('a run still waiting for a worker at its deadline fails with timeout without running', async () => {
    await start();
    for (let i = 0; i < 3; i++) background.push(testRun(3000));
    const waited = (await testRun(500)).json();
    expect(waited).toMatchObject({ ok: false, error: { code: 'timeout', message: expect.stringContaining('for a free sandbox worker') } });
    expect(waited.durationMs).toBeLessThan(500 + SLACK_MS);
  });

  it('a full queue is sandbox_busy: test runs get it as their error, the hook its failure policy', async () => {
    await start(1);
    // Background: one worker runs, one run waits; the next is refused at once.
    background.push(testRun(3000), testRun(3000));
    await expect.poll(() => pool.stats().lanes.background).toEqual({ queued: 1, running: 1 });
    const refused = (await testRun(3000)).json();
    expect(refused).toMatchObject({ ok: false, error: { code: 'sandbox_busy', message: expect.stringContaining('the sandbox is busy') } });

    // Interactive: spinning hooks fill the kept worker and the queue; the next PATCH is refused.
    const blockId = await account(SPIN, 3000, 'block');
    const notifyId = await account(SPIN, 3000, 'notify');
    const tickets = [await ticket(blockId), await ticket(blockId), await ticket(blockId), await ticket(notifyId)];
    background.push(timedPatch(tickets[0]!, { priority: 'low' }), timedPatch(tickets[1]!, { priority: 'low' }));
    await expect.poll(() => pool.stats().lanes.interactive).toEqual({ queued: 1, running: 1 });
    const blocked = await timedPatch(tickets[2]!, { priority: 'low' });
    expect(blocked.res.statusCode).toBe(502);
    expect(blocked.res.json()).toMatchObject({ code: 'webhook_failed', detail: expect.stringContaining('the sandbox is busy') });
    expect(blocked.ms).toBeLessThan(1000);
    expect((await t.api('GET', `/api/v1/tickets/${tickets[2]}`)).json().priority).not.toBe('low');
    const warned = await timedPatch(tickets[3]!, { priority: 'low' });
    expect(warned.res.statusCode).toBe(200);
    expect(warned.res.json()).toMatchObject({ priority: 'low', warnings: [{ code: 'webhook_failed', message: expect.stringContaining('the sandbox is busy') }] });
    const log = (await t.api('GET', `/api/v1/email-accounts/${blockId}/invocations?hook=ticketUpdates`)).json().items;
    expect(log.find((i: { ticketId: number }) => i.ticketId === tickets[2])).toMatchObject({ outcome: 'failed', policyApplied: 'block', error: { code: 'sandbox_busy' } });
  });
});
