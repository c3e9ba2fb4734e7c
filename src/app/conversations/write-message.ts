import type { Conversation } from '../../domain/conversation.ts';
import { actorUserId, type Actor } from '../../domain/user.ts';
import type { AppDeps } from '../deps.ts';
import { notFound } from '../errors.ts';
import { applyWebhookAnswer, publicTicket } from '../tickets/update-ticket.ts';
import { hookedAccount, runWebhook, stopOrWarn, type HookedAccount, type WebhookWarning } from '../webhooks/run-webhook.ts';
import { withTicketLock } from '../webhooks/ticket-lock.ts';
import { addAgentMessage, type AgentMessageInput } from './add-conversation.ts';

function emailInput(c: Pick<Conversation, 'messageId' | 'inReplyTo' | 'references' | 'fromEmail' | 'toEmail' | 'ccEmails' | 'subject' | 'bodyPlain' | 'body' | 'private'>, fromName: string | null) {
  return {
    messageId: c.messageId, inReplyTo: c.inReplyTo, references: c.references,
    from: { address: c.fromEmail, name: fromName }, to: c.toEmail.map((address) => ({ address, name: '' })),
    cc: c.ccEmails.map((address) => ({ address, name: '' })), subject: c.subject, bodyPlain: c.bodyPlain,
    bodyHtml: c.body !== c.bodyPlain ? c.body : null, private: c.private, attachments: [],
  };
}

/**
 * An agent's reply or note, interrupted by the account's newEmails webhook: an outbound email
 * waits (held in the outbox) until the hook answers and is `blocked` if it aborts or fails with
 * policy `block`; a note is saved only if the hook lets it. Answers (ticket patch, note, spam)
 * are applied with the hook as actor.
 */
export async function writeAgentMessage(deps: AppDeps, ticketId: number, input: AgentMessageInput, actor: Actor): Promise<{ conversation: Conversation; warnings: WebhookWarning[] }> {
  const ticket = await deps.store.tickets.get(ticketId);
  if (!ticket) throw notFound('ticket', ticketId);
  const hooked = actor.type === 'user' ? await hookedAccount(deps, ticket.emailAccountId, 'newEmails') : null;
  if (!hooked) return { conversation: await addAgentMessage(deps, ticketId, input, actor), warnings: [] };
  return withTicketLock(deps, ticketId, hooked.account.webhooks.timeoutMs, () => (input.direction === 'out' ? outbound(deps, hooked, ticketId, input, actor) : note(deps, hooked, ticketId, input, actor)));
}

async function outbound(deps: AppDeps, hooked: HookedAccount, ticketId: number, input: AgentMessageInput, actor: Actor) {
  const held = await addAgentMessage(deps, ticketId, input, actor, { hold: true });
  const ticket = (await deps.store.tickets.get(ticketId))!;
  let outcome;
  try {
    outcome = await runWebhook(deps, {
      ...hooked, hook: 'newEmails', trigger: 'outboundEmail', ticketId, conversationId: held.id, userId: actorUserId(actor),
      payload: { direction: 'out', ticket: publicTicket(ticket), email: emailInput(held, hooked.account.outbound?.senderName ?? null) },
    });
  } catch (err) {
    // A held email must end blocked or released, never stay held: here the hook could not even run.
    await deps.store.conversations.setDelivery(held.id, 'blocked', 'the webhook for new emails could not be run');
    throw err;
  }
  const warnings = await stopOrWarn(outcome, 'newEmails', 'the webhook for new emails stopped this email', {
    extras: { conversationId: held.id },
    onStop: (message) => deps.store.conversations.setDelivery(held.id, 'blocked', message),
  });
  await deps.store.conversations.recordDelivery(held.id, { status: 'queued', error: null, attempts: 0, nextAttemptAt: deps.clock.now().toISOString() });
  if (outcome.kind === 'answered') await applyWebhookAnswer(deps, ticketId, outcome.answer, { type: 'webhook', hook: 'newEmails', invocationId: outcome.invocationId });
  return { conversation: (await deps.store.conversations.get(held.id))!, warnings };
}

async function note(deps: AppDeps, hooked: HookedAccount, ticketId: number, input: AgentMessageInput, actor: Actor) {
  const ticket = (await deps.store.tickets.get(ticketId))!;
  const body = input.body;
  // The note does not exist before the hook allows it, so it has no id yet: conversationId is null.
  const outcome = await runWebhook(deps, {
    ...hooked, hook: 'newEmails', trigger: 'internalNote', ticketId, conversationId: null, userId: actorUserId(actor),
    payload: {
      direction: 'internal', ticket: publicTicket(ticket),
      email: { messageId: null, inReplyTo: null, references: [], from: null, to: [], cc: [], subject: '', bodyPlain: input.bodyPlain ?? body, bodyHtml: null, private: true, attachments: [] },
    },
  });
  const warnings = await stopOrWarn(outcome, 'newEmails', 'the webhook for new emails refused this note');
  const conversation = await addAgentMessage(deps, ticketId, input, actor);
  if (outcome.kind === 'answered') await applyWebhookAnswer(deps, ticketId, outcome.answer, { type: 'webhook', hook: 'newEmails', invocationId: outcome.invocationId });
  return { conversation, warnings };
}
