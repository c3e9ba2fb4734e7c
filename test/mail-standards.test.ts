// Standards a real mail client checks: a reused Message-ID loses no message (only true
// redeliveries are dropped), replies go to Reply-To (RFC 5322 §3.6.2) with the display name in
// To, and References follow RFC 5322 §3.6.4. Real SMTP in, a real SMTP catcher out, real HTTP
// for the webhook, on SQLite and PostgreSQL.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { putLocalContract, putLocalCustomer } from '../src/app/erp/erp-admin.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { sendQueuedMail } from '../src/app/mail/send-outbound.ts';
import type { Logger } from '../src/app/ports/logger.ts';
import { BACKENDS } from './support/backends.ts';
import { startCatcher, startInbound, type Catcher } from './support/mail.ts';
import { startRecordingReceiver, type RecordingReceiver } from './support/recording-receiver.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const corpusDir = path.resolve(repoRoot, '..', 'shared', 'corpus', 'mail');
const haveCorpus = existsSync(path.join(corpusDir, 'MANIFEST.tsv'));
const corpus = (file: string): Buffer => readFileSync(path.join(corpusDir, file));
const SUPPORT = 'service@stadtwerke-example.de';

/** The newEmails hook's receiver: answers {} and records every call. */
let receiver: RecordingReceiver;
let hookUrl: string;
beforeAll(async () => {
  receiver = await startRecordingReceiver();
  hookUrl = receiver.url;
});
afterAll(() => receiver.close());

/** Info lines the use cases log, to see what they say about dropped and kept messages. */
function recordingLogger(lines: string[]): Logger {
  const logger: Logger = {
    debug: () => undefined, warn: () => undefined, error: () => undefined,
    info: (_obj, msg) => { if (msg) lines.push(msg); },
    child: () => logger,
  };
  return logger;
}

describe.each(BACKENDS)('mail standards on %s', (kind) => {
  let t: TestApp;
  let catcher: Catcher;
  let inbound: Awaited<ReturnType<typeof startInbound>>;
  let info: string[];

  beforeEach(async () => {
    t = await startTestApp(kind);
    info = [];
    t.deps.logger = recordingLogger(info);
    receiver.calls.length = 0;
    catcher = await startCatcher();
    inbound = await startInbound(t.deps);
    const created = await t.api('POST', '/api/v1/email-accounts', {
      name: 'Service', address: SUPPORT, inbound: { type: 'smtp' },
      outbound: { host: '127.0.0.1', port: catcher.port, secure: false, user: null, senderName: 'Stadtwerke Service' },
      webhooks: { enabled: true, newEmails: { type: 'apiCall', url: hookUrl }, timeoutMs: 2000, failurePolicy: 'notify' },
    });
    expect(created.statusCode).toBe(201);
  });
  afterEach(async () => {
    (t.deps.mail.mailer as { close?: () => void }).close?.();
    await inbound.close();
    await catcher.close();
    await t.close();
  });

  const sendRaw = async (raw: Buffer | string, envelopeFrom = 'sender@mail.example') => {
    await inbound.send({ envelope: { from: envelopeFrom, to: [SUPPORT] }, raw });
    const results = await processPendingInbound(t.deps);
    expect(results).toHaveLength(1);
    return results[0]!;
  };
  const ticket = async (id: number) => (await t.api('GET', `/api/v1/tickets/${id}`)).json();
  const thread = async (id: number) => (await t.api('GET', `/api/v1/tickets/${id}/conversations`)).json().items;
  const allTickets = async () => (await t.api('GET', '/api/v1/tickets?limit=100')).json().items;
  /** The opening email or the conversation an ingestion result names. */
  const stored = async (r: { ticketId: number | null; conversationId: number | null }) => {
    if (r.conversationId === null) return ticket(r.ticketId!);
    return (await thread(r.ticketId!)).find((c: any) => c.id === r.conversationId);
  };

  describe.skipIf(!haveCorpus)('a reused Message-ID (real messages from the corpus)', () => {
    it('keeps different messages that share an id, each noting the reuse, and drops only the true redelivery', async () => {
      // Pairs of different real messages, from different senders, with one Message-ID each.
      const pairs = [
        ['chatwoot/forwarder_email.eml', 'chatwoot/mail_with_no_date.eml', '0CB459E0-0336-41DA-BC88-E6E28C697DDB@chatwoot.com'],
        ['mikel-mail/mime_emails/raw_email_with_illegal_boundary.eml', 'mikel-mail/plain_emails/raw_email_simple.eml', '009601c813c6$19df3510$0437d30a@mikel091a'],
      ] as const;
      for (const [first, second, id] of pairs) {
        const a = await sendRaw(corpus(first));
        const b = await sendRaw(corpus(second));
        expect(a.outcome).not.toBe('duplicate');
        expect(b.outcome).not.toBe('duplicate');
        const [sa, sb] = [await stored(a), await stored(b)];
        expect(sa.flags.duplicateMessageId).toBeUndefined();
        expect(sb.flags.duplicateMessageId).toBe(true);
        expect(sb.bodyPlain).not.toBe(sa.bodyPlain);
        expect(info).toContain(`Message-ID <${id}> reused by a different message; stored as its own message`);
      }
      expect(await allTickets()).toHaveLength(4);

      // The same bytes again (an SMTP retry after a lost 250), and a copy a relay added a
      // Received line to, are the same message: dropped, and said so at info level.
      const again = await sendRaw(corpus('mikel-mail/plain_emails/raw_email_simple.eml'));
      expect(again.outcome).toBe('duplicate');
      const relayed = Buffer.concat([Buffer.from('Received: from relay.example by mx.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n'), corpus('chatwoot/mail_with_no_date.eml')]);
      expect((await sendRaw(relayed, 'other@mail.example')).outcome).toBe('duplicate');
      expect(info.filter((l) => l.startsWith('duplicate delivery of <'))).toEqual([
        'duplicate delivery of <009601c813c6$19df3510$0437d30a@mikel091a> dropped',
        'duplicate delivery of <0CB459E0-0336-41DA-BC88-E6E28C697DDB@chatwoot.com> dropped',
      ]);
      expect(await allTickets()).toHaveLength(4);
    });
  });

  it('a form mailer\'s Reply-To gets the reply (with the display name in To), drives recognition and reaches the webhook', async () => {
    await putLocalContract(t.deps, t.deps.erp, 'V-100200', {
      customerId: 'K-4711', business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika.mustermann@example.org', zip: '10115', city: 'Berlin', street: 'Invalidenstraße 12',
    });
    await putLocalCustomer(t.deps, t.deps.erp, 'K-4711', { business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika.mustermann@example.org', contractIds: ['V-100200'] });
    const form = [
      'From: Kontaktformular <noreply@forms.stadtwerke-example.de>',
      'Reply-To: Erika Mustermann <erika.mustermann@example.org>',
      `To: ${SUPPORT}`, 'Subject: Kontaktformular: Abschlag', 'Message-ID: <form-1@forms.stadtwerke-example.de>', 'Date: Mon, 3 Nov 2025 10:00:00 +0100',
      'Content-Type: text/plain; charset=utf-8', '',
      'Anliegen: Bitte passen Sie den Abschlag für Vertragsnummer V-100200 auf 85 EUR an.', '',
    ].join('\r\n');
    const r = await sendRaw(form, 'bounces@forms.stadtwerke-example.de');
    expect(r.outcome).toBe('new_ticket');
    const opened = await ticket(r.ticketId!);
    // From stays what the email said; Reply-To is kept next to it.
    expect(opened).toMatchObject({ from: 'noreply@forms.stadtwerke-example.de', flags: { replyTo: [{ address: 'erika.mustermann@example.org', name: 'Erika Mustermann' }] } });
    // Recognition took the Reply-To address as the sender's: the ERP's email matches.
    expect(opened).toMatchObject({ contractId: 'V-100200', legitimationLevel: 20 });
    const activity = (await t.api('GET', `/api/v1/tickets/${r.ticketId}/activity`)).json().items;
    expect(activity.find((a: any) => a.field === 'contractId').meta.recognition.criteria).toContain('emailMatches');
    // The newEmails hook sees both.
    const hookCall = receiver.calls.map((c) => c.json).find((c) => c.direction === 'in');
    expect(hookCall.email).toMatchObject({
      from: { address: 'noreply@forms.stadtwerke-example.de', name: 'Kontaktformular' },
      replyTo: [{ address: 'erika.mustermann@example.org', name: 'Erika Mustermann' }],
    });

    const reply = await t.api('POST', `/api/v1/tickets/${r.ticketId}/conversations`, { direction: 'out', body: 'Wir haben den Abschlag angepasst.' }, t.agentToken);
    expect(reply.statusCode).toBe(201);
    expect(reply.json()).toMatchObject({ toEmail: ['erika.mustermann@example.org'] });
    expect(await sendQueuedMail(t.deps)).toEqual([expect.objectContaining({ status: 'sent' })]);
    const sent = catcher.received[0]!;
    expect(sent.envelope.to).toEqual(['erika.mustermann@example.org']);
    expect(sent.raw.toString('utf8')).toMatch(/^To: Erika Mustermann <erika\.mustermann@example\.org>\r?$/m);
    expect(catcher.received.some((m) => m.envelope.to.includes('noreply@forms.stadtwerke-example.de'))).toBe(false);
  });

  it('References of an agent reply are the parent\'s References plus the parent\'s Message-ID, unknown ids kept', async () => {
    const customer = (lines: string[]) => [
      'From: Erika Mustermann <erika@example.com>', `To: ${SUPPORT}`, 'Content-Type: text/plain; charset=utf-8', ...lines, '', 'Text', '',
    ].join('\r\n');
    // The customer answers, from her client, a thread we never saw (root and middle are unknown to us).
    const first = await sendRaw(customer([
      'Subject: Re: Zählerwechsel', 'Message-ID: <c1@mail.example>', 'In-Reply-To: <middle@erp.example>', 'References: <root@erp.example> <middle@erp.example>',
    ]), 'erika@example.com');
    expect(first.outcome).toBe('new_ticket');
    const answer = async () => {
      const res = await t.api('POST', `/api/v1/tickets/${first.ticketId}/conversations`, { direction: 'out', body: 'Danke.' }, t.agentToken);
      expect(res.statusCode).toBe(201);
      return res.json();
    };
    const reply1 = await answer();
    expect(reply1).toMatchObject({ inReplyTo: 'c1@mail.example', references: ['root@erp.example', 'middle@erp.example', 'c1@mail.example'] });

    // Her next message keeps only part of the chain (clients trim References): ours follows hers.
    const second = await sendRaw(customer([
      'Subject: Re: Zählerwechsel', 'Message-ID: <c2@mail.example>', `In-Reply-To: <${reply1.messageId}>`, `References: <root@erp.example> <${reply1.messageId}>`,
    ]), 'erika@example.com');
    expect(second).toMatchObject({ outcome: 'reply', ticketId: first.ticketId });
    const reply2 = await answer();
    expect(reply2).toMatchObject({ inReplyTo: 'c2@mail.example', references: ['root@erp.example', reply1.messageId, 'c2@mail.example'] });

    const outcomes = await sendQueuedMail(t.deps);
    expect(outcomes.map((o) => o.status)).toEqual(['sent', 'sent']);
    const sent = catcher.received.find((m) => m.parsed.messageId === `<${reply2.messageId}>`)!;
    expect(sent.parsed.inReplyTo).toBe('<c2@mail.example>');
    expect(sent.parsed.references).toEqual(['<root@erp.example>', `<${reply1.messageId}>`, '<c2@mail.example>']);
  });
});
