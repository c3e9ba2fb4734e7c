import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AppDeps } from '../src/app/deps.ts';
import type { Store } from '../src/app/ports/store.ts';
import { updateTicket } from '../src/app/tickets/update-ticket.ts';
import { BACKENDS } from './support/backends.ts';
import { startRecordingReceiver, type ReceivedCall, type RecordingReceiver, type ScriptedAnswer } from './support/recording-receiver.ts';
import { CountingStore } from './support/counting-store.ts';
import { makeDeps, startTestApp, type TestApp } from './support/test-app.ts';

/**
 * The path a person waits on when a ticketUpdates hook interrupts their change: how many times the
 * database commits, and that the ticket's lock still serialises two hooked changes of one ticket.
 */

type Call = ReceivedCall;

let receiver: RecordingReceiver;
let url: string;
let calls: Call[];
let answer: (call: Call) => ScriptedAnswer = () => ({ body: {} });

beforeAll(async () => {
  receiver = await startRecordingReceiver();
  receiver.answer = (call) => answer(call);
  ({ url, calls } = receiver);
});
afterAll(() => receiver.close());

describe.each(BACKENDS)('the hooked change on %s', (kind) => {
  let t: TestApp;
  let counting: CountingStore;
  let accountId: number;
  let ticketId: number;

  beforeEach(async () => {
    t = await startTestApp(kind);
    calls.length = 0;
    answer = () => ({ body: {} });
    accountId = (await t.api('POST', '/api/v1/email-accounts', {
      name: 'Service', address: 'support@example.com', inbound: { type: 'smtp' },
      webhooks: { enabled: true, ticketUpdates: { type: 'apiCall', url }, timeoutMs: 2000, failurePolicy: 'notify' },
    })).json().id;
    ticketId = (await t.api('POST', '/api/v1/tickets', { subject: 'Abschlag', from: 'erika@example.com', emailAccountId: accountId })).json().id;
    // The same database through a store that counts what it sends; the app uses it from here on.
    counting = new CountingStore(t.db.handle);
    (t.deps as { store: Store }).store = counting;
    calls.length = 0;
  });
  afterEach(async () => { await t.close(); });

  const patch = (id: number, body: unknown) => t.api('PATCH', `/api/v1/tickets/${id}`, body, t.agentToken);

  it('commits once: the invocation, the change and the hook\'s answer (a tag and a priority) in one transaction', async () => {
    answer = () => ({ body: { ticket: { priority: 'high', addTags: ['vip'] } } });
    // The agent's token is marked as used on its first request: not part of what is counted here.
    await t.api('GET', `/api/v1/tickets/${ticketId}`, undefined, t.agentToken);
    counting.take();
    const res = await patch(ticketId, { status: 'waitingOnCustomer' });
    const hooked = counting.take();
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'waitingOnCustomer', priority: 'high', tags: ['vip'] });
    // SQLite: one commit, nothing else written. PostgreSQL: the ticket's lease is a row other
    // processes see, so taking it commits on its own; its release commits with the change.
    const expected = kind === 'sqlite' ? 1 : 2;
    expect(hooked.commits, hooked.log.join('\n')).toBeLessThanOrEqual(expected);
    expect(hooked.transactions, hooked.log.join('\n')).toBe(1);

    const plainTicket = (await t.api('POST', '/api/v1/tickets', { subject: 'Ohne Hook', from: 'b@example.com' })).json().id;
    counting.take();
    expect((await patch(plainTicket, { status: 'waitingOnCustomer' })).statusCode).toBe(200);
    const plain = counting.take();
    expect(plain.commits, plain.log.join('\n')).toBe(1);
    // The hook adds its record and its answer's lines, not round trips of its own: over the plain
    // change, the invocation and its line, the answer's tags, lines and event (7); on PostgreSQL
    // also the lease's take and release and the ticket's read under it (3). The hook's quarantine
    // state is read once a second per process (1: this is the process's first hooked change).
    expect(hooked.reads + hooked.writes - (plain.reads + plain.writes), hooked.log.join('\n')).toBeLessThanOrEqual(kind === 'sqlite' ? 8 : 11);

    // What the user and the log see is what it was: the invocation's line, the user's change, then
    // the hook's, each with its actor and its own TicketUpdated event.
    const activity = (await t.api('GET', `/api/v1/tickets/${ticketId}/activity`)).json().items as Array<{ field: string; actor: { type: string } }>;
    const order = activity.map((a) => `${a.field}:${a.actor.type}`);
    const mine = order.slice(order.indexOf('webhook:system'));
    expect(mine).toEqual(['webhook:system', 'status:user', 'priority:webhook', 'tags:webhook']);
    const updates = (await t.api('GET', `/api/v1/events?ticketId=${ticketId}&type=TicketUpdated`)).json().items;
    expect(updates.map((e: { data: { changes: object } }) => e.data.changes)).toEqual([{ status: 'waitingOnCustomer' }, { priority: 'high', tags: ['vip'] }]);
    expect((await t.api('GET', `/api/v1/email-accounts/${accountId}/invocations`)).json().items[0]).toMatchObject({ outcome: 'ok', ticketId });
  });

  it('a stopped change still records its invocation and its line, and changes nothing', async () => {
    answer = () => ({ body: { abort: true, message: 'Nicht jetzt' } });
    const res = await patch(ticketId, { priority: 'low' });
    expect(res.statusCode).toBe(422);
    expect((await t.api('GET', `/api/v1/tickets/${ticketId}`)).json().priority).toBe('medium');
    expect((await t.api('GET', `/api/v1/email-accounts/${accountId}/invocations`)).json().items[0]).toMatchObject({ outcome: 'aborted', ticketId });
    const activity = (await t.api('GET', `/api/v1/tickets/${ticketId}/activity`)).json().items;
    expect(activity.at(-1)).toMatchObject({ field: 'webhook', to: 'aborted', meta: { invocationId: res.json().invocationId } });
  });

  it('an answer the ticket rules refuse is logged as not applied; the user\'s change commits', async () => {
    answer = () => ({ body: { ticket: { status: 'pending' } } });
    const res = await patch(ticketId, { priority: 'low' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ priority: 'low', status: 'open' });
    const activity = (await t.api('GET', `/api/v1/tickets/${ticketId}/activity`)).json().items;
    expect(activity.at(-1)).toMatchObject({ field: 'webhook', to: 'answer not applied', actor: { type: 'webhook' }, meta: { reason: expect.stringMatching(/dueBy/) } });
  });

  /** Two hooked changes of one ticket at once; each answer adds a tag, so the second hook must see the first's. */
  async function concurrently(first: AppDeps, second: AppDeps) {
    answer = (c) => ({ delayMs: 150, body: { ticket: { addTags: [`seen-${calls.indexOf(c)}`] } } });
    const agent = { type: 'user' as const, userId: t.agentId };
    const [a, b] = await Promise.all([
      updateTicket(first, ticketId, { priority: 'high' }, agent),
      updateTicket(second, ticketId, { addTags: ['zweite'] }, agent),
    ]);
    expect(calls).toHaveLength(2);
    const [one, two] = [...calls].sort((x, y) => x.startedAt - y.startedAt);
    // Never interleaved: the second call started after the first one's answer was committed …
    expect(two!.startedAt).toBeGreaterThanOrEqual(one!.endedAt!);
    // … and saw that answer as part of the ticket.
    expect(two!.json.ticket.tags).toContain('seen-0');
    const final = (await t.api('GET', `/api/v1/tickets/${ticketId}`)).json();
    expect(final).toMatchObject({ priority: 'high' });
    expect([...final.tags].sort()).toEqual(['seen-0', 'seen-1', 'zweite']);
    expect([a.warnings, b.warnings]).toEqual([[], []]);
  }

  it('two hooked changes of one ticket serialise, the second hook seeing the first\'s answer', async () => {
    await concurrently(t.deps, t.deps);
  });

  it.runIf(kind === 'postgres')('two hooked changes of one ticket from two processes (store handles) serialise too', async () => {
    const other = await t.db.reopen();
    await concurrently(t.deps, makeDeps({ ...t.db, store: other.store }, t.clock, { secretBox: t.deps.secretBox, executors: t.deps.executors }));
  });
});
