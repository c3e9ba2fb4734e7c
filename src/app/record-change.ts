import type { NewActivity } from '../domain/activity.ts';
import type { EventType } from '../domain/event.ts';
import type { Ticket, TicketDiff } from '../domain/ticket.ts';
import { actorUserId, triggerOf, type Actor } from '../domain/user.ts';
import type { AppDeps } from './deps.ts';
import type { Store } from './ports/store.ts';
import { storedTrace } from './trace-context.ts';

export interface EventDraft {
  type: EventType;
  ticketId: number | null;
  userId: number | null;
  data: Record<string, unknown>;
}

/** Appends events to the outbox inside the caller's transaction, with ids and one timestamp. */
export async function publish(tx: Store, deps: Pick<AppDeps, 'ids' | 'clock'>, events: EventDraft[]): Promise<void> {
  const createdAt = deps.clock.now().toISOString();
  // Deliveries continue the trace of the step that wrote the events (a request, a delivery).
  const trace = storedTrace();
  await tx.events.append(events.map((e) => ({ ...e, id: deps.ids.eventId(), createdAt, trace })));
}

/**
 * Records a ticket change: one activity line per changed field and one TicketUpdated event
 * carrying `changes` (new values), `previous` and `userId`, as Enneo's TicketUpdated does.
 */
export async function recordTicketChange(
  tx: Store,
  deps: Pick<AppDeps, 'ids' | 'clock'>,
  ticket: Ticket,
  diff: TicketDiff,
  actor: Actor,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const at = deps.clock.now().toISOString();
  const entries: NewActivity[] = Object.keys(diff.changes).map((field) => ({
    ticketId: ticket.id,
    field,
    from: (diff.previous as Record<string, unknown>)[field] ?? null,
    to: (diff.changes as Record<string, unknown>)[field] ?? null,
    actor,
    at,
    meta: Object.keys(extra).length ? extra : null,
  }));
  await tx.activity.add(entries);
  const events: EventDraft[] = [{
    type: 'TicketUpdated',
    ticketId: ticket.id,
    userId: actorUserId(actor),
    data: { ticketId: ticket.id, userId: actorUserId(actor), trigger: triggerOf(actor), changes: diff.changes, previous: diff.previous, ...extra },
  }];
  // Whoever links a contract (recognition, an agent, a hook's answer), it is the same event.
  const changes = diff.changes as Partial<Ticket>;
  if (changes.contractId) {
    events.push({
      type: 'ContractLinked',
      ticketId: ticket.id,
      userId: actorUserId(actor),
      data: {
        ticketId: ticket.id, contractId: ticket.contractId, customerId: ticket.customerId, legitimationLevel: ticket.legitimationLevel,
        previousContractId: (diff.previous as Partial<Ticket>).contractId ?? null, userId: actorUserId(actor), actor: actor.type,
        // `recognition` when recognition found it, `user` when a person linked it, `webhook` for a hook's answer.
        trigger: triggerOf(actor),
      },
    });
  }
  await publish(tx, deps, events);
}
