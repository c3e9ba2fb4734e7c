// Real bounces from many MTAs, through SMTP, against an email deskhook sent: each hard bounce
// marks that email failed with its status code; a bounce for someone else, a delay warning or a
// read receipt marks nothing.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addAgentMessage } from '../src/app/conversations/add-conversation.ts';
import type { AppDeps } from '../src/app/deps.ts';
import { createEmailAccount } from '../src/app/email-accounts.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { sendQueuedMail } from '../src/app/mail/send-outbound.ts';
import { createUser } from '../src/app/auth/users.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from './support/backends.ts';
import { CORPUS_DIR, haveBounceCorpus, judge, readLabels, type BounceLabel } from './support/bounce-metrics.ts';
import { parseEmail } from '../src/adapters/mail-parse/parse-email.ts';
import { startCatcher, startInbound, type Catcher } from './support/mail.ts';
import { makeDeps, TestClock } from './support/test-app.ts';

const SUPPORT = 'support@stadtwerke.example';
const CUSTOMER = 'erika@example.com';

const raw = (label: BounceLabel): string => readFileSync(path.join(CORPUS_DIR, label.file)).toString('latin1');
const escape = (text: string): string => text.replace(/[.+?^${}()|[\]\\*]/g, '\\$&');
let bounces = 0;

/**
 * The labelled bounce, rewritten to return our email to our customer: the returned Message-ID
 * and the failed recipients swapped, and the bounce's own Message-ID made unique (the corpus
 * holds copies of one bounce, which would be redeliveries); nothing else.
 */
function returning(label: BounceLabel, messageId: string): Buffer {
  let text = raw(label).split(label.originalMessageId ?? '\0').join(messageId);
  for (const recipient of label.recipients) text = text.replace(new RegExp(escape(recipient), 'gi'), CUSTOMER);
  const headerEnd = text.search(/\r?\n\r?\n/);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const head = text.slice(0, headerEnd).split(/\r?\n/);
  const own = head.findIndex((line) => /^message-id:/i.test(line));
  if (own >= 0) {
    const folded = head.slice(own + 1).findIndex((line) => !/^[ \t]/.test(line));
    head.splice(own, folded < 0 ? head.length - own : 1 + folded);
  }
  return Buffer.from(`${[...head, `Message-ID: <bounce-${++bounces}@mx.example>`].join(eol)}${text.slice(headerEnd)}`, 'latin1');
}

/** Labels whose returned Message-ID and recipients stand in the raw text, so they can be swapped. */
const swappable = (label: BounceLabel): boolean =>
  label.originalMessageId !== null && raw(label).includes(label.originalMessageId) &&
  label.recipients.length > 0 && label.recipients.every((r) => new RegExp(escape(r), 'i').test(raw(label)));

describe.skipIf(!haveBounceCorpus).each(BACKENDS)('real-world bounces on %s', (kind) => {
  let db: TestDatabase;
  let deps: AppDeps;
  let clock: TestClock;
  let catcher: Catcher;
  let inbound: Awaited<ReturnType<typeof startInbound>>;
  let agentId: number;

  beforeEach(async () => {
    db = await openTestDatabase(kind);
    clock = new TestClock(new Date());
    deps = makeDeps(db, clock);
    catcher = await startCatcher();
    inbound = await startInbound(deps, { maxMessageBytes: 2_000_000 });
    await createEmailAccount(deps, {
      name: 'Service', address: SUPPORT, inbound: { type: 'smtp' },
      outbound: { host: '127.0.0.1', port: catcher.port, secure: false, user: null, senderName: 'Stadtwerke Service' },
    });
    agentId = (await createUser(deps, { email: 'agent@stadtwerke.example', name: 'Agent', role: 'agent', password: 'long enough pw' })).id;
  });
  afterEach(async () => {
    (deps.mail.mailer as { close?: () => void }).close?.();
    await inbound.close();
    await catcher.close();
    await db.cleanup();
  });

  /** A ticket from our customer and the agent's reply to it, sent. */
  async function sentReply(subject: string, to = CUSTOMER) {
    await inbound.send({ from: to, to: SUPPORT, subject, text: subject });
    const [opened] = await processPendingInbound(deps);
    const reply = await addAgentMessage(deps, opened!.ticketId!, { direction: 'out', body: 'Antwort' }, { type: 'user', userId: agentId });
    await sendQueuedMail(deps);
    return { ticketId: opened!.ticketId!, reply };
  }

  async function bounce(raw: Buffer) {
    // Each message in its own flood-control window: this is a replay, not a flood.
    clock.advance(3_600_000);
    await inbound.send({ envelope: { from: '', to: [SUPPORT] }, raw });
    return (await processPendingInbound(deps))[0];
  }

  // How many labelled bounces are recognised is test/bounce-corpus.test.ts; this one shows that
  // every bounce recognised with its returned Message-ID fails our email on the way through SMTP.
  it('every recognised hard bounce that returns our email marks it failed, with its status code', { timeout: 120_000 }, async () => {
    const labels = [];
    for (const label of readLabels().filter((l) => l.kind === 'hard' && swappable(l))) {
      // Rewritten as it will be sent (a recipient only in a base64 part stays as it was).
      const rewritten = { ...label, originalMessageId: 'dh.0.probe@stadtwerke.example', recipients: [CUSTOMER] };
      const verdict = judge(rewritten, (await parseEmail(returning(label, rewritten.originalMessageId))).bounce);
      if (verdict.recognised && verdict.bounce?.originalMessageId === rewritten.originalMessageId) labels.push(label);
    }
    expect(labels.length).toBeGreaterThan(50);
    const missed: string[] = [];
    for (const label of labels) {
      const { ticketId, reply } = await sentReply(`Vertrag ${label.file}`);
      const result = await bounce(returning(label, reply.messageId!));
      const after = await db.store.conversations.get(reply.id);
      const ok = result?.outcome === 'bounce' && result.ticketId === ticketId && after?.deliveryStatus === 'failed' &&
        (label.status === null || after.deliveryError?.includes(label.status) === true);
      if (!ok) missed.push(`${label.file}: ${result?.outcome} ${after?.deliveryStatus} ${after?.deliveryError ?? ''}`);
    }
    expect(missed).toEqual([]);
  });

  it('a bounce naming only an address our email was not sent to marks nothing failed', async () => {
    const { ticketId, reply } = await sentReply('Abschlag');
    const qmail = readLabels().find((l) => l.file.endsWith('lhost-qmail-01.eml'))!;
    const raw = Buffer.from(readFileSync(path.join(CORPUS_DIR, qmail.file)).toString('latin1').split(qmail.originalMessageId!).join(reply.messageId!), 'latin1');
    const result = await bounce(raw);
    expect(result).toMatchObject({ outcome: 'bounce', ticketId });
    expect(await db.store.conversations.get(reply.id)).toMatchObject({ deliveryStatus: 'sent' });
    expect((await db.store.events.list({ ticketId, types: ['EmailFailed'] }, { limit: 10, cursor: null })).items).toHaveLength(0);
  });

  it('a bounce that names our email only in In-Reply-To still finds it', async () => {
    const { ticketId, reply } = await sentReply('Zählerstand');
    const raw = [
      'From: Mail Delivery System <MAILER-DAEMON@mx.example>', `To: ${SUPPORT}`, 'Subject: Undeliverable: Zählerstand',
      'Message-ID: <ndr-irt@mx.example>', `In-Reply-To: <${reply.messageId}>`, 'Content-Type: text/plain; charset=utf-8', '',
      'Delivery has failed to these recipients or groups:', '', `${CUSTOMER}`, 'The email address could not be found. 550 5.1.1 RESOLVER.ADR.RecipNotFound', '',
    ].join('\r\n');
    expect(await bounce(Buffer.from(raw))).toMatchObject({ outcome: 'bounce', ticketId });
    expect(await db.store.conversations.get(reply.id)).toMatchObject({ deliveryStatus: 'failed', deliveryError: expect.stringContaining('5.1.1') });
  });

  it('delay warnings and other reports mark nothing failed', { timeout: 60_000 }, async () => {
    const labels = readLabels().filter((l) => l.kind !== 'hard' && l.originalMessageId);
    expect(labels.length).toBeGreaterThanOrEqual(5);
    for (const label of labels) {
      const { reply } = await sentReply(`Frage ${label.file}`);
      await bounce(returning(label, reply.messageId!));
      expect((await db.store.conversations.get(reply.id))?.deliveryStatus, label.file).toBe('sent');
    }
  });
});
