import type { AttachmentRef, MessageFlags } from '../../domain/conversation.ts';
import type { InboundEmail } from '../../domain/mail/inbound-email.ts';
import { uncheckedAuthentication, type MailAuthentication } from '../../domain/mail/authentication.ts';
import { decideThread, threadLookupKeys } from '../../domain/mail/threading.ts';
import { judgeRedelivery, redeliveryContent } from '../../domain/mail/redelivery.ts';
import { failedRecipients } from '../../domain/mail/bounce.ts';
import { keyedTokenTickets } from './subject-token.ts';
import { applyTicketPatch, reopensOnCustomerReply, type Ticket, type TicketDiff } from '../../domain/ticket.ts';
import { fireInboundHook, fireSystemTicketUpdate } from '../webhooks/notify-only-hooks.ts';
import type { Actor } from '../../domain/user.ts';
import type { AppDeps } from '../deps.ts';
import { publish, recordTicketChange } from '../record-change.ts';
import type { InboundRecord, Store, StoredAttachment } from '../ports/store.ts';
import { draftTicket, insertTicket } from '../tickets/create-ticket.ts';
import { notify } from '../notifications.ts';
import { recognizeTicket } from '../recognition/recognize.ts';
import { nextTurn } from '../next-turn.ts';

export type IngestOutcome = 'new_ticket' | 'reply' | 'duplicate' | 'bounce' | 'orphan_bounce';

export interface IngestResult {
  outcome: IngestOutcome;
  ticketId: number | null;
  conversationId: number | null;
}

const CUSTOMER: Actor = { type: 'system', reason: 'inbound email', trigger: 'inboundEmail' };
const CUSTOMER_REPLIED: Actor = { type: 'system', reason: 'customer replied', trigger: 'reopenedByCustomerReply' };
const MAX_ATTEMPTS = 5;

function flagsOf(email: InboundEmail): MessageFlags {
  const flags: MessageFlags = {};
  if (email.autoReply.auto) flags.autoReply = email.autoReply.reason ?? 'automatic message';
  if (email.bounce) {
    const { originalMessageId, status, permanent, recipients, format, diagnostic } = email.bounce;
    flags.bounce = { originalMessageId, status, permanent, recipients, format, diagnostic };
  }
  if (email.parseWarnings.length) flags.parseWarnings = email.parseWarnings;
  if (email.replyTo.length) flags.replyTo = email.replyTo;
  return flags;
}

function attachmentsOf(deps: AppDeps, email: InboundEmail, ticketId: number, conversationId: number | null, at: string): { rows: StoredAttachment[]; refs: AttachmentRef[] } {
  const rows = email.attachments.map((a) => ({
    id: deps.ids.token('att_'),
    ticketId, conversationId,
    name: a.filename, contentType: a.contentType, size: a.size, contentId: a.contentId, inline: a.inline, sha256: a.checksum,
    content: a.content && a.size <= deps.mail.settings.maxAttachmentBytes ? Buffer.from(a.content) : null,
    createdAt: at,
  }));
  return { rows, refs: rows.map((r) => ({ id: r.id, name: r.name, contentType: r.contentType, size: r.size, inline: r.inline, contentId: r.contentId })) };
}

/**
 * Turns one stored raw message into a ticket or a conversation: parse, thread, then write the
 * ticket or reply, its attachments, the activity and events, and mark the message processed, all
 * in one transaction. A customer reply reopens a closed, resolved or pending ticket; automatic
 * mail (auto-replies, bounces, lists) never does.
 */
export async function ingestInbound(deps: AppDeps, record: InboundRecord): Promise<IngestResult> {
  const email = await deps.mail.parser.parse(record.raw);
  const keys = threadLookupKeys(email);
  const now = deps.clock.now();
  const at = now.toISOString();
  const contentHash = deps.ids.digest(redeliveryContent(record.raw.toString('latin1')));

  // The same message delivered again (a retried SMTP session, a Cc to two of our addresses) is
  // dropped; another message that reuses a known Message-ID is kept as its own (docs/email.md).
  let reusedId = false;
  if (email.messageId) {
    const earlier = await deps.store.conversations.messagesWithId(email.messageId);
    // Our own Message-IDs are unique: an inbound copy of one is our message coming back.
    const ours = earlier.find((m) => m.direction === 'out');
    const verdict = ours
      ? { kind: 'redelivery' as const, rule: 'own-outbound-message', match: ours }
      : judgeRedelivery({ from: email.from?.address ?? record.envelopeFrom, contentHash, at }, earlier);
    if (verdict.kind === 'redelivery') {
      const { match, rule } = verdict;
      deps.logger.info({ messageId: email.messageId, inboundId: record.id, ticketId: match.ticketId, conversationId: match.conversationId, rule }, `duplicate delivery of <${email.messageId}> dropped`);
      return finish(deps, record, { outcome: 'duplicate', ticketId: match.ticketId, conversationId: match.conversationId });
    }
    reusedId = verdict.reusedId;
    if (reusedId) {
      deps.logger.info({ messageId: email.messageId, inboundId: record.id, earlier: earlier.map((m) => ({ ticketId: m.ticketId, conversationId: m.conversationId })) }, `Message-ID <${email.messageId}> reused by a different message; stored as its own message`);
    }
  }

  const known = await deps.store.conversations.ticketsByMessageId(keys.messageIds);
  const participants = await deps.store.conversations.participants(keys.subjectTicketIds);
  const authentication = await authenticationOf(deps, record);
  const flags: MessageFlags = { ...flagsOf(email), authentication, contentHash, ...(reusedId ? { duplicateMessageId: true } : {}) };
  const auto = email.autoReply.auto;

  // A bare or forged token threads only for a sender SPF/DKIM/DMARC vouch for (domain/mail/threading.ts).
  let decision = decideThread(email, {
    knownMessages: known, participants, keyedTokens: keyedTokenTickets(deps, email.subject), senderAuthenticated: authentication.authenticated,
  });
  // A bounce names the message it returns by Message-ID (or, from some MTAs, only In-Reply-To);
  // only recipients that message was sent to are marked failed.
  let bouncedConversation = null;
  let failedFor: string[] = [];
  const bouncedId = email.bounce ? (email.bounce.originalMessageId ?? email.inReplyTo) : null;
  if (email.bounce && bouncedId) {
    bouncedConversation = await deps.store.conversations.getByMessageId(bouncedId);
    if (bouncedConversation) {
      decision = { kind: 'reply', ticketId: bouncedConversation.ticketId, via: 'in-reply-to' };
      failedFor = failedRecipients(bouncedConversation, email.bounce);
      if (email.bounce.permanent && failedFor.length === 0) {
        deps.logger.info(
          { conversationId: bouncedConversation.id, bounced: email.bounce.recipients },
          'bounce names no recipient of the message it returns: delivery not marked failed',
        );
      }
    }
  }

  const change: { reopened: { ticket: Ticket; diff: TicketDiff } | null } = { reopened: null };
  const result = await deps.store.transaction(async (tx): Promise<IngestResult> => {
    if (decision.kind === 'new') {
      const draft = draftTicket({
        subject: email.subject || '(no subject)',
        emailAccountId: record.emailAccountId,
        channel: 'email',
        from: email.from?.address ?? record.envelopeFrom,
        fromName: email.from?.name || null,
        to: email.to.map((a) => a.address),
        body: email.bodyHtml ?? email.bodyPlain,
        bodyPlain: email.bodyPlain,
        tags: auto ? [email.bounce ? 'bounce' : 'auto-reply'] : [],
      }, now, { messageId: email.messageId, attachments: [], flags: { ...flags, ...openingThreading(email) } });
      const ticket = await insertTicket(tx, deps, { ...draft, lastCustomerMessageAt: auto ? null : at }, CUSTOMER);
      const { rows, refs } = attachmentsOf(deps, email, ticket.id, null, at);
      await tx.attachments.insert(rows);
      if (refs.length) await tx.tickets.save({ ...ticket, attachments: refs }, ticket.version);
      return { outcome: email.bounce ? 'orphan_bounce' : 'new_ticket', ticketId: ticket.id, conversationId: null };
    }
    const ticket = await tx.tickets.get(decision.ticketId);
    if (!ticket) throw new Error(`ticket ${decision.ticketId} vanished while threading`);
    const conversation = await tx.conversations.insert({
      ticketId: ticket.id, direction: 'in', private: false,
      fromEmail: email.from?.address ?? record.envelopeFrom, toEmail: email.to.map((a) => a.address), ccEmails: email.cc.map((a) => a.address),
      subject: email.subject, body: email.bodyHtml ?? email.bodyPlain, bodyPlain: email.bodyPlain, attachments: [],
      messageId: email.messageId, inReplyTo: email.inReplyTo, references: email.references, agentId: null,
      deliveryStatus: null, deliveryError: null, flags, createdAt: at,
    });
    const { rows, refs } = attachmentsOf(deps, email, ticket.id, conversation.id, at);
    await tx.attachments.insert(rows);
    if (refs.length) await tx.conversations.setAttachments(conversation.id, refs);
    await tx.activity.add([{ ticketId: ticket.id, field: 'conversation', from: null, to: conversation.id, actor: CUSTOMER, at, meta: { direction: 'in', ...(auto ? { autoReply: flags.autoReply } : {}) } }]);
    await publish(tx, deps, [{
      type: 'TicketResponse', ticketId: ticket.id, userId: null,
      data: { ticketId: ticket.id, conversationId: conversation.id, automatic: auto, conversation: { ...conversation, attachments: refs } },
    }]);
    change.reopened = await touchTicket(tx, deps, ticket, { auto, at, now });
    if (bouncedConversation && email.bounce && failedFor.length > 0) {
      const reason = `bounced: ${email.bounce.status ?? 'permanent failure'} for ${failedFor.join(', ')}${email.bounce.diagnostic ? ` (${email.bounce.diagnostic})` : ''}`;
      await tx.conversations.setDelivery(bouncedConversation.id, 'failed', reason);
      await publish(tx, deps, [{ type: 'EmailFailed', ticketId: ticket.id, userId: bouncedConversation.agentId, data: { ticketId: ticket.id, conversationId: bouncedConversation.id, error: reason, bounce: flags.bounce } }]);
    }
    return { outcome: bouncedConversation ? 'bounce' : 'reply', ticketId: ticket.id, conversationId: conversation.id };
  });

  if (email.bounce) deps.telemetry?.mailBounced(record.emailAccountId);
  // The email is stored whatever the hooks say; they run now that it is (see notify-only-hooks.ts).
  if (result.ticketId !== null && result.outcome !== 'duplicate') {
    // A new ticket from a person is matched to a contract first, so the hook sees the link.
    const recognized = result.outcome === 'new_ticket' && !auto
      ? await recognizeTicket(deps, result.ticketId).catch((err: unknown) => { deps.logger.error({ err, ticketId: result.ticketId }, 'customer recognition failed'); return null; })
      : null;
    // Every incoming email reaches the hook, automatic ones too (flagged `automatic` in its input).
    await fireInboundHook(deps, result.ticketId, result.conversationId, email, authentication, recognized?.contract ? recognized : null)
      .catch((err: unknown) => deps.logger.error({ err, ticketId: result.ticketId }, 'inbound webhook failed to run'));
    if (change.reopened) {
      await fireSystemTicketUpdate(deps, change.reopened.ticket, change.reopened.diff, 'reopenedByCustomerReply').catch((err: unknown) => deps.logger.error({ err }, 'ticketUpdates webhook failed to run'));
    }
  }
  if (bouncedConversation?.agentId && email.bounce && failedFor.length > 0) {
    await notify(deps, [bouncedConversation.agentId], {
      kind: 'email_failed', ticketId: bouncedConversation.ticketId, link: `/tickets/${bouncedConversation.ticketId}`,
      message: `your email on ticket ${bouncedConversation.ticketId} bounced: ${email.bounce.status ?? 'permanent failure'}`,
    });
  }
  return finish(deps, record, result, authentication);
}

/** The opening email's own threading headers, kept for the References of our replies (RFC 5322 §3.6.4). */
function openingThreading(email: InboundEmail): Pick<MessageFlags, 'inReplyTo' | 'references'> {
  return {
    ...(email.inReplyTo ? { inReplyTo: email.inReplyTo } : {}),
    ...(email.references.length ? { references: email.references } : {}),
  };
}

/** An agent changed the ticket while its reply was being stored: the whole ingestion is run again at once. */
class TicketChangedError extends Error {
  constructor(ticketId: number) {
    super(`ticket ${ticketId} changed during ingestion`);
    this.name = 'TicketChangedError';
  }
}

const CONCURRENT_CHANGE_RETRIES = 5;

/** Counters and timestamps of a reply; a customer's (not an automatic) reply reopens the ticket. */
async function touchTicket(tx: Store, deps: AppDeps, ticket: Ticket, o: { auto: boolean; at: string; now: Date }): Promise<{ ticket: Ticket; diff: TicketDiff } | null> {
  let next: Ticket = { ...ticket, lastMessageAt: o.at, messageCount: ticket.messageCount + 1, modifiedAt: o.at };
  if (!o.auto) next.lastCustomerMessageAt = o.at;
  const reopen = !o.auto && reopensOnCustomerReply(ticket.status);
  let diff = null;
  if (reopen) {
    const applied = applyTicketPatch(next, { status: 'open' }, o.now);
    next = applied.ticket;
    diff = applied.diff;
  }
  // Inside the transaction the row is ours; a lost race means a concurrent agent change, so retry the message.
  if (!(await tx.tickets.save(next, ticket.version))) throw new TicketChangedError(ticket.id);
  if (!diff) return null;
  await recordTicketChange(tx, deps, next, diff, CUSTOMER_REPLIED, { reopenedByCustomerReply: true });
  return { ticket: next, diff };
}

async function finish(deps: AppDeps, record: InboundRecord, result: IngestResult, authentication?: MailAuthentication): Promise<IngestResult> {
  await deps.store.inbound.complete(record.id, { ...result, at: deps.clock.now().toISOString(), authentication: authentication ?? null });
  return result;
}

/** SPF/DKIM/DMARC of a stored message; the verifier keeps to its time budget and never throws. */
async function authenticationOf(deps: AppDeps, record: InboundRecord): Promise<MailAuthentication> {
  const verifier = deps.mail.authenticator;
  if (!verifier) return uncheckedAuthentication('verification is off (DESKHOOK_MAIL_AUTH=off)');
  return verifier.verify(record.raw, { clientAddress: record.clientAddress ?? null, helo: record.helo ?? null, envelopeFrom: record.envelopeFrom });
}

/**
 * Processes stored messages not yet turned into tickets. Any number of workers may run it: each
 * message is leased by one. A message that keeps failing is marked failed after five attempts,
 * kept with its error, and can be processed again by an admin.
 */
export async function processPendingInbound(deps: AppDeps, limit = 4): Promise<IngestResult[]> {
  const now = deps.clock.now();
  // The whole batch shares one lease, so the batch is small: four messages, each parsing plus a
  // newEmails hook at its longest (30 s) after waiting for the ticket's lock, fit well inside it,
  // and a burst of mail is shared between workers rather than taken by one.
  const claimed = await deps.store.inbound.claim(now.toISOString(), new Date(now.getTime() + 180_000).toISOString(), limit);
  const results: IngestResult[] = [];
  for (const [n, record] of claimed.entries()) {
    if (n > 0) await nextTurn();
    try {
      // A reply racing an agent's change of its ticket rolls back as a whole; run it again now
      // rather than after the lease (nothing of the first run was kept).
      for (let attempt = 1; ; attempt++) {
        try {
          results.push(await ingestInbound(deps, record));
          break;
        } catch (err) {
          if (!(err instanceof TicketChangedError) || attempt >= CONCURRENT_CHANGE_RETRIES) throw err;
        }
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      deps.logger.error({ err, inboundId: record.id }, 'ingesting an inbound email failed');
      // Due again in seconds (growing with the attempts), not when the batch's lease ends.
      const retryAt = new Date(deps.clock.now().getTime() + 5_000 * record.attempts).toISOString();
      await deps.store.inbound.fail(record.id, message, record.attempts >= MAX_ATTEMPTS, retryAt).catch((failErr: unknown) => {
        deps.logger.error({ err: failErr, inboundId: record.id }, 'recording the failure failed; the message is tried again when its lease ends');
      });
    }
  }
  return results;
}
