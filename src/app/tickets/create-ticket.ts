import { applyTicketPatch, normaliseTags, type Channel, type Ticket, type TicketPatch } from '../../domain/ticket.ts';
import { htmlToPlain } from '../../domain/conversation.ts';
import { actorUserId, type Actor } from '../../domain/user.ts';
import type { AppDeps } from '../deps.ts';
import { publish } from '../record-change.ts';
import { DuplicateKeyError, type Store } from '../ports/store.ts';
import { asAppError, checkReferences } from './ticket-input.ts';
import { updateTicket } from './update-ticket.ts';

export interface CreateTicketInput extends TicketPatch {
  emailAccountId?: number | null;
  channel?: Channel;
  subject: string;
  from?: string | null;
  fromName?: string | null;
  to?: string[];
  body?: string;
  bodyPlain?: string;
}

/**
 * Creates a ticket. A ticket with an `externalTicketId` that already exists is updated instead
 * (`created: false`), also when two creates race: the loser of the unique index becomes an update.
 */
export async function createTicket(deps: AppDeps, input: CreateTicketInput, actor: Actor): Promise<{ ticket: Ticket; created: boolean }> {
  await checkReferences(deps.store, input);
  const external = input.externalTicketId ?? null;
  if (external !== null) {
    const existing = await deps.store.tickets.getByExternalId(external);
    if (existing) return { ticket: await updateExisting(deps, existing.id, input, actor), created: false };
  }
  try {
    return { ticket: await insert(deps, input, actor), created: true };
  } catch (err) {
    if (!(err instanceof DuplicateKeyError) || external === null) throw err;
    const existing = await deps.store.tickets.getByExternalId(external);
    if (!existing) throw err;
    return { ticket: await updateExisting(deps, existing.id, input, actor), created: false };
  }
}

async function updateExisting(deps: AppDeps, id: number, input: CreateTicketInput, actor: Actor): Promise<Ticket> {
  const { emailAccountId: _a, channel: _c, from: _f, fromName: _n, to: _t, body: _b, bodyPlain: _p, ...patch } = input;
  return (await updateTicket(deps, id, patch, actor)).ticket;
}

/** The ticket a create would write, with the domain rules applied; nothing stored yet. */
export function draftTicket(input: CreateTicketInput, now: Date, extra: Pick<Ticket, 'messageId' | 'attachments' | 'flags'> = { messageId: null, attachments: [], flags: {} }): Ticket {
  const at = now.toISOString();
  const body = input.body ?? input.bodyPlain ?? '';
  const blank: Ticket = {
    id: 0, externalTicketId: null, emailAccountId: input.emailAccountId ?? null, channel: input.channel ?? 'email',
    subject: input.subject, from: input.from ?? null, fromName: input.fromName ?? null, to: input.to ?? [],
    body, bodyPlain: input.bodyPlain ?? (/<[a-z][\s\S]*>/i.test(body) ? htmlToPlain(body) : body),
    status: 'open', priority: 'medium', dueBy: null, firstResponseDueBy: null, agentId: null, tags: [],
    contractId: null, customerId: null, legitimationLevel: 0, createdAt: at, modifiedAt: at, closedAt: null,
    lastMessageAt: at, lastCustomerMessageAt: null, messageCount: 1, ...extra, version: 0,
  };
  try {
    return applyTicketPatch(blank, { ...input, tags: normaliseTags(input.tags ?? []) }, now).ticket;
  } catch (err) {
    throw asAppError(err);
  }
}

/** Writes a drafted ticket with its activity line and TicketCreated event, in the caller's transaction. */
export async function insertTicket(tx: Store, deps: Pick<AppDeps, 'ids' | 'clock'>, draft: Ticket, actor: Actor): Promise<Ticket> {
  const { id: _id, version: _v, ...row } = draft;
  const ticket = await tx.tickets.insert(row);
  await tx.activity.add([{ ticketId: ticket.id, field: 'ticket', from: null, to: 'created', actor, at: ticket.createdAt, meta: { channel: ticket.channel } }]);
  await publish(tx, deps, [{ type: 'TicketCreated', ticketId: ticket.id, userId: actorUserId(actor), data: { ticketId: ticket.id, ticket } }]);
  return ticket;
}

async function insert(deps: AppDeps, input: CreateTicketInput, actor: Actor): Promise<Ticket> {
  const draft = draftTicket(input, deps.clock.now());
  return deps.store.transaction((tx) => insertTicket(tx, deps, draft, actor));
}
