import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sendQueuedMail } from '../src/app/mail/send-outbound.ts';
import { acceptInbound } from '../src/app/mail/accept-inbound.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { reopenDueTickets } from '../src/app/tickets/reopen-due-tickets.ts';
import { BACKENDS } from './support/backends.ts';
import { startRecordingReceiver, type ReceivedCall, type RecordingReceiver, type ScriptedAnswer } from './support/recording-receiver.ts';
import { PASSWORD, startTestApp, type TestApp } from './support/test-app.ts';

type Call = ReceivedCall;

/** A receiver like a team's own API: answers what the current test scripts, records every call. */
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

describe.each(BACKENDS)('synchronous webhooks on %s', (kind) => {
  let t: TestApp;
  let accountId: number;
  let ticketId: number;

  beforeEach(async () => {
    t = await startTestApp(kind);
    calls.length = 0;
    answer = () => ({ body: {} });
    accountId = (await t.api('POST', '/api/v1/email-accounts', {
      name: 'Service', address: 'support@example.com', inbound: { type: 'smtp' },
      webhooks: { enabled: true, ticketUpdates: { type: 'apiCall', url }, newEmails: { type: 'apiCall', url }, timeoutMs: 1000, failurePolicy: 'notify' },
    })).json().id;
    ticketId = (await t.api('POST', '/api/v1/tickets', { subject: 'Abschlag', from: 'erika@example.com', emailAccountId: accountId })).json().id;
    calls.length = 0;
  });
  afterEach(async () => { await t.close(); });

  const setPolicy = (failurePolicy: 'notify' | 'block') => t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { failurePolicy } });
  const patch = (body: unknown) => t.api('PATCH', `/api/v1/tickets/${ticketId}`, body, t.agentToken);

  it('ticketUpdates: signed input with changes, previous and userId; the answer patches the ticket and adds a note', async () => {
    answer = () => ({ body: { ticket: { priority: 'high', addTags: ['vip'] }, note: 'Kunde ist VIP' } });
    const res = await patch({ status: 'waitingOnCustomer' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'waitingOnCustomer', priority: 'high', tags: ['vip'] });
    expect(res.json().warnings).toBeUndefined();
    const [call] = calls;
    expect(call!.json).toMatchObject({
      hook: 'ticketUpdates', emailAccountId: accountId, ticketId, userId: t.agentId,
      changes: { status: 'waitingOnCustomer' }, previous: { status: 'open' }, ticket: { id: ticketId, status: 'waitingOnCustomer' },
    });
    const { signingSecret } = (await t.api('GET', `/api/v1/email-accounts/${accountId}/webhooks/signing-secret`)).json();
    const h = call!.headers;
    expect(h['webhook-id']).toBe(call!.json.invocationId);
    expect(new Webhook(signingSecret).verify(call!.body, { 'webhook-id': String(h['webhook-id']), 'webhook-timestamp': String(h['webhook-timestamp']), 'webhook-signature': String(h['webhook-signature']) })).toMatchObject({ hook: 'ticketUpdates' });
    // The hook's own changes are recorded with the hook as actor and never call it again.
    expect(calls).toHaveLength(1);
    const activity = (await t.api('GET', `/api/v1/tickets/${ticketId}/activity`)).json().items;
    expect(activity.find((a: { field: string }) => a.field === 'priority')).toMatchObject({ to: 'high', actor: { type: 'webhook', hook: 'ticketUpdates', invocationId: call!.json.invocationId } });
    // Every invocation is on the ticket's activity, with its outcome and duration.
    expect(activity.find((a: { field: string }) => a.field === 'webhook')).toMatchObject({ to: 'ok', meta: { hook: 'ticketUpdates', invocationId: call!.json.invocationId, trigger: 'ticketUpdate', status: 200, durationMs: expect.any(Number) } });
    const notes = (await t.api('GET', `/api/v1/tickets/${ticketId}/conversations`)).json().items;
    expect(notes).toEqual([expect.objectContaining({ direction: 'internal', body: 'Kunde ist VIP' })]);
    const updates = (await t.api('GET', `/api/v1/events?ticketId=${ticketId}&type=TicketUpdated`)).json().items;
    expect(updates.map((e: { data: { changes: object } }) => e.data.changes)).toEqual([{ status: 'waitingOnCustomer' }, { priority: 'high', tags: ['vip'] }]);
  });

  it('abort rolls the change back and tells the user the hook\'s message', async () => {
    answer = () => ({ body: { abort: true, message: 'Tickets mit offenem Vertrag dürfen nicht geschlossen werden' } });
    const res = await patch({ status: 'closed' });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'webhook_aborted', detail: 'Tickets mit offenem Vertrag dürfen nicht geschlossen werden', hook: 'ticketUpdates', invocationId: expect.stringMatching(/^inv_/) });
    expect((await t.api('GET', `/api/v1/tickets/${ticketId}`)).json().status).toBe('open');
  });

  it('failure with policy notify: the change goes on and the response carries a warning', async () => {
    answer = () => ({ status: 500, body: { error: 'down' } });
    const res = await patch({ priority: 'urgent' });
    expect(res.statusCode).toBe(200);
    expect(res.json().priority).toBe('urgent');
    expect(res.json().warnings).toEqual([{ code: 'webhook_failed', hook: 'ticketUpdates', invocationId: expect.any(String), message: expect.stringContaining('answered 500') }]);
  });

  it('the request tells the receiver its deadline; a receiver that gives up in time says why, and the user reads it', async () => {
    await setPolicy('block');
    let left = -1;
    answer = (call) => {
      left = Number(call.headers['deskhook-deadline']) - Date.now();
      // A receiver whose ERP is too slow stops at half its time and says so.
      return { status: 503, delayMs: Math.max(0, left / 2), body: { message: 'ERP antwortet nicht rechtzeitig, abgebrochen' } };
    };
    const started = Date.now();
    const res = await patch({ priority: 'low' });
    const [call] = calls;
    expect(call!.headers['deskhook-timeout-ms']).toBe('1000');
    const deadline = Number(call!.headers['deskhook-deadline']);
    expect(deadline).toBeGreaterThanOrEqual(started + 1000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 1000);
    expect(left).toBeGreaterThan(0);
    expect(res.statusCode).toBe(502);
    expect(res.json().detail).toContain('ERP antwortet nicht rechtzeitig, abgebrochen');
    expect(res.json().detail).not.toMatch(/timed out/);
  });

  it('failure with policy block: nothing changes and the problem names the hook and the reason', async () => {
    await setPolicy('block');
    for (const [a, reason] of [
      [() => ({ delayMs: 3000, body: {} }), /timed out/],
      [() => ({ body: { priority: 'high' } }), /unknown key "priority"/],
      [() => ({ body: { ticket: { priority: 'extreme' } } }), /ticket\.priority/],
    ] as const) {
      answer = a;
      const res = await patch({ priority: 'low' });
      expect(res.statusCode).toBe(502);
      expect(res.json()).toMatchObject({ code: 'webhook_failed', hook: 'ticketUpdates', detail: expect.stringMatching(reason) });
      expect((await t.api('GET', `/api/v1/tickets/${ticketId}`)).json().priority).toBe('medium');
    }
    const failures = (await t.api('GET', `/api/v1/email-accounts/${accountId}/invocations?outcome=failed`)).json().items;
    expect(failures).toHaveLength(3);
    expect(failures[0]).toMatchObject({ hook: 'ticketUpdates', trigger: 'ticketUpdate', policyApplied: 'block', ticketId });
  });

  it('newEmails: an aborted outbound email is blocked and never sent; an aborted note is not saved', async () => {
    answer = (c) => ({ body: c.json.email.private ? { abort: true, message: 'Keine Notizen mit IBAN' } : { abort: true, message: 'Antwort enthält eine IBAN' } });
    const reply = await t.api('POST', `/api/v1/tickets/${ticketId}/conversations`, { direction: 'out', body: 'Ihre IBAN DE89 3704 0044 0532 0130 00' }, t.agentToken);
    expect(reply.statusCode).toBe(422);
    expect(reply.json()).toMatchObject({ code: 'webhook_aborted', detail: 'Antwort enthält eine IBAN', conversationId: expect.any(Number) });
    expect(calls[0]!.json).toMatchObject({ hook: 'newEmails', direction: 'out', conversationId: reply.json().conversationId, email: { private: false, to: [{ address: 'erika@example.com' }] } });
    expect(await sendQueuedMail(t.deps)).toEqual([]);
    const note = await t.api('POST', `/api/v1/tickets/${ticketId}/conversations`, { direction: 'internal', body: 'IBAN DE89…' }, t.agentToken);
    expect(note.statusCode).toBe(422);
    const thread = (await t.api('GET', `/api/v1/tickets/${ticketId}/conversations`)).json().items;
    expect(thread.map((c: { direction: string; deliveryStatus: string }) => [c.direction, c.deliveryStatus])).toEqual([['out', 'blocked']]);
  });

  it('newEmails: an allowed outbound email is released to the outbox only after the hook answered', async () => {
    answer = () => ({ body: { ticket: { addTags: ['beantwortet'] } } });
    const reply = await t.api('POST', `/api/v1/tickets/${ticketId}/conversations`, { direction: 'out', body: 'Danke' }, t.agentToken);
    expect(reply.statusCode).toBe(201);
    expect(reply.json().deliveryStatus).toBe('queued');
    expect((await t.api('GET', `/api/v1/tickets/${ticketId}`)).json().tags).toEqual(['beantwortet']);
    // Released: the outbox takes it (and fails it here: the account has no outbound server).
    expect((await sendQueuedMail(t.deps)).map((o) => o.conversationId)).toEqual([reply.json().id]);
  });

  it('an email held for a hook whose process died is blocked later and its author told, never sent', async () => {
    await t.deps.store.conversations.insert({
      ticketId, direction: 'out', private: false, fromEmail: 'support@example.com', toEmail: ['erika@example.com'], ccEmails: [], subject: 'x', body: 'x', bodyPlain: 'x',
      attachments: [], messageId: 'held@example.com', inReplyTo: null, references: [], agentId: t.agentId, deliveryStatus: 'queued', deliveryError: null, flags: {},
      createdAt: t.clock.now().toISOString(),
    }).then((c) => t.deps.store.conversations.recordDelivery(c.id, { status: 'queued', error: null, attempts: 0, nextAttemptAt: null }));
    expect(await sendQueuedMail(t.deps)).toEqual([]);
    expect((await t.api('GET', `/api/v1/tickets/${ticketId}/conversations`)).json().items[0].deliveryStatus).toBe('queued');
    t.clock.advance(6 * 60_000);
    await sendQueuedMail(t.deps);
    expect((await t.api('GET', `/api/v1/tickets/${ticketId}/conversations`)).json().items[0]).toMatchObject({ deliveryStatus: 'blocked', deliveryError: expect.stringContaining('never answered') });
    const relogin = await t.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'agent@example.com', password: PASSWORD } });
    expect((await t.api('GET', '/api/v1/notifications', undefined, relogin.json().token)).json().items[0]).toMatchObject({ kind: 'email_failed', ticketId });
  });

  it('the switch off means no call; the test endpoint works anyway and shows the answer', async () => {
    await t.api('PATCH', `/api/v1/email-accounts/${accountId}`, { webhooks: { enabled: false } });
    await patch({ priority: 'low' });
    expect(calls).toHaveLength(0);
    answer = () => ({ body: { message: 'Test ok', ticket: { priority: 'high' } } });
    const res = await t.api('POST', `/api/v1/email-accounts/${accountId}/webhooks/ticketUpdates/test`);
    expect(res.json()).toMatchObject({ outcome: 'ok', answer: { message: 'Test ok', ticket: { priority: 'high' } }, error: null });
    expect(calls[0]!.json).toMatchObject({ hook: 'ticketUpdates', changes: { status: 'closed' }, previous: { status: 'open' } });
    const log = (await t.api('GET', `/api/v1/email-accounts/${accountId}/invocations?hook=ticketUpdates`)).json().items;
    expect(log[0]).toMatchObject({ trigger: 'test', outcome: 'ok' });
  });

  const inbound = async (raw: string[]) => {
    await acceptInbound(t.deps, { emailAccountId: accountId, source: 'smtp', sourceKey: null, envelopeFrom: 'kunde@example.com', envelopeTo: ['support@example.com'], raw: Buffer.from(raw.join('\r\n')) });
    return (await processPendingInbound(t.deps))[0]!;
  };

  it('newEmails on inbound mail: after threading, the answer marks spam and sets fields; the email is kept', async () => {
    answer = (c) => ({ body: c.json.conversationId === null ? { spam: true, ticket: { priority: 'low' } } : { ticket: { addTags: ['antwort'] } } });
    const first = await inbound(['From: Kunde <kunde@example.com>', 'To: support@example.com', 'Subject: Gewinnspiel', 'Message-ID: <g1@example.com>', '', 'Sie haben gewonnen!']);
    expect(first.outcome).toBe('new_ticket');
    expect(calls[0]!.json).toMatchObject({ hook: 'newEmails', direction: 'in', conversationId: null, ticketId: first.ticketId, userId: null, email: { subject: 'Gewinnspiel', from: { address: 'kunde@example.com' } } });
    const ticket = (await t.api('GET', `/api/v1/tickets/${first.ticketId}`)).json();
    expect(ticket).toMatchObject({ priority: 'low', tags: ['spam'], flags: { spam: true } });
    const reply = await inbound(['From: kunde@example.com', 'To: support@example.com', 'Subject: Re: Gewinnspiel', 'In-Reply-To: <g1@example.com>', 'Message-ID: <g2@example.com>', '', 'Und?']);
    expect(calls[1]!.json).toMatchObject({ conversationId: reply.conversationId, ticketId: first.ticketId });
    expect((await t.api('GET', `/api/v1/tickets/${first.ticketId}`)).json().tags).toEqual(['spam', 'antwort']);
    // Automatic mail reaches the hook too, marked as such.
    await inbound(['From: kunde@example.com', 'To: support@example.com', 'Subject: Abwesend', 'Auto-Submitted: auto-replied', 'In-Reply-To: <g1@example.com>', 'Message-ID: <g3@example.com>', '', 'Bin weg.']);
    expect(calls[2]!.json.email).toMatchObject({ automatic: true, autoReplyReason: expect.stringMatching(/auto-submitted/i) });
  });

  it('an inbound hook failure keeps the email, shows on the ticket, notifies admins, and can be retried', async () => {
    answer = () => ({ status: 503, body: { error: 'maintenance' } });
    const result = await inbound(['From: kunde@example.com', 'To: support@example.com', 'Subject: Zähler', 'Message-ID: <z1@example.com>', '', 'Stand 123']);
    expect(result.outcome).toBe('new_ticket');
    const activity = (await t.api('GET', `/api/v1/tickets/${result.ticketId}/activity`)).json().items;
    const failure = activity.find((a: { field: string }) => a.field === 'webhook');
    expect(failure).toMatchObject({ to: 'failed', meta: { hook: 'newEmails', error: expect.stringContaining('503') } });
    const notes = (await t.api('GET', '/api/v1/notifications', undefined, t.adminToken)).json();
    expect(notes.items[0]).toMatchObject({ kind: 'webhook_failed', ticketId: result.ticketId, message: expect.stringContaining(`webhook for new emails failed`) });
    answer = () => ({ body: { ticket: { addTags: ['nachgeholt'] } } });
    const retried = await t.api('POST', `/api/v1/email-accounts/${accountId}/invocations/${failure.meta.invocationId}/retry`);
    expect(retried.json()).toMatchObject({ outcome: 'ok', error: null });
    expect((await t.api('GET', `/api/v1/tickets/${result.ticketId}`)).json().tags).toEqual(['nachgeholt']);

    // The retry resends the same message (Standard Webhooks: the id names it across attempts):
    // the same webhook-id and body, signed afresh; its invocation names the one it retried.
    const [first, again] = calls.slice(-2);
    expect(again!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    expect(again!.headers['webhook-id']).toBe(failure.meta.invocationId);
    expect(again!.json).toEqual(first!.json);
    const { signingSecret } = (await t.api('GET', `/api/v1/email-accounts/${accountId}/webhooks/signing-secret`)).json();
    const h = again!.headers;
    expect(new Webhook(signingSecret).verify(again!.body, { 'webhook-id': String(h['webhook-id']), 'webhook-timestamp': String(h['webhook-timestamp']), 'webhook-signature': String(h['webhook-signature']) })).toBeTruthy();
    const log = (await t.api('GET', `/api/v1/email-accounts/${accountId}/invocations`)).json().items;
    expect(log[0]).toMatchObject({ id: retried.json().invocationId, trigger: 'retry', messageId: failure.meta.invocationId, retryOf: failure.meta.invocationId, outcome: 'ok' });
    expect(log[1]).toMatchObject({ id: failure.meta.invocationId, messageId: failure.meta.invocationId, retryOf: null, outcome: 'failed' });
    expect(retried.json().invocationId).not.toBe(failure.meta.invocationId);
    // A new step is a new message with an id of its own.
    await t.api('PATCH', `/api/v1/tickets/${result.ticketId}`, { priority: 'high' }, t.agentToken);
    expect(calls.at(-1)!.headers['webhook-id']).not.toBe(failure.meta.invocationId);
    expect(calls.at(-1)!.headers['webhook-id']).toBe(calls.at(-1)!.json.invocationId);
  });

  it('system changes call ticketUpdates too: the reopen at dueBy, with userId null', async () => {
    await patch({ status: 'pending', dueBy: '2026-11-28T11:00:00.000Z' });
    calls.length = 0;
    t.clock.set('2026-11-28T11:00:01.000Z');
    expect(await reopenDueTickets(t.deps)).toEqual([ticketId]);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.json).toMatchObject({ hook: 'ticketUpdates', userId: null, changes: { status: 'open' }, previous: { status: 'pending' } });
  });

  it('hooks of one ticket never interleave; a slow hook on one ticket does not hold up another', async () => {
    const other = (await t.api('POST', '/api/v1/tickets', { subject: 'Andere', from: 'b@example.com', emailAccountId: accountId })).json().id;
    calls.length = 0;
    const spans: Array<{ ticket: number; event: string }> = [];
    answer = (c) => {
      spans.push({ ticket: c.json.ticketId, event: 'start' });
      const delayMs = c.json.ticketId === ticketId ? 400 : 0;
      setTimeout(() => spans.push({ ticket: c.json.ticketId, event: 'end' }), delayMs);
      return { delayMs, body: {} };
    };
    const finished: string[] = [];
    await Promise.all([
      patch({ priority: 'high' }).then(() => finished.push('slow 1')),
      patch({ priority: 'low' }).then(() => finished.push('slow 2')),
      t.api('PATCH', `/api/v1/tickets/${other}`, { priority: 'urgent' }, t.agentToken).then(() => finished.push('other')),
    ]);
    const mine = spans.filter((s) => s.ticket === ticketId).map((s) => s.event);
    expect(mine).toEqual(['start', 'end', 'start', 'end']);
    expect(finished[0]).toBe('other');
  });

  it('after a rotation both the new and the previous secret sign (receivers may verify with either)', async () => {
    const old = (await t.api('GET', `/api/v1/email-accounts/${accountId}/webhooks/signing-secret`)).json().signingSecret;
    const rotated = (await t.api('POST', `/api/v1/email-accounts/${accountId}/webhooks/signing-secret/rotate`)).json().signingSecret;
    await patch({ priority: 'high' });
    const h = calls[0]!.headers;
    const headers = { 'webhook-id': String(h['webhook-id']), 'webhook-timestamp': String(h['webhook-timestamp']), 'webhook-signature': String(h['webhook-signature']) };
    expect(String(h['webhook-signature']).split(' ')).toHaveLength(2);
    expect(new Webhook(old).verify(calls[0]!.body, headers)).toBeTruthy();
    expect(new Webhook(rotated).verify(calls[0]!.body, headers)).toBeTruthy();
  });
});
