// Memoised idempotent hooks: a hook marked idempotent is not called again within memoSeconds for
// a payload equal in everything it sees (invocation ids, time stamps and versions aside); the
// remembered answer is applied and the log says memoized.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS } from './support/backends.ts';
import { startRecordingReceiver, type RecordingReceiver } from './support/recording-receiver.ts';
import { hookedTicket } from './support/hooked-ticket.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

let receiver: RecordingReceiver;
beforeAll(async () => {
  receiver = await startRecordingReceiver();
  // Tags a ticket raised to high priority as VIP; says nothing otherwise.
  receiver.answer = (call) => ({ body: call.json.changes?.priority === 'high' ? { ticket: { addTags: ['vip'] } } : {} });
});
afterAll(() => receiver.close());

describe.each(BACKENDS)('memoised idempotent hooks on %s', (kind) => {
  let t: TestApp;
  let accountId: number;
  let ticketId: number;

  beforeEach(async () => {
    t = await startTestApp(kind);
    ({ accountId, ticketId } = await hookedTicket(t, { ticketUpdates: { type: 'apiCall', url: receiver.url }, memo: { ticketUpdates: { idempotent: true, memoSeconds: 60 } } }));
    receiver.calls.length = 0;
  });
  afterEach(async () => { await t.close(); });

  const patch = (body: unknown) => t.api('PATCH', `/api/v1/tickets/${ticketId}`, body, t.agentToken);
  const log = async () => (await t.api('GET', `/api/v1/email-accounts/${accountId}/invocations?hook=ticketUpdates`)).json().items;

  it('answers the same payload from memory within memoSeconds, applies that answer, and says so', async () => {
    expect((await patch({ priority: 'high' })).json().tags).toEqual(['vip']);
    expect((await patch({ priority: 'medium', tags: [] })).json().tags).toEqual([]);
    expect(receiver.calls).toHaveLength(2);
    // The same change of the same ticket as the first time: no call, the first answer applied.
    const third = await patch({ priority: 'high' });
    expect(third.statusCode).toBe(200);
    expect(third.json().tags).toEqual(['vip']);
    expect(receiver.calls).toHaveLength(2);
    const [memo, , first] = await log();
    expect(memo).toMatchObject({ memoized: true, retryOf: first.id, outcome: 'ok', durationMs: 0, output: { ticket: { addTags: ['vip'] } } });
    expect(first.memoized).toBeUndefined();
    const activity = (await t.api('GET', `/api/v1/tickets/${ticketId}/activity`)).json().items;
    expect(activity.find((a: { meta?: { invocationId?: string } }) => a.meta?.invocationId === memo.id)).toMatchObject({ field: 'webhook', meta: { memoized: true, memoOf: first.id } });

    // Past memoSeconds the hook is called again (this payload is the second call's).
    t.clock.advance(61_000);
    await patch({ priority: 'medium', tags: [] });
    expect(receiver.calls).toHaveLength(3);
    await patch({ priority: 'high' });
    expect(receiver.calls).toHaveLength(4);
  });

  it('a different payload is always a call; without idempotent nothing is remembered', async () => {
    await patch({ priority: 'high' });
    await patch({ priority: 'urgent' });
    expect(receiver.calls).toHaveLength(2);
    await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { memo: { ticketUpdates: null } } });
    expect((await t.api('GET', `/api/v1/email-accounts/${accountId}`)).json().webhooks.memo).toEqual({ ticketUpdates: null, newEmails: null });
    await patch({ priority: 'high' });
    await patch({ priority: 'urgent' });
    expect(receiver.calls).toHaveLength(4);
    expect((await log()).some((i: { memoized?: boolean }) => i.memoized)).toBe(false);
    expect((await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { memo: { ticketUpdates: { idempotent: true, memoSeconds: 0 } } } })).statusCode).toBe(400);
  });

  it('a new version of the hook is called: an answer of the old executor is not its answer', async () => {
    await patch({ priority: 'high' });
    await patch({ priority: 'medium', tags: [] });
    await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { ticketUpdates: { type: 'apiCall', url: `${receiver.url}?v2` } } });
    await patch({ priority: 'high' });
    expect(receiver.calls).toHaveLength(3);
    expect((await log())[0]).toMatchObject({ hookVersion: 2 });
    expect((await log())[0].memoized).toBeUndefined();
  });
});
