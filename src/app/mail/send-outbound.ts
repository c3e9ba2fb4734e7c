import { replyAddresses, type Conversation } from '../../domain/conversation.ts';
import { addressKey } from '../../domain/mail/inbound-email.ts';
import type { Ticket } from '../../domain/ticket.ts';
import { LOOP_HEADER } from '../../domain/mail/auto-reply.ts';
import type { AppDeps } from '../deps.ts';
import { accountCredentials } from '../email-accounts.ts';
import { notify } from '../notifications.ts';
import { publish } from '../record-change.ts';

const LEASE_MS = 120_000;
const HELD_TOO_LONG_MS = 5 * 60_000;

export interface SendOutcome {
  conversationId: number;
  status: 'sent' | 'failed' | 'retry';
  error: string | null;
}

/**
 * Sends queued outbound emails (the mail outbox). Each message is leased to one sender; a
 * temporary failure (connection, 4xx) is retried after the configured delays, a permanent one
 * (5xx, no outbound server) fails at once. `EmailSent`/`EmailFailed` are published and the agent
 * who wrote a failed email is notified.
 */
export async function sendQueuedMail(deps: AppDeps, limit = 10): Promise<SendOutcome[]> {
  const now = deps.clock.now();
  // A hook runs at most 30 s; an email still held long after that lost its process mid-hook.
  const stale = await deps.store.conversations.blockStaleHeld(new Date(now.getTime() - HELD_TOO_LONG_MS).toISOString(), 'the webhook for new emails never answered (the server stopped while it ran); write the email again');
  for (const c of stale) {
    if (c.agentId !== null) await notify(deps, [c.agentId], { kind: 'email_failed', ticketId: c.ticketId, link: `/tickets/${c.ticketId}`, message: `your email on ticket ${c.ticketId} was not sent: its webhook never answered` });
  }
  const claimed = await deps.store.conversations.claimOutbound(now.toISOString(), new Date(now.getTime() + LEASE_MS).toISOString(), limit);
  const outcomes: SendOutcome[] = [];
  for (const conversation of claimed) outcomes.push(await sendOne(deps, conversation));
  return outcomes;
}

async function sendOne(deps: AppDeps, c: Conversation): Promise<SendOutcome> {
  const ticket = await deps.store.tickets.get(c.ticketId);
  const creds = ticket?.emailAccountId != null ? await accountCredentials(deps, ticket.emailAccountId) : null;
  const attempts = (await attemptsOf(deps, c)) + 1;
  if (!ticket || !creds || !creds.account.outbound) {
    return fail(deps, c, attempts, 'the ticket has no email account with an outbound SMTP server');
  }
  const { account } = creds;
  const outbound = account.outbound!;
  const result = await deps.mail.mailer.send(
    { host: outbound.host, port: outbound.port, secure: outbound.secure, user: outbound.user, password: creds.smtpPassword },
    {
      from: { name: outbound.senderName, address: account.address },
      to: withNames(c.toEmail, ticket), cc: c.ccEmails, subject: c.subject, text: c.bodyPlain,
      html: c.body !== c.bodyPlain ? c.body : null,
      messageId: c.messageId ?? `dh.${c.ticketId}.${c.id}@${account.address.split('@')[1] ?? 'deskhook.invalid'}`,
      inReplyTo: c.inReplyTo, references: c.references,
      // Marks our own mail so that it never opens a ticket if it loops back.
      headers: { [LOOP_HEADER]: account.address, 'Auto-Submitted': 'no' },
    },
  );
  if (result.ok) {
    await deps.store.transaction(async (tx) => {
      await tx.conversations.recordDelivery(c.id, { status: 'sent', error: null, attempts, nextAttemptAt: null });
      await publish(tx, deps, [{ type: 'EmailSent', ticketId: c.ticketId, userId: c.agentId, data: { ticketId: c.ticketId, conversationId: c.id, messageId: c.messageId, to: c.toEmail } }]);
    });
    deps.telemetry?.mailSent(account.id);
    return { conversationId: c.id, status: 'sent', error: null };
  }
  const delays = deps.mail.settings.retryDelaysSeconds;
  if (result.permanent || attempts > delays.length) return fail(deps, c, attempts, result.message, account.id);
  const next = new Date(deps.clock.now().getTime() + delays[attempts - 1]! * 1000).toISOString();
  await deps.store.conversations.recordDelivery(c.id, { status: 'queued', error: result.message, attempts, nextAttemptAt: next });
  deps.logger.warn({ conversationId: c.id, attempts, next, error: result.message }, 'outbound email failed; will retry');
  return { conversationId: c.id, status: 'retry', error: result.message };
}

/** The recipients with the display names the ticket knows for them (its From and Reply-To). */
function withNames(addresses: readonly string[], ticket: Ticket): Array<{ name: string | null; address: string }> {
  const names = new Map<string, string>();
  for (const a of [...replyAddresses(ticket.from, ticket.fromName, {}), ...(ticket.flags.replyTo ?? [])]) {
    if (a.name.trim() !== '') names.set(addressKey(a.address), a.name.trim());
  }
  return addresses.map((address) => ({ name: names.get(addressKey(address)) ?? null, address }));
}

async function attemptsOf(deps: AppDeps, c: Conversation): Promise<number> {
  return (await deps.store.conversations.deliveryAttempts(c.id)) ?? 0;
}

async function fail(deps: AppDeps, c: Conversation, attempts: number, error: string, accountId: number | null = null): Promise<SendOutcome> {
  deps.telemetry?.mailFailed(accountId);
  await deps.store.transaction(async (tx) => {
    await tx.conversations.recordDelivery(c.id, { status: 'failed', error, attempts, nextAttemptAt: null });
    await publish(tx, deps, [{ type: 'EmailFailed', ticketId: c.ticketId, userId: c.agentId, data: { ticketId: c.ticketId, conversationId: c.id, error } }]);
  });
  if (c.agentId !== null) {
    await notify(deps, [c.agentId], { kind: 'email_failed', ticketId: c.ticketId, link: `/tickets/${c.ticketId}`, message: `your email on ticket ${c.ticketId} could not be sent: ${error}` });
  }
  return { conversationId: c.id, status: 'failed', error };
}
