import type { TestApp } from './test-app.ts';

/**
 * An email account whose webhooks are `webhooks` (switched on), and a ticket of it: where a hook
 * test starts. Receivers count only the calls after this (creating the ticket calls no hook).
 */
export async function hookedTicket(t: TestApp, webhooks: Record<string, unknown>): Promise<{ accountId: number; ticketId: number }> {
  const account = await t.api('POST', '/api/v1/email-accounts', {
    name: 'Service', address: 'support@example.com', inbound: { type: 'smtp' }, webhooks: { enabled: true, ...webhooks },
  });
  if (account.statusCode !== 201) throw new Error(`account not created: ${account.body}`);
  const accountId = account.json().id as number;
  const ticketId = (await t.api('POST', '/api/v1/tickets', { subject: 'Abschlag', from: 'erika@example.com', emailAccountId: accountId })).json().id as number;
  return { accountId, ticketId };
}
