import { applyTicketPatch, isEmptyDiff, type Ticket, type TicketDiff, type TicketPatch } from '../../domain/ticket.ts';
import { actorUserId, type Actor } from '../../domain/user.ts';
import type { WebhookAnswer } from '../../domain/webhook.ts';
import { addAgentMessage } from '../conversations/add-conversation.ts';
import { hookedAccount, runWebhook, stopOrWarn, type WebhookWarning } from '../webhooks/run-webhook.ts';
import { withTicketLock } from '../webhooks/ticket-lock.ts';
import type { AppDeps } from '../deps.ts';
import { AppError, notFound } from '../errors.ts';
import { recordTicketChange } from '../record-change.ts';
import type { Store } from '../ports/store.ts';
import { asAppError, checkReferences } from './ticket-input.ts';

export interface TicketUpdateResult {
  ticket: Ticket;
  diff: TicketDiff;
  /** Webhook failures the step went on despite (policy `notify`). */
  warnings: WebhookWarning[];
}

const MAX_ATTEMPTS = 5;

/**
 * Changes a ticket's properties. Reads, applies the domain rules, and writes with an
 * optimistic version check; a concurrent change makes it re-read and re-apply, so two agents
 * changing different fields never overwrite each other.
 */
export async function updateTicket(deps: AppDeps, ticketId: number, patch: TicketPatch, actor: Actor, extra: Record<string, unknown> = {}): Promise<TicketUpdateResult> {
  await checkReferences(deps.store, patch);
  // Changes by people and API clients interrupt at the ticketUpdates hook; changes that come
  // from a hook's own answer or from the system never call a synchronous hook again (no loops).
  const hooked = actor.type === 'user' ? await hookedAccount(deps, (await deps.store.tickets.get(ticketId))?.emailAccountId ?? null, 'ticketUpdates') : null;
  if (!hooked) return { ...(await commit(deps, ticketId, patch, actor, extra)), warnings: [] };
  return withTicketLock(deps, ticketId, hooked.account.webhooks.timeoutMs, async () => {
    const current = await deps.store.tickets.get(ticketId);
    if (!current) throw notFound('ticket', ticketId);
    let staged;
    try {
      staged = applyTicketPatch(current, patch, deps.clock.now());
    } catch (err) {
      throw asAppError(err);
    }
    if (isEmptyDiff(staged.diff)) return { ticket: current, diff: staged.diff, warnings: [] };
    const outcome = await runWebhook(deps, {
      ...hooked, hook: 'ticketUpdates', trigger: 'ticketUpdate', ticketId, conversationId: null, userId: actorUserId(actor),
      payload: { changes: staged.diff.changes, previous: staged.diff.previous, ticket: publicTicket(staged.ticket) },
    });
    const warnings = await stopOrWarn(outcome, 'ticketUpdates', 'the webhook for ticket updates refused the change');
    const result = await commit(deps, ticketId, patch, actor, extra);
    if (outcome.kind === 'answered') {
      const ticket = await applyWebhookAnswer(deps, ticketId, outcome.answer, { type: 'webhook', hook: 'ticketUpdates', invocationId: outcome.invocationId });
      return { ticket: ticket ?? result.ticket, diff: result.diff, warnings };
    }
    return { ...result, warnings };
  });
}

/** The ticket as hooks and API clients see it (without the internal version counter). */
export function publicTicket(ticket: Ticket): Omit<Ticket, 'version'> {
  const { version: _v, ...rest } = ticket;
  return rest;
}

async function commit(deps: AppDeps, ticketId: number, patch: TicketPatch, actor: Actor, extra: Record<string, unknown>): Promise<Omit<TicketUpdateResult, 'warnings'>> {
  for (let attempt = 1; ; attempt++) {
    const result = await deps.store.transaction((tx) => applyOnce(tx, deps, ticketId, patch, actor, extra));
    if (result) return result;
    if (attempt >= MAX_ATTEMPTS) throw new AppError('conflict', `ticket ${ticketId} is changing too often; try again`);
  }
}

/**
 * Applies what a hook answered: its ticket patch (recorded with the hook as actor), its note as
 * an internal note, and a spam verdict as the `spam` tag and flag. Returns the ticket afterwards.
 */
export async function applyWebhookAnswer(deps: AppDeps, ticketId: number, answer: WebhookAnswer, actor: Extract<Actor, { type: 'webhook' }>): Promise<Ticket | null> {
  let ticket: Ticket | null = null;
  const patch: TicketPatch = { ...(answer.ticket ?? {}) };
  if (answer.spam) patch.addTags = [...(patch.addTags ?? []), 'spam'];
  if (Object.keys(patch).length) {
    try {
      await checkReferences(deps.store, patch);
      ticket = (await commit(deps, ticketId, patch, actor, { invocationId: actor.invocationId })).ticket;
    } catch (err) {
      // A patch the model refuses (e.g. pending without dueBy) is logged on the ticket, not thrown at the user.
      const detail = err instanceof AppError ? err.detail : String(err);
      await deps.store.activity.add([{ ticketId, field: 'webhook', from: null, to: 'answer not applied', actor, at: deps.clock.now().toISOString(), meta: { reason: detail } }]);
    }
  }
  if (answer.note) {
    await addAgentMessage(deps, ticketId, { direction: 'internal', body: answer.note }, actor);
  }
  return ticket ?? (await deps.store.tickets.get(ticketId));
}

async function applyOnce(tx: Store, deps: AppDeps, ticketId: number, patch: TicketPatch, actor: Actor, extra: Record<string, unknown>): Promise<Omit<TicketUpdateResult, 'warnings'> | null> {
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
  warnings?: WebhookWarning[];
  error?: { code: string; detail: string };
}

/** The same patch on many tickets; each ticket succeeds or fails on its own. */
export async function updateTickets(deps: AppDeps, ids: number[], patch: TicketPatch, actor: Actor): Promise<BulkItemResult[]> {
  const results: BulkItemResult[] = [];
  for (const id of [...new Set(ids)]) {
    try {
      const { ticket, warnings } = await updateTicket(deps, id, patch, actor);
      results.push({ id, ok: true, ticket, ...(warnings.length ? { warnings } : {}) });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      results.push({ id, ok: false, error: { code: err.code, detail: err.detail } });
    }
  }
  return results;
}
