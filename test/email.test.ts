import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addAgentMessage } from '../src/app/conversations/add-conversation.ts';
import type { AppDeps } from '../src/app/deps.ts';
import { createEmailAccount } from '../src/app/email-accounts.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { sendQueuedMail } from '../src/app/mail/send-outbound.ts';
import { subjectTokenMac } from '../src/app/mail/subject-token.ts';
import { updateTicket } from '../src/app/tickets/update-ticket.ts';
import { createUser } from '../src/app/auth/users.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from './support/backends.ts';
import { startCatcher, startInbound, type Catcher } from './support/mail.ts';
import { makeDeps, TestClock } from './support/test-app.ts';

const SUPPORT = 'support@stadtwerke.example';

describe.each(BACKENDS)('the email channel on %s', (kind) => {
  let db: TestDatabase;
  let deps: AppDeps;
  let clock: TestClock;
  let catcher: Catcher;
  let inbound: Awaited<ReturnType<typeof startInbound>>;
  let accountId: number;
  let agentId: number;

  beforeEach(async () => {
    db = await openTestDatabase(kind);
    clock = new TestClock(new Date());
    deps = makeDeps(db, clock);
    catcher = await startCatcher();
    inbound = await startInbound(deps, { maxMessageBytes: 200_000 });
    accountId = (await createEmailAccount(deps, {
      name: 'Service', address: SUPPORT, inbound: { type: 'smtp' },
      outbound: { host: '127.0.0.1', port: catcher.port, secure: false, user: null, senderName: 'Stadtwerke Service' },
    })).id;
    agentId = (await createUser(deps, { email: 'agent@stadtwerke.example', name: 'Agent', role: 'agent', password: 'long enough pw' })).id;
  });
  afterEach(async () => {
    (deps.mail.mailer as { close?: () => void }).close?.();
    await inbound.close();
    await catcher.close();
    await db.cleanup();
  });

  const ingest = () => processPendingInbound(deps);
  const rows = async () => (await sql<{ n: number }>`select count(*) as n from inbound_messages`.execute(db.handle.db)).rows[0]!.n;
  const ticketsNow = async () => (await db.store.tickets.search({}, { limit: 200, cursor: null })).items;

  it('accepts mail for a known address only, committing it before 250, and makes it a ticket', async () => {
    await expect(inbound.send({ from: 'erika@example.com', to: 'nobody@stadtwerke.example', subject: 'x', text: 'x' }))
      .rejects.toMatchObject({ responseCode: 550 });
    const info = await inbound.send({
      from: '"Erika Mustermann" <erika@example.com>', to: SUPPORT, subject: 'Zählerstand für März',
      text: 'Guten Tag,\nmein Zählerstand ist 12345.\nViele Grüße\nErika Mustermann',
      attachments: [{ filename: 'zähler.jpg', content: Buffer.alloc(2048, 7), contentType: 'image/jpeg' }],
    });
    expect(info.response).toMatch(/^250 2\.0\.0 queued as \d+/);
    // The 250 came after the commit: the raw message is there before anything is parsed.
    expect(Number(await rows())).toBe(1);
    expect(await ticketsNow()).toHaveLength(0);

    const [result] = await ingest();
    expect(result).toMatchObject({ outcome: 'new_ticket' });
    const [ticket] = await ticketsNow();
    expect(ticket).toMatchObject({ subject: 'Zählerstand für März', from: 'erika@example.com', fromName: 'Erika Mustermann', emailAccountId: accountId, status: 'open', messageCount: 1 });
    expect(ticket!.bodyPlain).toContain('mein Zählerstand ist 12345');
    expect(ticket!.attachments).toEqual([expect.objectContaining({ name: 'zähler.jpg', contentType: 'image/jpeg', size: 2048 })]);
    const stored = await db.store.attachments.get(ticket!.attachments[0]!.id);
    expect(stored?.content?.equals(Buffer.alloc(2048, 7))).toBe(true);
    const events = (await db.store.events.list({ ticketId: ticket!.id }, { limit: 10, cursor: null })).items.map((e) => e.type);
    expect(events).toEqual(['TicketCreated']);
  });

  it('refuses a message over the size limit with 552 and a reason', async () => {
    await expect(inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'big', text: 'a'.repeat(300_000) }))
      .rejects.toMatchObject({ responseCode: 552, response: expect.stringContaining('maximum size of 200000 bytes') });
    expect(Number(await rows())).toBe(0);
  });

  it('answers 451 (the client keeps the message) when the message cannot be stored', async () => {
    // Renamed, not dropped: the table keeps its identity, so another test's migrator, which lists
    // every schema's tables of the shared PostgreSQL database at the same time, never sees it vanish.
    await sql`alter table inbound_messages rename to inbound_messages_gone`.execute(db.handle.db);
    await expect(inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'x', text: 'x' }))
      .rejects.toMatchObject({ responseCode: 451 });
  });

  it('throttles a sender flooding an account with 451', async () => {
    deps.mail.settings.maxPerSenderPerWindow = 3;
    for (let i = 0; i < 3; i++) await inbound.send({ from: 'loop@example.com', to: SUPPORT, subject: `n${i}`, text: 'x' });
    await expect(inbound.send({ from: 'loop@example.com', to: SUPPORT, subject: 'n3', text: 'x' })).rejects.toMatchObject({ responseCode: 451 });
    await inbound.send({ from: 'someone.else@example.com', to: SUPPORT, subject: 'fine', text: 'x' });
  });

  it('sends agent replies with threading headers, and the customer reply threads back and reopens', async () => {
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'Abschlag', text: 'Mein Abschlag ist zu hoch.', messageId: '<first@mail.example>' });
    await ingest();
    const [ticket] = await ticketsNow();
    const reply = await addAgentMessage(deps, ticket!.id, { direction: 'out', body: '<p>Wir prüfen das.</p>' }, { type: 'user', userId: agentId });
    expect(reply).toMatchObject({ deliveryStatus: 'queued', inReplyTo: 'first@mail.example', references: ['first@mail.example'] });
    expect(await sendQueuedMail(deps)).toEqual([{ conversationId: reply.id, status: 'sent', error: null }]);
    const sent = catcher.received[0]!;
    expect(sent.envelope.to).toEqual(['erika@example.com']);
    expect(sent.parsed.messageId).toBe(`<${reply.messageId}>`);
    expect(sent.parsed.inReplyTo).toBe('<first@mail.example>');
    expect(sent.parsed.subject).toBe(`Re: Abschlag [#${ticket!.id}-${subjectTokenMac(deps, ticket!.id)}]`);
    expect(sent.parsed.headers.get('x-deskhook-loop')).toBe(SUPPORT);
    expect(sent.parsed.from?.value[0]).toMatchObject({ address: SUPPORT, name: 'Stadtwerke Service' });
    expect((await db.store.conversations.get(reply.id))?.deliveryStatus).toBe('sent');

    await updateTicket(deps, ticket!.id, { status: 'closed' }, { type: 'user', userId: agentId });
    // The customer answers from a client that keeps only In-Reply-To.
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'AW: Abschlag', text: 'Danke!', inReplyTo: sent.parsed.messageId });
    const [result] = await ingest();
    expect(result).toMatchObject({ outcome: 'reply', ticketId: ticket!.id });
    const after = await db.store.tickets.get(ticket!.id);
    expect(after).toMatchObject({ status: 'open', messageCount: 3, closedAt: null });
    expect(after!.lastCustomerMessageAt).not.toBeNull();
    const statusChanges = (await db.store.activity.listByTicket(ticket!.id, { limit: 50, cursor: null })).items.filter((a) => a.field === 'status');
    expect(statusChanges.at(-1)).toMatchObject({ from: 'closed', to: 'open', actor: { type: 'system', reason: 'customer replied' } });
    const types = (await db.store.events.list({ ticketId: ticket!.id }, { limit: 50, cursor: null })).items.map((e) => e.type);
    expect(types).toEqual(['TicketCreated', 'ConversationCreated', 'EmailSent', 'TicketUpdated', 'TicketResponse', 'TicketUpdated']);
    expect((await db.store.events.list({ ticketId: ticket!.id, types: ['TicketUpdated'] }, { limit: 50, cursor: null })).items.at(-1)!.data).toMatchObject({ userId: null, changes: { status: 'open' }, reopenedByCustomerReply: true });
  });

  it('threads by the keyed [#id-digest] token only when the sender takes part in the ticket; a stranger gets a new ticket', async () => {
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'Umzug', text: 'Ich ziehe um.' });
    await ingest();
    const [ticket] = await ticketsNow();
    const token = `[#${ticket!.id}-${subjectTokenMac(deps, ticket!.id)}]`;
    await inbound.send({ from: 'ERIKA@example.com', to: SUPPORT, subject: `Neue Adresse ${token}`, text: 'Hier die Adresse.' });
    await inbound.send({ from: 'mallory@evil.example', to: SUPPORT, subject: `Re: Umzug ${token}`, text: 'Bitte Konto ändern.' });
    // The bare token with a participant's address proves nothing without SPF/DKIM/DMARC (test/mail-authentication.test.ts).
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: `Re: Umzug [#${ticket!.id}]`, text: 'Bitte Konto ändern.' });
    const results = await ingest();
    expect(results.map((r) => r.outcome)).toEqual(['reply', 'new_ticket', 'new_ticket']);
    expect(results[0]!.ticketId).toBe(ticket!.id);
    expect(results[1]!.ticketId).not.toBe(ticket!.id);
    expect(results[2]!.ticketId).not.toBe(ticket!.id);
  });

  it('stores auto-replies flagged, without reopening or answering', async () => {
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'Frage', text: 'Frage', messageId: '<q@mail.example>' });
    await ingest();
    const [ticket] = await ticketsNow();
    await updateTicket(deps, ticket!.id, { status: 'resolved' }, { type: 'user', userId: agentId });
    await inbound.send({
      from: 'erika@example.com', to: SUPPORT, subject: 'Abwesenheitsnotiz: Frage', text: 'Ich bin im Urlaub.', inReplyTo: '<q@mail.example>',
      headers: { 'Auto-Submitted': 'auto-replied', 'X-Auto-Response-Suppress': 'All' },
    });
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'Newsletter', text: 'News', headers: { Precedence: 'bulk' } });
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'Loop', text: 'Loop', headers: { 'X-Deskhook-Loop': SUPPORT } });
    const results = await ingest();
    expect(results.map((r) => r.outcome)).toEqual(['reply', 'new_ticket', 'new_ticket']);
    expect((await db.store.tickets.get(ticket!.id))?.status).toBe('resolved');
    const thread = (await db.store.conversations.listByTicket(ticket!.id, { limit: 10, cursor: null })).items;
    expect(thread[0]!.flags.autoReply).toMatch(/auto-submitted/i);
    for (const r of results.slice(1)) {
      const t = await db.store.tickets.get(r.ticketId!);
      expect(t?.tags).toContain('auto-reply');
      expect(t?.flags.autoReply).toBeTruthy();
    }
    // Nothing was sent automatically.
    await sendQueuedMail(deps);
    expect(catcher.received).toHaveLength(0);
  });

  it('attaches a bounce to the email it bounces, marks it failed and tells the agent', async () => {
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'Vertrag', text: 'Vertrag' });
    await ingest();
    const [ticket] = await ticketsNow();
    const reply = await addAgentMessage(deps, ticket!.id, { direction: 'out', body: 'Antwort' }, { type: 'user', userId: agentId });
    await sendQueuedMail(deps);
    const dsn = [
      'From: MAILER-DAEMON@mx.example.com', `To: ${SUPPORT}`, 'Subject: Undelivered Mail Returned to Sender', 'Auto-Submitted: auto-replied',
      'MIME-Version: 1.0', 'Content-Type: multipart/report; report-type=delivery-status; boundary="B"', 'Message-ID: <dsn1@mx.example.com>', '',
      '--B', 'Content-Type: text/plain', '', 'Your message could not be delivered.', '',
      '--B', 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; mx.example.com', '', 'Final-Recipient: rfc822; erika@example.com',
      'Action: failed', 'Status: 5.1.1', 'Diagnostic-Code: smtp; 550 5.1.1 user unknown', '',
      '--B', 'Content-Type: text/rfc822-headers', '', `Message-ID: <${reply.messageId}>`, `From: ${SUPPORT}`, 'To: erika@example.com', 'Subject: Re: Vertrag', '',
      '--B--', '',
    ].join('\r\n');
    await inbound.send({ envelope: { from: '', to: [SUPPORT] }, raw: dsn });
    const [result] = await ingest();
    expect(result).toMatchObject({ outcome: 'bounce', ticketId: ticket!.id });
    expect(await db.store.conversations.get(reply.id)).toMatchObject({ deliveryStatus: 'failed', deliveryError: expect.stringContaining('5.1.1') });
    const notes = (await db.store.notifications.list(agentId, false, { limit: 10, cursor: null })).items;
    expect(notes[0]).toMatchObject({ kind: 'email_failed', ticketId: ticket!.id });
    const types = (await db.store.events.list({ ticketId: ticket!.id, types: ['EmailFailed'] }, { limit: 10, cursor: null })).items;
    expect(types).toHaveLength(1);
    expect((await db.store.tickets.get(ticket!.id))?.status).toBe('open');
  });

  it('retries temporary send failures with backoff and fails permanent ones, telling the agent', async () => {
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'Rechnung', text: 'Rechnung' });
    await ingest();
    const [ticket] = await ticketsNow();
    const reply = await addAgentMessage(deps, ticket!.id, { direction: 'out', body: 'Antwort' }, { type: 'user', userId: agentId });
    catcher.failWith = { code: 451, message: '4.3.0 try later' };
    expect((await sendQueuedMail(deps))[0]).toMatchObject({ status: 'retry' });
    expect(await db.store.conversations.get(reply.id)).toMatchObject({ deliveryStatus: 'queued', deliveryError: expect.stringContaining('try later') });
    // Not due yet: nothing is sent.
    expect(await sendQueuedMail(deps)).toEqual([]);
    clock.advance(61_000);
    catcher.failWith = { code: 550, message: '5.7.1 relay denied' };
    expect((await sendQueuedMail(deps))[0]).toMatchObject({ status: 'failed' });
    expect(await db.store.conversations.get(reply.id)).toMatchObject({ deliveryStatus: 'failed', deliveryError: expect.stringContaining('relay denied') });
    const notes = (await db.store.notifications.list(agentId, false, { limit: 10, cursor: null })).items;
    expect(notes[0]!.message).toContain('could not be sent');
  });

  it('a dead outbound server is a temporary failure', async () => {
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'Tarif', text: 'Tarif' });
    await ingest();
    const [ticket] = await ticketsNow();
    await catcher.close();
    await addAgentMessage(deps, ticket!.id, { direction: 'out', body: 'Antwort' }, { type: 'user', userId: agentId });
    expect((await sendQueuedMail(deps))[0]).toMatchObject({ status: 'retry', error: expect.stringMatching(/ECONNREFUSED|connect/i) });
  });

  it('the same message delivered twice becomes one ticket', async () => {
    for (let i = 0; i < 2; i++) await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'Doppelt', text: 'x', messageId: '<same@mail.example>' });
    const results = await ingest();
    expect(results.map((r) => r.outcome)).toEqual(['new_ticket', 'duplicate']);
    expect(await ticketsNow()).toHaveLength(1);
  });
});
