// Shadow runs and replay: a second executor gets the live hook's payloads after it answered, its
// answer is recorded with what it would have changed and never applied; an unsaved executor can be
// replayed against the last recorded payloads before it is saved.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { shadowsSettled } from '../src/app/webhooks/shadow.ts';
import { BACKENDS } from './support/backends.ts';
import { startRecordingReceiver, type RecordingReceiver } from './support/recording-receiver.ts';
import { hookedTicket } from './support/hooked-ticket.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

let receiver: RecordingReceiver;
beforeAll(async () => {
  receiver = await startRecordingReceiver();
  // The live hook: tags urgent tickets `vip`, says nothing otherwise.
  receiver.answer = (call) => ({ body: call.json.changes?.priority === 'urgent' ? { ticket: { addTags: ['vip'] } } : {} });
});
afterAll(() => receiver.close());

/** A candidate in custom code: tags urgent tickets `vip` and high ones `watch`; fails on low ones. */
const candidate = `export default async (input) => {
  const p = input.changes && input.changes.priority;
  if (p === 'low') throw new Error('not handled');
  if (p === 'urgent') return { ticket: { addTags: ['vip'] } };
  if (p === 'high') return { ticket: { addTags: ['watch'] } };
  return {};
};`;

describe.each(BACKENDS)('shadow runs and replay on %s', (kind) => {
  let t: TestApp;
  let accountId: number;
  let ticketId: number;

  beforeEach(async () => {
    t = await startTestApp(kind);
    ({ accountId, ticketId } = await hookedTicket(t, { ticketUpdates: { type: 'apiCall', url: receiver.url } }));
    receiver.calls.length = 0;
  });
  afterEach(async () => {
    await shadowsSettled(t.deps);
    await t.close();
  });

  const patch = (body: unknown) => t.api('PATCH', `/api/v1/tickets/${ticketId}`, body, t.agentToken);
  const invocations = async () => (await t.api('GET', `/api/v1/email-accounts/${accountId}/invocations?hook=ticketUpdates`)).json().items;

  it('the shadow gets every live payload after the live answer; its answer is compared, recorded and never applied', async () => {
    await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { shadow: { ticketUpdates: { type: 'sourceCode', language: 'javascript', code: candidate } } } });
    for (const priority of ['urgent', 'high', 'low']) {
      expect((await patch({ priority })).statusCode).toBe(200);
      await shadowsSettled(t.deps);
    }
    // Only the live answers were applied: `vip` from the urgent change, never the shadow's `watch`.
    expect((await t.api('GET', `/api/v1/tickets/${ticketId}`)).json().tags).toEqual(['vip']);
    const log = await invocations();
    const shadows = log.filter((i: { shadow?: boolean }) => i.shadow);
    const live = log.filter((i: { shadow?: boolean; trigger: string }) => !i.shadow);
    expect(shadows).toHaveLength(3);
    for (const s of shadows) {
      const of = live.find((l: { id: string }) => l.id === s.retryOf);
      expect(of, 'each shadow run names its live call').toBeDefined();
      expect(s.input).toEqual(of.input);
      expect(s.messageId).toBe(of.messageId);
    }
    const byPriority = (p: string) => shadows.find((s: { input: { changes: { priority: string } } }) => s.input.changes.priority === p);
    expect(byPriority('urgent').comparison).toEqual({ verdict: 'agree', wouldChange: [] });
    expect(byPriority('high').comparison).toEqual({ verdict: 'differ', wouldChange: [{ field: 'ticket.addTags', live: null, shadow: ['watch'] }] });
    expect(byPriority('low')).toMatchObject({ outcome: 'failed', comparison: { verdict: 'failed' }, error: { message: expect.stringContaining('not handled') } });
    expect((await t.api('GET', `/api/v1/email-accounts/${accountId}/webhooks/ticketUpdates/shadow`)).json()).toEqual({ total: 3, agree: 1, differ: 1, failed: 1, liveFailed: 0 });
    // The live receiver saw the live calls only.
    expect(receiver.calls).toHaveLength(3);
  });

  it('replays an unsaved executor against the last recorded payloads and shows the differences', async () => {
    for (const priority of ['urgent', 'high', 'low', 'medium']) await patch({ priority });
    const res = await t.api('POST', `/api/v1/email-accounts/${accountId}/webhooks/ticketUpdates/replay`, {
      executor: { type: 'sourceCode', language: 'javascript', code: candidate }, count: 3,
    });
    expect(res.statusCode, res.body).toBe(200);
    const { items, summary } = res.json();
    expect(items.map((i: { comparison: { verdict: string } }) => i.comparison.verdict)).toEqual(['agree', 'failed', 'differ']);
    expect(summary).toEqual({ total: 3, agree: 1, differ: 1, failed: 1, liveFailed: 0 });
    // Nothing recorded, nothing applied, the live hook not called again.
    expect((await invocations()).filter((i: { shadow?: boolean }) => i.shadow)).toEqual([]);
    expect(receiver.calls).toHaveLength(4);
    // An executor that could never run is refused as on save.
    const broken = await t.api('POST', `/api/v1/email-accounts/${accountId}/webhooks/ticketUpdates/replay`, { executor: { type: 'sourceCode', language: 'javascript', code: 'export default (' } });
    expect(broken.statusCode).toBe(400);
    expect((await t.api('POST', `/api/v1/email-accounts/${accountId}/webhooks/ticketUpdates/replay`, { executor: { type: 'apiCall', url: receiver.url } }, t.agentToken)).statusCode).toBe(403);
  });
});
