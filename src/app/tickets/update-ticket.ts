import { applyTicketPatch, isEmptyDiff, type Ticket, type TicketDiff, type TicketPatch } from '../../domain/ticket.ts';
import type { Actor } from '../../domain/user.ts';
import type { AppDeps } from '../deps.ts';
import { AppError, notFound } from '../errors.ts';
import { recordTicketChange } from '../record-change.ts';
import type { Store } from '../ports/store.ts';
import { asAppError, checkReferences } from './ticket-input.ts';

export interface TicketUpdateResult {
  ticket: Ticket;
  diff: TicketDiff;
}

const MAX_ATTEMPTS = 5;

/**
 * Changes a ticket's properties. Reads, applies the domain rules, and writes with an
 * optimistic version check; a concurrent change makes it re-read and re-apply, so two agents
 * changing different fields never overwrite each other.
 */
export async function updateTicket(deps: AppDeps, ticketId: number, patch: TicketPatch, actor: Actor, extra: Record<string, unknown> = {}): Promise<TicketUpdateResult> {
  await checkReferences(deps.store, patch);
  for (let attempt = 1; ; attempt++) {
    const result = await deps.store.transaction((tx) => applyOnce(tx, deps, ticketId, patch, actor, extra));
    if (result) return result;
    if (attempt >= MAX_ATTEMPTS) throw new AppError('conflict', `ticket ${ticketId} is changing too often; try again`);
  }
}

async function applyOnce(tx: Store, deps: AppDeps, ticketId: number, patch: TicketPatch, actor: Actor, extra: Record<string, unknown>): Promise<TicketUpdateResult | null> {
  const current = await tx.tickets.get(ticketId);
  if (!current) throw notFound('ticket', ticketId);
  const now = deps.clock.now();
  let applied;
  try {
    applied = applyTicketPatch(current, patch, now);
  } catch (err) {
    throw asAppError(err);
  }
  if (isEmptyDiff(applied.diff)) return { ticket: current, diff: applied.diff };
  const next = { ...applied.ticket, modifiedAt: now.toISOString() };
  if (!(await tx.tickets.save(next, current.version))) return null;
  await recordTicketChange(tx, deps, next, applied.diff, actor, extra);
  return { ticket: { ...next, version: current.version + 1 }, diff: applied.diff };
}

export interface BulkItemResult {
  id: number;
  ok: boolean;
  ticket?: Ticket;
  error?: { code: string; detail: string };
}

/** The same patch on many tickets; each ticket succeeds or fails on its own. */
export async function updateTickets(deps: AppDeps, ids: number[], patch: TicketPatch, actor: Actor): Promise<BulkItemResult[]> {
  const results: BulkItemResult[] = [];
  for (const id of [...new Set(ids)]) {
    try {
      const { ticket } = await updateTicket(deps, id, patch, actor);
      results.push({ id, ok: true, ticket });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      results.push({ id, ok: false, error: { code: err.code, detail: err.detail } });
    }
  }
  return results;
}
