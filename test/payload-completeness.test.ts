import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acceptInbound } from '../src/app/mail/accept-inbound.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { reopenDueTickets } from '../src/app/tickets/reopen-due-tickets.ts';
import { BACKENDS } from './support/backends.ts';
import { startRecordingReceiver, type RecordingReceiver } from './support/recording-receiver.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/**
 * What a receiver needs to act without asking back: what caused a system change (`trigger`), a
 * contract linked by recognition reported as such, attachment ids with inline parts and their
 * Content-ID, and a search body with `ticketId: null`.
 */
let receiver: RecordingReceiver;
beforeAll(async () => { receiver = await startRecordingReceiver(); });
afterAll(() => receiver.close());

const ADDRESS = 'service@stadtwerke-example.de';
// A 1×1 PNG.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

describe.each(BACKENDS)('payload completeness on %s', (kind) => {
  let t: TestApp;
  let accountId: number;

  beforeEach(async () => {
    t = await startTestApp(kind);
    receiver.calls.length = 0;
    receiver.answer = () => ({ body: {} });
    expect((await t.api('PUT', '/api/v1/contracts/V-100200', { customerId: 'K-4711', business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika.mustermann@example.org' })).statusCode).toBe(200);
    expect((await t.api('PUT', '/api/v1/customers/K-4711', { business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika.mustermann@example.org', contractIds: ['V-100200'] })).statusCode).toBe(200);
    accountId = (await t.api('POST', '/api/v1/email-accounts', {
      name: 'Service', address: ADDRESS, inbound: { type: 'smtp' },
      webhooks: { enabled: true, newEmails: { type: 'apiCall', url: receiver.url }, ticketUpdates: { type: 'apiCall', url: receiver.url }, timeoutMs: 2000, failurePolicy: 'notify' },
    })).json().id;
    await t.api('PUT', '/api/v1/recognition/settings', { ownDomains: ['stadtwerke-example.de'] });
  });
  afterEach(async () => { await t.close(); });

  const deliver = async (lines: string[]) => {
    await acceptInbound(t.deps, { emailAccountId: accountId, source: 'smtp', sourceKey: null, envelopeFrom: 'erika.mustermann@example.org', envelopeTo: [ADDRESS], raw: Buffer.from(lines.join('\r\n')) });
    return (await processPendingInbound(t.deps))[0]!;
  };
  const opening = (id: string) => [
    'From: Erika Mustermann <erika.mustermann@example.org>', `To: ${ADDRESS}`, 'Subject: Abschlag anpassen', `Message-ID: <${id}@example.org>`,
    'Content-Type: text/plain; charset=utf-8', '', 'Bitte passen Sie den Abschlag für Vertragsnummer V-100200 auf 85 EUR an.', '', 'Erika Mustermann',
  ];
  const hookInputs = (hook: string) => receiver.calls.map((c) => c.json).filter((j) => j?.hook === hook);

  it('a contract recognition linked is reported as such: in the newEmails input, on ContractLinked and TicketUpdated', async () => {
    const result = await deliver(opening('r1'));
    const [input] = hookInputs('newEmails');
    expect(input.ticket).toMatchObject({ id: result.ticketId, contractId: 'V-100200', customerId: 'K-4711' });
    expect(input.recognition).toEqual({ linkedBy: 'recognition', contractId: 'V-100200', customerId: 'K-4711', legitimationLevel: expect.any(Number) });
    const linked = (await t.api('GET', `/api/v1/events?type=ContractLinked&ticketId=${result.ticketId}`)).json().items;
    expect(linked.map((e: any) => e.data.trigger)).toEqual(['recognition']);
    const updated = (await t.api('GET', `/api/v1/events?type=TicketUpdated&ticketId=${result.ticketId}`)).json().items;
    expect(updated.at(-1).data).toMatchObject({ trigger: 'recognition', changes: { contractId: 'V-100200' } });

    // An agent who unlinks and links again is a user; a reply without recognition says so with null.
    expect((await t.api('DELETE', `/api/v1/tickets/${result.ticketId}/contract`, undefined, t.agentToken)).statusCode).toBe(200);
    expect((await t.api('POST', `/api/v1/tickets/${result.ticketId}/contract`, { contractId: 'V-100200' }, t.agentToken)).statusCode).toBe(200);
    const again = (await t.api('GET', `/api/v1/events?type=ContractLinked&ticketId=${result.ticketId}`)).json().items;
    expect(again.map((e: any) => e.data.trigger)).toEqual(['recognition', 'user']);
    await deliver(['From: erika.mustermann@example.org', `To: ${ADDRESS}`, 'Subject: Re: Abschlag anpassen', 'In-Reply-To: <r1@example.org>', 'Message-ID: <r2@example.org>', '', 'Danke!']);
    expect(hookInputs('newEmails').at(-1).recognition).toBeNull();
  });

  it('ticketUpdates says what caused a change: user, dueBy, reopenedByCustomerReply; TicketUpdated events too', async () => {
    const { ticketId } = await deliver(opening('d1'));
    receiver.calls.length = 0;
    const patched = await t.api('PATCH', `/api/v1/tickets/${ticketId}`, { status: 'pending', dueBy: new Date(t.clock.now().getTime() + 60_000).toISOString() }, t.agentToken);
    expect(patched.statusCode, patched.body).toBe(200);
    expect(hookInputs('ticketUpdates').at(-1)).toMatchObject({ trigger: 'user', userId: t.agentId });

    t.clock.set(new Date(t.clock.now().getTime() + 61_000).toISOString());
    expect(await reopenDueTickets(t.deps)).toEqual([ticketId]);
    expect(hookInputs('ticketUpdates').at(-1)).toMatchObject({ trigger: 'dueBy', userId: null, changes: { status: 'open' } });

    await t.api('PATCH', `/api/v1/tickets/${ticketId}`, { status: 'closed' }, t.agentToken);
    await deliver(['From: erika.mustermann@example.org', `To: ${ADDRESS}`, 'Subject: Re: Abschlag anpassen', 'In-Reply-To: <d1@example.org>', 'Message-ID: <d2@example.org>', '', 'Noch eine Frage.']);
    expect(hookInputs('ticketUpdates').at(-1)).toMatchObject({ trigger: 'reopenedByCustomerReply', userId: null, changes: { status: 'open' } });

    const triggers = (await t.api('GET', `/api/v1/events?type=TicketUpdated&ticketId=${ticketId}&limit=50`)).json().items.map((e: any) => e.data.trigger);
    expect(triggers).toEqual(expect.arrayContaining(['recognition', 'user', 'dueBy', 'reopenedByCustomerReply']));
  });

  it('attachments in the newEmails input carry the ids the API serves them by; inline images are marked with their Content-ID', async () => {
    await deliver(opening('a1'));
    const result = await deliver([
      'From: erika.mustermann@example.org', `To: ${ADDRESS}`, 'Subject: Re: Abschlag anpassen', 'In-Reply-To: <a1@example.org>', 'Message-ID: <a2@example.org>',
      'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="outer"', '',
      '--outer', 'Content-Type: multipart/related; boundary="inner"', '',
      '--inner', 'Content-Type: text/html; charset=utf-8', '', '<p>Mein Zähler:</p><img src="cid:zaehler@example.org">',
      '--inner', 'Content-Type: image/png; name="zaehler.png"', 'Content-Transfer-Encoding: base64', 'Content-ID: <zaehler@example.org>', 'Content-Disposition: inline; filename="zaehler.png"', '', PNG,
      '--inner--',
      '--outer', 'Content-Type: application/pdf; name="rechnung.pdf"', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment; filename="rechnung.pdf"', '', Buffer.from('%PDF-1.4 Rechnung').toString('base64'),
      '--outer--', '',
    ]);
    expect(result.outcome).toBe('reply');
    const input = hookInputs('newEmails').at(-1);
    expect(input.conversationId).toBe(result.conversationId);
    const attachments = input.email.attachments;
    expect(attachments).toEqual([
      { id: expect.stringMatching(/^att_/), name: 'zaehler.png', contentType: 'image/png', size: 70, inline: true, contentId: 'zaehler@example.org' },
      { id: expect.stringMatching(/^att_/), name: 'rechnung.pdf', contentType: 'application/pdf', size: 17, inline: false, contentId: null },
    ]);
    const conversations = (await t.api('GET', `/api/v1/tickets/${result.ticketId}/conversations`)).json().items;
    const reply = conversations.find((c: any) => c.id === result.conversationId);
    expect(reply.attachments.map((a: any) => [a.id, a.inline, a.contentId])).toEqual(attachments.map((a: any) => [a.id, a.inline, a.contentId]));
    const pdf = await t.api('GET', `/api/v1/attachments/${attachments[1].id}`, undefined, t.agentToken);
    expect(pdf.statusCode).toBe(200);
    expect(pdf.body).toBe('%PDF-1.4 Rechnung');
  });

  it('POST /contracts/search takes "ticketId": null like a search without it', async () => {
    const withNull = await t.api('POST', '/api/v1/contracts/search', { contractId: 'V-100200', ticketId: null }, t.agentToken);
    expect(withNull.statusCode, withNull.body).toBe(200);
    const without = await t.api('POST', '/api/v1/contracts/search', { contractId: 'V-100200' }, t.agentToken);
    expect(withNull.json()).toEqual(without.json());
    expect(withNull.json().match).toMatchObject({ contractId: 'V-100200' });
  });
});
