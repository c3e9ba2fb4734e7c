import { htmlToPlain, replyAddresses, type Conversation } from '../../domain/conversation.ts';
import { outboundThreadingHeaders, parentReferences } from '../../domain/mail/threading.ts';
import { actorUserId, type Actor } from '../../domain/user.ts';
import type { AppDeps } from '../deps.ts';
import { AppError, notFound } from '../errors.ts';
import { publish } from '../record-change.ts';
import { subjectTokenMac } from '../mail/subject-token.ts';

export interface AgentMessageInput {
  /** `out`: an email to the customer; `internal`: a note only agents see. */
  direction: 'out' | 'internal';
  body: string;
  bodyPlain?: string;
  subject?: string;
  to?: string[];
  cc?: string[];
}

function looksLikeHtml(text: string): boolean {
  return /<[a-z][\s\S]*>/i.test(text);
}

/**
 * An agent writes on a ticket: an internal note is saved as is; an outbound email is stored
 * `queued` for the mail outbox to send. Both publish ConversationCreated in the same transaction.
 */
export async function addAgentMessage(deps: AppDeps, ticketId: number, input: AgentMessageInput, actor: Actor, options: { hold?: boolean } = {}): Promise<Conversation> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const conversation = await tryAdd(deps, ticketId, input, actor, options.hold ?? false);
    if (conversation) return conversation;
  }
  throw new AppError('conflict', `ticket ${ticketId} is changing too often; try again`);
}

/** One attempt; null when the ticket changed between read and write (the transaction rolls back). */
async function tryAdd(deps: AppDeps, ticketId: number, input: AgentMessageInput, actor: Actor, hold: boolean): Promise<Conversation | null> {
  const now = deps.clock.now().toISOString();
  const lostRace = Symbol('lost race');
  try {
    return await deps.store.transaction(async (tx) => {
      const ticket = await tx.tickets.get(ticketId);
      if (!ticket) throw notFound('ticket', ticketId);
      const outbound = input.direction === 'out';
      // By default the customer's Reply-To (RFC 5322 §3.6.2), else From.
      const to = outbound ? (input.to?.length ? input.to : replyAddresses(ticket.from, ticket.fromName, ticket.flags).map((a) => a.address)) : [];
      if (outbound && to.length === 0) {
        throw new AppError('validation_failed', 'the ticket has no customer address; give `to`', { errors: [{ field: 'to', message: 'required for this ticket' }] });
      }
      let fromEmail: string | null = null;
      if (outbound && ticket.emailAccountId !== null) {
        fromEmail = (await tx.emailAccounts.get(ticket.emailAccountId))?.account.address ?? null;
      }
      // Outbound mail gets its Message-ID now, so retries resend the same message and customer
      // replies from any client thread back (In-Reply-To, References, and the keyed [#id-digest] token).
      const threading = outbound
        ? outboundThreadingHeaders({
          ticketId, domain: fromEmail ?? 'deskhook.invalid', previousMessageIds: parentReferences(await tx.conversations.threadParent(ticketId)),
          subject: input.subject ?? `Re: ${ticket.subject}`, nonce: deps.ids.token(''), tokenMac: subjectTokenMac(deps, ticketId),
        })
        : null;
      const subject = threading?.subject ?? input.subject ?? '';
      const conversation = await tx.conversations.insert({
        ticketId,
        direction: input.direction,
        private: !outbound,
        fromEmail,
        toEmail: to,
        ccEmails: outbound ? (input.cc ?? []) : [],
        subject,
        body: input.body,
        bodyPlain: input.bodyPlain ?? (looksLikeHtml(input.body) ? htmlToPlain(input.body) : input.body),
        attachments: [],
        messageId: threading?.messageId ?? null,
        inReplyTo: threading?.inReplyTo ?? null,
        references: threading?.references ?? [],
        agentId: actorUserId(actor),
        deliveryStatus: outbound ? 'queued' : null,
        deliveryError: null,
        flags: {},
        createdAt: now,
    });
    // Held: stored but not yet due for sending, until the newEmails webhook has answered.
    if (hold && outbound) await tx.conversations.recordDelivery(conversation.id, { status: 'queued', error: null, attempts: 0, nextAttemptAt: null });
    const saved = await tx.tickets.save({ ...ticket, lastMessageAt: now, messageCount: ticket.messageCount + 1, modifiedAt: now }, ticket.version);
    if (!saved) throw lostRace;
    await tx.activity.add([{ ticketId, field: 'conversation', from: null, to: conversation.id, actor, at: now, meta: { direction: input.direction } }]);
    await publish(tx, deps, [{
      type: 'ConversationCreated',
      ticketId,
      userId: actorUserId(actor),
      data: { ticketId, conversationId: conversation.id, direction: conversation.direction, private: conversation.private, conversation },
    }]);
    return conversation;
    });
  } catch (err) {
    if (err === lostRace) return null;
    throw err;
  }
}
