import type { MailAuthentication } from '../../domain/mail/authentication.ts';
import type { InboundEmail } from '../../domain/mail/inbound-email.ts';
import type { Ticket, TicketDiff } from '../../domain/ticket.ts';
import type { SystemTrigger } from '../../domain/user.ts';
import type { Hook } from '../../domain/webhook.ts';
import type { RecognitionResult } from '../recognition/recognize.ts';
import type { AppDeps } from '../deps.ts';
import { AppError, notFound } from '../errors.ts';
import { adminIds, notify } from '../notifications.ts';
import { applyWebhookAnswer, publicTicket } from '../tickets/update-ticket.ts';
import { describeFailure, hookedAccount, runWebhook, type WebhookOutcome } from './run-webhook.ts';
import { withTicketLock } from './ticket-lock.ts';

/**
 * Hooks on steps nobody can take back: inbound mail (the email is already stored and is never
 * dropped) and system changes of a ticket (auto-reopen at dueBy, reopen by a customer reply).
 * They run right after the step commits; an answer is applied (ticket patch, note, spam), an
 * abort is recorded, and a failure is shown on the ticket and sent to the account's admins.
 */
async function settle(deps: AppDeps, hook: Hook, ticketId: number, outcome: WebhookOutcome): Promise<void> {
  if (outcome.kind === 'skipped') return;
  // runWebhook has put the invocation (and a failure's reason) on the ticket's activity.
  if (outcome.kind === 'failed') {
    const message = `${describeFailure(hook, outcome)} (ticket ${ticketId})`;
    const admins = await adminIds(deps.store);
    await notify(deps, admins, { kind: 'webhook_failed', ticketId, link: `/tickets/${ticketId}?invocation=${outcome.invocationId}`, message });
    return;
  }
  const { answer, invocationId } = outcome;
  await applyWebhookAnswer(deps, ticketId, answer, { type: 'webhook', hook, invocationId });
  if (answer.spam) {
    const ticket = await deps.store.tickets.get(ticketId);
    if (ticket) await deps.store.tickets.save({ ...ticket, flags: { ...ticket.flags, spam: true } }, ticket.version);
  }
}

export async function fireInboundHook(
  deps: AppDeps, ticketId: number, conversationId: number | null, email: InboundEmail, authentication: MailAuthentication | null = null,
  recognized: Pick<RecognitionResult, 'contract' | 'customer' | 'legitimationLevel'> | null = null,
): Promise<void> {
  const ticket = await deps.store.tickets.get(ticketId);
  const hooked = ticket ? await hookedAccount(deps, ticket.emailAccountId, 'newEmails') : null;
  if (!ticket || !hooked) return;
  // The stored parts: what the ticket (first email) or the reply keeps, with the ids the API serves them by.
  const stored = conversationId === null ? ticket.attachments : (await deps.store.conversations.get(conversationId))?.attachments ?? [];
  await withTicketLock(deps, ticketId, hooked.account.webhooks.timeoutMs, async () => {
    const outcome = await runWebhook(deps, {
      ...hooked, hook: 'newEmails', trigger: 'inboundEmail', ticketId, conversationId, userId: null, policyOverride: 'notify',
      payload: {
        direction: 'in', ticket: publicTicket(ticket),
        email: {
          messageId: email.messageId, inReplyTo: email.inReplyTo, references: email.references, from: email.from,
          // Where the customer wants answers (RFC 5322 §3.6.2); empty when the email has no Reply-To.
          replyTo: email.replyTo, to: email.to, cc: email.cc,
          subject: email.subject, bodyPlain: email.bodyPlain, bodyHtml: email.bodyHtml, private: false,
          automatic: email.autoReply.auto, autoReplyReason: email.autoReply.reason, bounce: email.bounce,
          // SPF/DKIM/DMARC as checked at intake: a hook should not trust `from` when `authenticated` is false.
          authentication,
          attachments: stored.map((a) => ({ id: a.id, name: a.name, contentType: a.contentType, size: a.size, inline: a.inline ?? false, contentId: a.contentId ?? null })),
        },
        // Set when recognition linked this new ticket to a contract just now (the ticket shows the link too).
        recognition: recognized?.contract
          ? { linkedBy: 'recognition', contractId: recognized.contract.id, customerId: recognized.contract.customerId, legitimationLevel: recognized.legitimationLevel }
          : null,
      },
    });
    await settle(deps, 'newEmails', ticketId, outcome);
  });
}

export async function fireSystemTicketUpdate(deps: AppDeps, ticket: Ticket, diff: TicketDiff, trigger: SystemTrigger): Promise<void> {
  const hooked = await hookedAccount(deps, ticket.emailAccountId, 'ticketUpdates');
  if (!hooked) return;
  await withTicketLock(deps, ticket.id, hooked.account.webhooks.timeoutMs, async () => {
    const outcome = await runWebhook(deps, {
      ...hooked, hook: 'ticketUpdates', trigger: 'systemUpdate', ticketId: ticket.id, conversationId: null, userId: null, policyOverride: 'notify',
      // `trigger` says what made deskhook change the ticket: `dueBy`, `reopenedByCustomerReply`.
      payload: { trigger, changes: diff.changes, previous: diff.previous, ticket: publicTicket(ticket) },
    });
    await settle(deps, 'ticketUpdates', ticket.id, outcome);
  });
}

/**
 * Sends a recorded invocation's message again: the same input and `webhook-id`, so a receiver
 * that already acted on it can tell; a new invocation (trigger `retry`, `retryOf` the one resent).
 */
export async function retryInvocation(deps: AppDeps, accountId: number, invocationId: string, userId: number) {
  const previous = await deps.store.webhookInvocations.get(invocationId);
  if (!previous || previous.emailAccountId !== accountId) throw notFound('invocation', invocationId);
  const found = await deps.store.emailAccounts.get(accountId);
  const account = found?.account;
  if (!found || !account?.webhooks[previous.hook]) throw new AppError('conflict', `the account has no ${previous.hook} hook any more`);
  const outcome = await runWebhook(deps, {
    account: { ...account, webhooks: { ...account.webhooks, enabled: true } }, sealed: found.sealed, hook: previous.hook, trigger: 'retry',
    ticketId: previous.ticketId, conversationId: previous.conversationId, userId, policyOverride: 'notify', payload: {}, resend: previous,
  });
  // A retried inbound hook finishes what the first try could not: its answer is applied now.
  if (previous.trigger === 'inboundEmail' && previous.ticketId !== null && outcome.kind === 'answered') {
    await settle(deps, previous.hook, previous.ticketId, outcome);
  }
  return outcome.kind === 'skipped'
    ? { invocationId: null, outcome: 'skipped', error: null }
    : outcome.kind === 'failed'
      ? { invocationId: outcome.invocationId, outcome: 'failed', error: { code: outcome.code, message: outcome.message } }
      : { invocationId: outcome.invocationId, outcome: outcome.answer.abort ? 'aborted' : 'ok', error: null };
}
