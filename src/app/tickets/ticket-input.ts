import { TicketRuleError, type TicketPatch } from '../../domain/ticket.ts';
import { AppError } from '../errors.ts';
import type { Store } from '../ports/store.ts';

/** Checks the references a patch makes (assignee, email account) and turns rule errors into API errors. */
export async function checkReferences(store: Store, patch: TicketPatch & { emailAccountId?: number | null }): Promise<void> {
  if (patch.agentId !== undefined && patch.agentId !== null) {
    const user = await store.users.get(patch.agentId);
    if (!user || user.disabled) {
      throw new AppError('validation_failed', `agentId ${patch.agentId} is not an active user`, { errors: [{ field: 'agentId', message: 'no such active user' }] });
    }
  }
  if (patch.emailAccountId !== undefined && patch.emailAccountId !== null) {
    const account = await store.emailAccounts.get(patch.emailAccountId);
    if (!account) {
      throw new AppError('validation_failed', `emailAccountId ${patch.emailAccountId} does not exist`, { errors: [{ field: 'emailAccountId', message: 'no such email account' }] });
    }
  }
}

export function asAppError(err: unknown): unknown {
  if (err instanceof TicketRuleError) {
    return new AppError('rule_violation', err.message, { errors: [{ field: err.field, message: err.message }] });
  }
  return err;
}
