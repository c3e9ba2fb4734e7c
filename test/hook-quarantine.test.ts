// Quarantine of a sick hook: past its thresholds over a window of calls it is skipped (the failure
// policy handles the step, the payload goes late), admins are told and WebhookQuarantined is
// published; after the cool-down a healthy probe ends it; an admin can release it.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverLateWebhooks } from '../src/app/webhooks/deliver-late.ts';
import { BACKENDS } from './support/backends.ts';
import { startRecordingReceiver, type RecordingReceiver, type ScriptedAnswer } from './support/recording-receiver.ts';
import { hookedTicket } from './support/hooked-ticket.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

let receiver: RecordingReceiver;
let answer: () => ScriptedAnswer = () => ({ body: {} });
beforeAll(async () => {
  receiver = await startRecordingReceiver();
  receiver.answer = () => answer();
});
afterAll(() => receiver.close());

describe.each(BACKENDS)('quarantine of a sick hook on %s', (kind) => {
  let t: TestApp;
  let accountId: number;
  let ticketId: number;
  let priority = 0;

  beforeEach(async () => {
    t = await startTestApp(kind);
    answer = () => ({ body: {} });
    priority = 0;
    ({ accountId, ticketId } = await hookedTicket(t, { ticketUpdates: { type: 'apiCall', url: receiver.url }, timeoutMs: 1000, quarantine: { windowCalls: 5, failureRate: 0.6, coolDownSeconds: 30 } }));
    receiver.calls.length = 0;
  });
  afterEach(async () => { await t.close(); });

  // Each change differs from the ticket's current priority, so each calls the hook.
  const change = () => t.api('PATCH', `/api/v1/tickets/${ticketId}`, { priority: ['low', 'high', 'medium', 'urgent'][priority++ % 4] }, t.agentToken);
  const health = async () => (await t.api('GET', `/api/v1/email-accounts/${accountId}/webhooks/health`)).json().items.find((h: { hook: string }) => h.hook === 'ticketUpdates');
  /** The state cache of a process lives 1 s. */
  const settle = () => new Promise((r) => setTimeout(r, 1_100));

  it('a failing hook is quarantined, skipped under its policy, told about, and probed back to health', async () => {
    answer = () => ({ status: 500, body: { error: 'down' } });
    for (let i = 0; i < 5; i++) expect((await change()).statusCode).toBe(200);
    expect(receiver.calls).toHaveLength(5);
    const events = (await t.api('GET', '/api/v1/events?type=WebhookQuarantined')).json().items;
    expect(events).toEqual([expect.objectContaining({ data: expect.objectContaining({ emailAccountId: accountId, hook: 'ticketUpdates', reason: '100 % of the last 5 calls failed (limit 60 %)', failureRate: 1 }) })]);
    const bell = (await t.api('GET', '/api/v1/notifications')).json().items;
    expect(bell[0]).toMatchObject({ kind: 'webhook_quarantined', link: `/settings/email-accounts/${accountId}` });
    expect(await health()).toMatchObject({ state: 'quarantined', calls: 5, failureRate: 1, quarantine: { reason: expect.stringContaining('100 %') } });

    // Skipped: the step goes on with a warning (policy notify), the payload is owed late.
    const skipped = await change();
    expect(skipped.statusCode).toBe(200);
    expect(skipped.json().warnings[0].message).toMatch(/quarantined since/);
    expect(receiver.calls).toHaveLength(5);
    const [inv] = (await t.api('GET', `/api/v1/email-accounts/${accountId}/invocations?hook=ticketUpdates`)).json().items;
    expect(inv).toMatchObject({ outcome: 'failed', error: { code: 'quarantined' }, durationMs: 0, lateDelivery: { status: 'pending' } });
    // Late delivery waits for the quarantine too.
    t.clock.advance(10_000);
    await deliverLateWebhooks(t.deps, 'w');
    expect(receiver.calls).toHaveLength(5);
    // Policy block refuses the step with the reason.
    await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { failurePolicy: 'block' } });
    const refused = await change();
    expect(refused.statusCode).toBe(502);
    expect(refused.json().detail).toMatch(/quarantined/);
    await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { failurePolicy: 'notify' } });

    // After the cool-down a failing probe starts another one ...
    t.clock.advance(21_000);
    await settle();
    expect((await health()).state).toBe('probing');
    await change();
    expect(receiver.calls).toHaveLength(6);
    await settle();
    expect((await health()).state).toBe('quarantined');
    // ... and a healthy one ends it.
    t.clock.advance(31_000);
    answer = () => ({ body: {} });
    await settle();
    await change();
    expect(receiver.calls).toHaveLength(7);
    await settle();
    expect((await health()).state).toBe('healthy');
    await change();
    expect(receiver.calls).toHaveLength(8);
  });

  it('an admin releases a quarantine at once; a slow hook is quarantined by its p95', async () => {
    await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { quarantine: { p95Ms: 100 } } });
    answer = () => ({ delayMs: 200, body: {} });
    for (let i = 0; i < 5; i++) await change();
    expect((await health())).toMatchObject({ state: 'quarantined', quarantine: { reason: expect.stringMatching(/p95 of the last 5 calls took \d+ ms \(limit 100 ms\)/) } });
    expect((await t.api('POST', `/api/v1/email-accounts/${accountId}/webhooks/ticketUpdates/release`, undefined, t.agentToken)).statusCode).toBe(403);
    expect((await t.api('POST', `/api/v1/email-accounts/${accountId}/webhooks/ticketUpdates/release`)).json()).toEqual({ released: true });
    answer = () => ({ body: {} });
    const before = receiver.calls.length;
    await change();
    expect(receiver.calls).toHaveLength(before + 1);
    expect((await health()).state).toBe('healthy');
  });

  it('switched off, nothing is ever quarantined', async () => {
    await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { quarantine: { enabled: false } } });
    answer = () => ({ status: 500, body: {} });
    for (let i = 0; i < 7; i++) await change();
    expect(receiver.calls).toHaveLength(7);
    expect((await health()).state).toBe('healthy');
  });
});
