import { applyTicketPatch, isEmptyDiff, type Ticket, type TicketDiff, type TicketPatch } from '../../domain/ticket.ts';
import { actorUserId, type Actor } from '../../domain/user.ts';
import type { WebhookAnswer } from '../../domain/webhook.ts';
import { addAgentMessage } from '../conversations/add-conversation.ts';
import { callWebhook, hookedAccount, recordInvocation, stopOrWarn, type CalledWebhook, type WebhookWarning } from '../webhooks/run-webhook.ts';
import { ticketLockMark, withTicketLock, type TicketLock } from '../webhooks/ticket-lock.ts';
import type { AppDeps } from '../deps.ts';
import { AppError, notFound } from '../errors.ts';
import { nextTurn } from '../next-turn.ts';
import { recordTicketChange } from '../record-change.ts';
import { DuplicateKeyError, type Store } from '../ports/store.ts';
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
 *
 * With a ticketUpdates hook, a person waits for: one read of the ticket and its account, the
 * hook's call, and one transaction holding the invocation's record, the change and the hook's
 * answer (each with its own actor, activity lines and TicketUpdated event). Only an answer's note
 * (and an answer setting externalTicketId, whose uniqueness only a write can tell) commit after it.
 */
export async function updateTicket(deps: AppDeps, ticketId: number, patch: TicketPatch, actor: Actor, extra: Record<string, unknown> = {}): Promise<TicketUpdateResult> {
  await checkReferences(deps.store, patch);
  // Changes by people and API clients interrupt at the ticketUpdates hook; changes that come
  // from a hook's own answer or from the system never call a synchronous hook again (no loops).
  if (actor.type !== 'user') return { ...(await commit(deps, ticketId, patch, actor, extra)), warnings: [] };
  const mark = ticketLockMark(deps, ticketId);
  const seen = await deps.store.tickets.get(ticketId);
  const hooked = await hookedAccount(deps, seen?.emailAccountId ?? null, 'ticketUpdates');
  // The ticket just read is the base of the write (its version is checked there): no second read.
  if (!hooked) return { ...(await commit(deps, ticketId, patch, actor, extra, seen)), warnings: [] };
  return withTicketLock(deps, ticketId, hooked.account.webhooks.timeoutMs, async (lock) => {
    // Read again only if another hooked change may have committed since: its hook's answer must be
    // what this hook sees as `previous`.
    const current = seen && lock.undisturbedSince(mark) ? seen : await deps.store.tickets.get(ticketId);
    if (!current) throw notFound('ticket', ticketId);
    const staged = patched(current, patch, deps.clock.now());
    if (isEmptyDiff(staged.diff)) return { ticket: current, diff: staged.diff, warnings: [] };
    const called = await callWebhook(deps, {
      ...hooked, hook: 'ticketUpdates', trigger: 'ticketUpdate', ticketId, conversationId: null, userId: actorUserId(actor),
      payload: { trigger: 'user', changes: staged.diff.changes, previous: staged.diff.previous, ticket: publicTicket(staged.ticket) },
    });
    if (!called) return { ...(await commit(deps, ticketId, patch, actor, extra, current)), warnings: [] };
    let warnings: WebhookWarning[];
    try {
      warnings = await stopOrWarn(called.outcome, 'ticketUpdates', 'the webhook for ticket updates refused the change');
    } catch (err) {
      // Stopped (abort, or a failure under policy block): nothing changes, the invocation is recorded.
      await deps.store.transaction((tx) => recordInvocation(tx, deps, called));
      throw err;
    }
    return { ...(await commitHooked(deps, ticketId, current, patch, actor, extra, called, lock)), warnings };
  });
}

/** The ticket as hooks and API clients see it (without the internal version counter). */
export function publicTicket(ticket: Ticket): Omit<Ticket, 'version'> {
  const { version: _v, ...rest } = ticket;
  return rest;
}

/** `base`: the ticket as just read outside the transaction; its version decides the first attempt. */
async function commit(deps: AppDeps, ticketId: number, patch: TicketPatch, actor: Actor, extra: Record<string, unknown>, base: Ticket | null = null): Promise<Omit<TicketUpdateResult, 'warnings'>> {
  for (let attempt = 1; ; attempt++) {
    let result;
    try {
      result = await deps.store.transaction((tx) => applyOnce(tx, deps, ticketId, patch, actor, extra, attempt === 1 ? base : null));
    } catch (err) {
      throw duplicateExternalId(err, patch);
    }
    if (result) return result;
    if (attempt >= MAX_ATTEMPTS) throw tooOften(ticketId);
  }
}

function tooOften(ticketId: number): AppError {
  return new AppError('conflict', `ticket ${ticketId} is changing too often; try again`);
}

function duplicateExternalId(err: unknown, patch: TicketPatch): unknown {
  // The only unique value a ticket patch can set; the transaction is rolled back.
  if (err instanceof DuplicateKeyError && err.target === 'externalTicketId') {
    return new AppError('conflict', `externalTicketId ${JSON.stringify(patch.externalTicketId)} is already used by another ticket`, {
      errors: [{ field: 'externalTicketId', message: 'already used by another ticket' }],
    });
  }
  return err;
}

/** The ticket patch a hook's answer asks for (a spam verdict adds the `spam` tag); null when none. */
function answerPatch(answer: WebhookAnswer): TicketPatch | null {
  const patch: TicketPatch = { ...(answer.ticket ?? {}) };
  if (answer.spam) patch.addTags = [...(patch.addTags ?? []), 'spam'];
  return Object.keys(patch).length ? patch : null;
}

function refusalDetail(err: unknown): string {
  return err instanceof AppError ? err.detail : String(err);
}

/**
 * The commit of a hooked change that goes on: the invocation's record and activity line, the
 * user's change, and the hook's answer patch (recorded with the hook as actor; one it refuses is
 * logged as `answer not applied`), in one transaction; the lease goes with it when nothing follows.
 */
async function commitHooked(
  deps: AppDeps, ticketId: number, base: Ticket, patch: TicketPatch, actor: Actor, extra: Record<string, unknown>,
  called: CalledWebhook, lock: TicketLock,
): Promise<Omit<TicketUpdateResult, 'warnings'>> {
  const answer = called.outcome.kind === 'answered' ? called.outcome.answer : null;
  const hookActor = { type: 'webhook' as const, hook: 'ticketUpdates' as const, invocationId: called.outcome.invocationId };
  let second = answer ? answerPatch(answer) : null;
  // An answer setting externalTicketId may collide with another ticket, which only a write tells
  // (and on PostgreSQL a failed write ends the transaction): it commits on its own afterwards.
  const separately = second?.externalTicketId !== undefined;
  let refused: string | null = null;
  if (second && !separately) {
    try {
      await checkReferences(deps.store, second);
    } catch (err) {
      refused = refusalDetail(err);
      second = null;
    }
  }
  const lostRace = Symbol('lost race');
  const releaseHere = !separately && !answer?.note;
  let result: Omit<TicketUpdateResult, 'warnings'> | undefined;
  for (let attempt = 1; !result; attempt++) {
    try {
      result = await deps.store.transaction(async (tx) => {
        await recordInvocation(tx, deps, called);
        const current = attempt === 1 ? base : await tx.tickets.get(ticketId);
        if (!current) throw notFound('ticket', ticketId);
        const now = deps.clock.now();
        const first = patched(current, patch, now);
        let answered = null;
        let notApplied = refused;
        if (second && !separately) {
          try {
            answered = applyTicketPatch(first.ticket, second, now);
          } catch (err) {
            // A patch the model refuses (e.g. pending without dueBy) is logged on the ticket, not thrown at the user.
            notApplied = refusalDetail(asAppError(err));
          }
          if (answered && isEmptyDiff(answered.diff)) answered = null;
        }
        const modifiedAt = now.toISOString();
        const changed = !isEmptyDiff(first.diff);
        let ticket = current;
        if (changed || answered) {
          const next = { ...(answered ?? first).ticket, modifiedAt };
          if (!(await tx.tickets.save(next, current.version))) throw lostRace;
          if (changed) await recordTicketChange(tx, deps, { ...first.ticket, modifiedAt }, first.diff, actor, extra);
          if (answered) await recordTicketChange(tx, deps, next, answered.diff, hookActor, { invocationId: hookActor.invocationId });
          ticket = { ...next, version: current.version + 1 };
        }
        if (notApplied !== null) {
          await tx.activity.add([{ ticketId, field: 'webhook', from: null, to: 'answer not applied', actor: hookActor, at: modifiedAt, meta: { reason: notApplied } }]);
        }
        if (releaseHere) await lock.releaseIn(tx);
        return { ticket, diff: first.diff };
      });
    } catch (err) {
      if (err === lostRace && attempt < MAX_ATTEMPTS) continue;
      // The change failed after the hook ran (e.g. externalTicketId taken): its invocation is still
      // recorded, on its own, as every invocation is.
      await deps.store.transaction((tx) => recordInvocation(tx, deps, called)).catch(() => undefined);
      throw err === lostRace ? tooOften(ticketId) : duplicateExternalId(err, patch);
    }
  }
  if (releaseHere) lock.released();
  if (answer && separately) {
    const ticket = await applyWebhookAnswer(deps, ticketId, answer, hookActor);
    return { ticket: ticket ?? result.ticket, diff: result.diff };
  }
  if (answer?.note) {
    await addAgentMessage(deps, ticketId, { direction: 'internal', body: answer.note }, hookActor);
    return { ticket: (await deps.store.tickets.get(ticketId)) ?? result.ticket, diff: result.diff };
  }
  return result;
}

/**
 * Applies what a hook answered: its ticket patch (recorded with the hook as actor), its note as
 * an internal note, and a spam verdict as the `spam` tag and flag. Returns the ticket afterwards.
 */
export async function applyWebhookAnswer(deps: AppDeps, ticketId: number, answer: WebhookAnswer, actor: Extract<Actor, { type: 'webhook' }>): Promise<Ticket | null> {
  let ticket: Ticket | null = null;
  const patch = answerPatch(answer);
  if (patch) {
    try {
      await checkReferences(deps.store, patch);
      ticket = (await commit(deps, ticketId, patch, actor, { invocationId: actor.invocationId })).ticket;
    } catch (err) {
      // A patch the model refuses (e.g. pending without dueBy) is logged on the ticket, not thrown at the user.
      await deps.store.activity.add([{ ticketId, field: 'webhook', from: null, to: 'answer not applied', actor, at: deps.clock.now().toISOString(), meta: { reason: refusalDetail(err) } }]);
    }
  }
  if (answer.note) {
    await addAgentMessage(deps, ticketId, { direction: 'internal', body: answer.note }, actor);
  }
  return ticket ?? (await deps.store.tickets.get(ticketId));
}

/** The patch applied to the ticket; a patch the model refuses is the user's error (an AppError). */
function patched(current: Ticket, patch: TicketPatch, now: Date): ReturnType<typeof applyTicketPatch> {
  try {
    return applyTicketPatch(current, patch, now);
  } catch (err) {
    throw asAppError(err);
  }
}

async function applyOnce(tx: Store, deps: AppDeps, ticketId: number, patch: TicketPatch, actor: Actor, extra: Record<string, unknown>, base: Ticket | null): Promise<Omit<TicketUpdateResult, 'warnings'> | null> {
  const current = base ?? (await tx.tickets.get(ticketId));
  if (!current) throw notFound('ticket', ticketId);
  const now = deps.clock.now();
  const applied = patched(current, patch, now);
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

/**
 * The same patch on many tickets; each ticket succeeds or fails on its own, in its own transaction,
 * with a turn of the event loop between two (500 tickets would otherwise hold it for half a second).
 */
export async function updateTickets(deps: AppDeps, ids: number[], patch: TicketPatch, actor: Actor): Promise<BulkItemResult[]> {
  const results: BulkItemResult[] = [];
  for (const [n, id] of [...new Set(ids)].entries()) {
    if (n > 0) await nextTurn();
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
