import type { Executor } from '../../domain/executor.ts';
import type { Hook } from '../../domain/webhook.ts';
import type { AppDeps } from '../deps.ts';
import { notFound } from '../errors.ts';
import { runWebhook } from './run-webhook.ts';

const SAMPLE_TICKET = {
  id: 1, externalTicketId: null, channel: 'email', subject: 'Zählerstand März', from: 'erika.mustermann@example.com',
  fromName: 'Erika Mustermann', to: [], body: 'Guten Tag, mein Zählerstand ist 12345 kWh.', bodyPlain: 'Guten Tag, mein Zählerstand ist 12345 kWh.',
  status: 'open', priority: 'medium', dueBy: null, firstResponseDueBy: null, agentId: null, tags: [], contractId: null, customerId: null,
  legitimationLevel: 0, createdAt: '2026-11-28T10:00:00.000Z', modifiedAt: '2026-11-28T10:00:00.000Z', closedAt: null,
  lastMessageAt: '2026-11-28T10:00:00.000Z', lastCustomerMessageAt: '2026-11-28T10:00:00.000Z', messageCount: 1,
};

/**
 * Sends the account's hook a realistic sample (signed and logged like a real invocation, trigger
 * `test`) and reports the answer; the switch need not be on. Nothing is changed. `executor`: test
 * this one (what a settings form shows, saved or not; null: the form has none) instead of the
 * saved one; the answer's `tested` says which ran. The ERP's Test works the same way.
 */
export async function testWebhook(deps: AppDeps, accountId: number, hook: Hook, userId: number, executor?: Executor | null) {
  const found = await deps.store.emailAccounts.get(accountId);
  if (!found) throw notFound('email account', accountId);
  const tested = executor === undefined ? 'saved' as const : 'given' as const;
  const saved = found.account.webhooks;
  // A given executor is no saved version of the hook: its invocation names none.
  const webhooks = executor === undefined
    ? { ...saved, enabled: true }
    : { ...saved, enabled: true, [hook]: executor, versions: { ...saved.versions, [hook]: undefined } };
  const account = { ...found.account, webhooks };
  if (!account.webhooks[hook]) return { tested, invocationId: null, outcome: 'not_configured', answer: null, error: { code: 'not_configured', message: `no executor is set for ${hook}` } };
  const ticket = { ...SAMPLE_TICKET, to: [account.address], emailAccountId: account.id };
  const payload = hook === 'ticketUpdates'
    ? { trigger: 'user', changes: { status: 'closed' }, previous: { status: 'open' }, ticket: { ...ticket, status: 'closed' } }
    : {
      direction: 'in', ticket,
      email: {
        messageId: 'sample-1@example.com', inReplyTo: null, references: [], from: { address: ticket.from, name: ticket.fromName },
        to: [{ address: account.address, name: account.name }], cc: [], subject: ticket.subject, bodyPlain: ticket.bodyPlain, bodyHtml: null, private: false, attachments: [],
      },
      recognition: null,
    };
  const outcome = await runWebhook(deps, { account, sealed: found.sealed, hook, trigger: 'test', ticketId: null, conversationId: null, userId, payload });
  if (outcome.kind === 'skipped') return { tested, invocationId: null, outcome: 'skipped', answer: null, error: null };
  if (outcome.kind === 'failed') return { tested, invocationId: outcome.invocationId, outcome: 'failed', answer: null, error: { code: outcome.code, message: outcome.message } };
  return { tested, invocationId: outcome.invocationId, outcome: outcome.answer.abort ? 'aborted' : 'ok', answer: outcome.answer, error: null };
}
