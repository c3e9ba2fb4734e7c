import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimDeliveries, deliverClaimed } from '../src/app/events/deliver-events.ts';
import { BACKENDS } from './support/backends.ts';
import { startRecordingReceiver, type ReceivedCall, type RecordingReceiver } from './support/recording-receiver.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/**
 * W3C Trace Context: the trace of the request that caused a step continues into its synchronous
 * webhook, into custom code's ctx.fetch and into every delivery of the events the step wrote.
 */
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;
const TRACESTATE = 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE';
const W3C = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

let receiver: RecordingReceiver;
beforeAll(async () => { receiver = await startRecordingReceiver(); });
afterAll(() => receiver.close());

const parts = (call: ReceivedCall | undefined) => {
  const m = W3C.exec(String(call?.headers.traceparent));
  expect(m, `traceparent ${String(call?.headers.traceparent)}`).not.toBeNull();
  return { traceId: m![1]!, parentId: m![2]!, flags: m![3]!, tracestate: call!.headers.tracestate };
};

describe.each(BACKENDS)('trace context on %s', (kind) => {
  let t: TestApp;
  let accountId: number;
  let ticketId: number;

  beforeEach(async () => {
    t = await startTestApp(kind);
    receiver.calls.length = 0;
    receiver.answer = () => ({ body: {} });
    accountId = (await t.api('POST', '/api/v1/email-accounts', {
      name: 'Service', address: 'support@example.com', inbound: { type: 'smtp' },
      webhooks: { enabled: true, ticketUpdates: { type: 'apiCall', url: `${receiver.url}?hook` }, timeoutMs: 2000, failurePolicy: 'notify' },
    })).json().id;
    expect((await t.api('POST', '/api/v1/event-hooks', { name: 'CRM', events: ['TicketUpdated'], executor: { type: 'apiCall', url: `${receiver.url}?event` } })).statusCode).toBe(201);
    ticketId = (await t.api('POST', '/api/v1/tickets', { subject: 'Abschlag', from: 'erika@example.com', emailAccountId: accountId })).json().id;
    receiver.calls.length = 0;
  });
  afterEach(async () => { await t.close(); });

  const patch = (body: unknown, headers: Record<string, string>) => t.http.inject({
    method: 'PATCH', url: `/api/v1/tickets/${ticketId}`, payload: body as object, headers: { authorization: `Bearer ${t.agentToken}`, ...headers },
  });
  /** Delivers what is due, as the worker would. */
  const drain = async () => {
    for (;;) {
      const batch = await claimDeliveries(t.deps, 'test-worker', 50, 60_000);
      if (!batch.deliveries.length) return;
      for (const d of batch.deliveries) await deliverClaimed(t.deps, d, batch.hooks.get(d.delivery.hookId)!, 'test-worker');
    }
  };
  const hookCalls = () => receiver.calls.filter((c) => c.json?.hook === 'ticketUpdates');
  const eventCalls = () => receiver.calls.filter((c) => c.json?.type === 'TicketUpdated');

  it('the caller\'s trace id reaches the synchronous hook and every delivery of the events, each as a span of its own', async () => {
    const res = await patch({ priority: 'high' }, { traceparent: TRACEPARENT, tracestate: TRACESTATE });
    expect(res.statusCode, res.body).toBe(200);
    const hook = parts(hookCalls()[0]);
    expect(hook).toMatchObject({ traceId: TRACE_ID, flags: '01', tracestate: TRACESTATE });
    expect(hook.parentId).not.toBe(CALLER_SPAN);

    await drain();
    const event = parts(eventCalls()[0]);
    expect(event).toMatchObject({ traceId: TRACE_ID, flags: '01', tracestate: TRACESTATE });
    expect(new Set([CALLER_SPAN, hook.parentId, event.parentId]).size).toBe(3);

    // A retry of the delivery is another span of the same trace.
    receiver.calls.length = 0;
    const { items } = (await t.api('GET', `/api/v1/events?ticketId=${ticketId}&type=TicketUpdated`)).json();
    expect((await t.api('POST', `/api/v1/events/${items[0].id}/replay`, {})).statusCode).toBeLessThan(300);
    await drain();
    expect(parts(eventCalls()[0])).toMatchObject({ traceId: TRACE_ID, tracestate: TRACESTATE });
  });

  it('an unsampled caller stays unsampled', async () => {
    await patch({ priority: 'low' }, { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-00` });
    expect(parts(hookCalls()[0])).toMatchObject({ traceId: TRACE_ID, flags: '00' });
    expect(hookCalls()[0]!.headers.tracestate).toBeUndefined();
  });

  it.each([
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${CALLER_SPAN}-01`],
    ['an all-zero parent id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
    ['upper-case hex', `00-${TRACE_ID.toUpperCase()}-${CALLER_SPAN}-01`],
    ['version ff', `ff-${TRACE_ID}-${CALLER_SPAN}-01`],
    ['version 00 with a field more', `00-${TRACE_ID}-${CALLER_SPAN}-01-extra`],
    ['a short trace id', `00-${TRACE_ID.slice(1)}-${CALLER_SPAN}-01`],
  ])('%s starts a new trace, and the tracestate is dropped with it', async (_what, traceparent) => {
    await patch({ priority: 'urgent' }, { traceparent, tracestate: TRACESTATE });
    const hook = parts(hookCalls()[0]);
    expect(hook.traceId).not.toBe(TRACE_ID);
    expect(hook.traceId).not.toBe('0'.repeat(32));
    expect(hook.tracestate).toBeUndefined();
    await drain();
    // The step's new trace is still one trace: the hook and the event share it.
    expect(parts(eventCalls()[0]).traceId).toBe(hook.traceId);
  });

  it('a later version is read for its first four fields', async () => {
    await patch({ priority: 'high' }, { traceparent: `cc-${TRACE_ID}-${CALLER_SPAN}-01-what-comes-next` });
    expect(parts(hookCalls()[0]).traceId).toBe(TRACE_ID);
  });

  it('without a traceparent each request is a trace of its own, shared by what it causes', async () => {
    await patch({ priority: 'high' }, {});
    await patch({ priority: 'low' }, {});
    await drain();
    const [a, b] = hookCalls().map(parts);
    expect(a!.traceId).not.toBe(b!.traceId);
    expect(eventCalls().map((c) => parts(c).traceId).sort()).toEqual([a!.traceId, b!.traceId].sort());
  });

  it('custom code\'s ctx.fetch continues the trace; a traceparent the code sets itself is kept', async () => {
    const code = `export default async function (input: any, ctx: any) {
      await ctx.fetch('${receiver.url}?fetch', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: 'code' }) });
      await ctx.fetch('${receiver.url}?own', { method: 'POST', headers: { traceparent: '00-${'a'.repeat(32)}-${'b'.repeat(16)}-01' }, body: JSON.stringify({ from: 'own' }) });
      return {};
    }`;
    const updated = await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { ticketUpdates: { type: 'sourceCode', language: 'typescript', code } } });
    expect(updated.statusCode, updated.body).toBe(200);
    receiver.calls.length = 0;
    const res = await patch({ priority: 'high' }, { traceparent: TRACEPARENT, tracestate: TRACESTATE });
    expect(res.statusCode, res.body).toBe(200);
    const fetched = receiver.calls.find((c) => c.json?.from === 'code');
    expect(parts(fetched)).toMatchObject({ traceId: TRACE_ID, tracestate: TRACESTATE });
    expect(parts(fetched).parentId).not.toBe(CALLER_SPAN);
    expect(parts(receiver.calls.find((c) => c.json?.from === 'own')).traceId).toBe('a'.repeat(32));
  });
});
