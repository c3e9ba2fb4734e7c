import { applyTicketPatch } from '../../domain/ticket.ts';
import type { AppDeps } from '../deps.ts';
import { recordTicketChange } from '../record-change.ts';
import { fireSystemTicketUpdate } from '../webhooks/notify-only-hooks.ts';

const SYSTEM = { type: 'system', reason: 'dueBy reached', trigger: 'dueBy' } as const;

/**
 * Reopens pending tickets whose `dueBy` has passed. Every process with a worker may run it at
 * the same time: the versioned save lets exactly one of them change (and record) each ticket.
 * Returns the ids this call reopened.
 */
export async function reopenDueTickets(deps: AppDeps, batch = 100): Promise<number[]> {
  const now = deps.clock.now();
  const due = await deps.store.tickets.listDuePending(now.toISOString(), batch);
  const reopened: number[] = [];
  for (const id of due) {
    const done = await deps.store.transaction(async (tx) => {
      const ticket = await tx.tickets.get(id);
      if (!ticket || ticket.status !== 'pending' || !ticket.dueBy || Date.parse(ticket.dueBy) > now.getTime()) return null;
      const { ticket: next, diff } = applyTicketPatch(ticket, { status: 'open' }, now);
      const saved = { ...next, modifiedAt: now.toISOString() };
      if (!(await tx.tickets.save(saved, ticket.version))) return null;
      await recordTicketChange(tx, deps, saved, diff, SYSTEM, { autoOpenedDueToDueDate: true });
      return { ticket: saved, diff };
    });
    if (done) {
      reopened.push(id);
      // Only the process that reopened it tells the hook, so it hears of it exactly once.
      await fireSystemTicketUpdate(deps, done.ticket, done.diff, 'dueBy').catch((err: unknown) => deps.logger.error({ err, ticketId: id }, 'ticketUpdates webhook failed to run'));
    }
  }
  return reopened;
}
