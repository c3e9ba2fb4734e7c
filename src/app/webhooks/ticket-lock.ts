import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';

/**
 * Serialises the webhooks of one ticket across processes: a lease named after the ticket, held
 * while its hook runs and its change commits. Hooks of other tickets never wait for it.
 */
export async function withTicketLock<T>(deps: AppDeps, ticketId: number, holdMs: number, fn: () => Promise<T>): Promise<T> {
  const name = `ticket-hooks:${ticketId}`;
  const holder = deps.ids.token('lock_');
  const giveUpAt = Date.now() + holdMs + 5000;
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    const now = deps.clock.now();
    if (await deps.store.leases.acquire(name, holder, new Date(now.getTime() + holdMs + 5000).toISOString(), now.toISOString())) break;
    if (Date.now() > giveUpAt) throw new AppError('conflict', `ticket ${ticketId} is busy with another webhook; try again`);
    await new Promise((r) => setTimeout(r, delay));
  }
  try {
    return await fn();
  } finally {
    await deps.store.leases.release(name, holder);
  }
}
