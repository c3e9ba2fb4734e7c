// Late delivery: a synchronous hook that fails under policy notify still gets its payload, later,
// from the durable outbox: the same input and webhook-id, `deskhook-late: true`, the events' retry
// schedule; its answer is recorded and never applied.
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverLateWebhooks } from '../src/app/webhooks/deliver-late.ts';
import { BACKENDS } from './support/backends.ts';
import { startRecordingReceiver, type RecordingReceiver, type ReceivedCall, type ScriptedAnswer } from './support/recording-receiver.ts';
import { hookedTicket } from './support/hooked-ticket.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

let receiver: RecordingReceiver;
let answer: (call: ReceivedCall) => ScriptedAnswer = () => ({ body: {} });
beforeAll(async () => {
  receiver = await startRecordingReceiver();
  receiver.answer = (call) => answer(call);
});
afterAll(() => receiver.close());

describe.each(BACKENDS)('late delivery of synchronous hooks on %s', (kind) => {
  let t: TestApp;
  let accountId: number;
  let ticketId: number;

  beforeEach(async () => {
    t = await startTestApp(kind);
    answer = () => ({ body: {} });
    ({ accountId, ticketId } = await hookedTicket(t, { ticketUpdates: { type: 'apiCall', url: receiver.url }, timeoutMs: 1000, failurePolicy: 'notify' }));
    receiver.calls.length = 0;
  });
  afterEach(async () => { await t.close(); });

  const patch = (body: unknown) => t.api('PATCH', `/api/v1/tickets/${ticketId}`, body, t.agentToken);
  const invocations = async () => (await t.api('GET', `/api/v1/email-accounts/${accountId}/invocations?hook=ticketUpdates`)).json().items;
  const deliver = () => deliverLateWebhooks(t.deps, 'test-worker');

  it('a failed call is delivered again with the same payload and webhook-id; the answer is recorded, never applied', async () => {
    answer = () => ({ status: 503, body: { error: 'maintenance' } });
    const res = await patch({ status: 'pending', dueBy: new Date(Date.now() + 86_400_000).toISOString() });
    expect(res.statusCode).toBe(200);
    expect(res.json().warnings).toEqual([expect.objectContaining({ code: 'webhook_failed' })]);
    const [failed] = await invocations();
    expect(failed).toMatchObject({ outcome: 'failed', policyApplied: 'notify', lateDelivery: { status: 'pending', attempts: 0, lastError: null } });

    // Not before the first step of the schedule (5 s, with jitter).
    expect(await deliver()).toBe(0);
    t.clock.advance(7_000);
    answer = () => ({ body: { ticket: { priority: 'urgent' }, note: 'late answer' } });
    expect(await deliver()).toBe(1);
    const [inline, late] = receiver.calls;
    // The same payload (PostgreSQL keeps JSON by value, so the key order may differ).
    expect(JSON.parse(late!.body)).toEqual(JSON.parse(inline!.body));
    expect(late!.headers['webhook-id']).toBe(inline!.headers['webhook-id']);
    expect(late!.headers['webhook-id']).toBe(failed.messageId);
    expect(late!.headers['deskhook-late']).toBe('true');
    expect(inline!.headers['deskhook-late']).toBeUndefined();
    const { signingSecret } = (await t.api('GET', `/api/v1/email-accounts/${accountId}/webhooks/signing-secret`)).json();
    expect(new Webhook(signingSecret).verify(late!.body, {
      'webhook-id': String(late!.headers['webhook-id']), 'webhook-timestamp': String(late!.headers['webhook-timestamp']), 'webhook-signature': String(late!.headers['webhook-signature']),
    })).toMatchObject({ hook: 'ticketUpdates', ticketId });

    // Recorded, linked to the failed call, and not applied: the ticket is as the agent left it.
    const log = await invocations();
    expect(log[0]).toMatchObject({ late: true, retryOf: failed.id, messageId: failed.messageId, outcome: 'ok', output: { ticket: { priority: 'urgent' } } });
    expect(log.find((i: { id: string }) => i.id === failed.id)).toMatchObject({ lateDelivery: { status: 'succeeded', attempts: 1, nextAttemptAt: null } });
    const ticket = (await t.api('GET', `/api/v1/tickets/${ticketId}`)).json();
    expect(ticket).toMatchObject({ status: 'pending', priority: 'medium' });
    expect((await t.api('GET', `/api/v1/tickets/${ticketId}/conversations`)).json().items).toEqual([]);
    // Done: nothing more is sent.
    t.clock.advance(86_400_000);
    expect(await deliver()).toBe(0);
    expect(receiver.calls).toHaveLength(2);
  });

  it('keeps trying on the schedule of event deliveries and gives up after its last step', async () => {
    answer = () => ({ status: 500, body: {} });
    await patch({ priority: 'high' });
    const [failed] = await invocations();
    const now = () => t.deps.clock.now().getTime();
    let at = Date.parse(failed.lateDelivery.nextAttemptAt);
    expect(at - now()).toBeGreaterThanOrEqual(4_000);
    // The inline call was the first attempt; seven more follow it (5 s … 10 h), as for an event.
    for (let attempt = 1; attempt <= 7; attempt++) {
      t.clock.advance(at - now() + 1);
      expect(await deliver(), `attempt ${attempt}`).toBe(1);
      // From the store: the clock runs past the admin's session here.
      const state = (await t.deps.store.webhookInvocations.get(failed.id))!.lateDelivery!;
      expect(state.attempts).toBe(attempt);
      if (attempt < 7) {
        expect(state.status).toBe('pending');
        at = Date.parse(state.nextAttemptAt!);
      } else {
        expect(state).toMatchObject({ status: 'failed', nextAttemptAt: null, lastError: expect.stringContaining('500') });
      }
    }
    t.clock.advance(86_400_000);
    expect(await deliver()).toBe(0);
    expect(receiver.calls).toHaveLength(8);
  });

  it('nothing is delivered late when the account says no, for a block policy, or for a settings test', async () => {
    answer = () => ({ status: 500, body: {} });
    await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { deliverLate: false } });
    expect((await t.api('GET', `/api/v1/email-accounts/${accountId}`)).json().webhooks.deliverLate).toBe(false);
    await patch({ priority: 'high' });
    await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { deliverLate: true, failurePolicy: 'block' } });
    expect((await patch({ priority: 'low' })).statusCode).toBe(502);
    await t.api('POST', `/api/v1/email-accounts/${accountId}/webhooks/ticketUpdates/test`, {});
    expect((await invocations()).map((i: { lateDelivery: unknown }) => i.lateDelivery ?? null)).toEqual([null, null, null]);
    t.clock.advance(86_400_000);
    expect(await deliver()).toBe(0);
  });

  it('a worker that dies holding a late delivery loses it only until its lease ends', async () => {
    answer = () => ({ status: 500, body: {} });
    await patch({ priority: 'high' });
    t.clock.advance(7_000);
    // A worker leased it and died (no attempt recorded).
    const now = t.deps.clock.now();
    expect(await t.deps.store.webhookInvocations.claimLate(now.toISOString(), new Date(now.getTime() + 60_000).toISOString(), 'dead-worker', 10)).toHaveLength(1);
    answer = () => ({ body: {} });
    expect(await deliver()).toBe(0);
    t.clock.advance(61_000);
    expect(await deliver()).toBe(1);
    expect((await invocations())[0]).toMatchObject({ late: true, outcome: 'ok' });
  });
});
