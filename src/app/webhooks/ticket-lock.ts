import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';
import type { Store } from '../ports/store.ts';

/** What a holder of a ticket's lock may do besides running under it. */
export interface TicketLock {
  /**
   * True when no other holder took this ticket's lock between `ticketLockMark` and this
   * acquisition: a ticket read after the mark is still what the last hooked change left, so it
   * need not be read again. Always false across processes (nothing to compare with).
   */
  readonly undisturbedSince: (mark: LockMark) => boolean;
  /**
   * Releases the lock inside the caller's transaction (the lease's delete commits with the change:
   * one round trip and one commit fewer). Once that transaction committed, call `released()`.
   */
  releaseIn(tx: Store): Promise<void>;
  released(): void;
}

/** The state of a ticket's in-process lock at one moment; null when it was held then or lives in the database. */
export type LockMark = number | null;

interface Slot {
  waiters: Array<() => void>;
}

interface Table {
  /** Tickets whose lock is held (by one holder; the rest wait in order). */
  slots: Map<number, Slot>;
  /** Acquisitions of any ticket's lock so far: a mark that still matches saw nobody take one. */
  acquisitions: number;
}

/** One in-process lock table per store: two stores in one process (tests) never share tickets. */
const tables = new WeakMap<Store, Table>();

function table(store: Store): Table {
  let t = tables.get(store);
  if (!t) tables.set(store, (t = { slots: new Map(), acquisitions: 0 }));
  return t;
}

/** Taken before reading a ticket, compared after acquiring its lock (see `TicketLock.undisturbedSince`). */
export function ticketLockMark(deps: AppDeps, ticketId: number): LockMark {
  if (deps.store.multiProcess) return null;
  const t = table(deps.store);
  return t.slots.has(ticketId) ? null : t.acquisitions;
}

/**
 * Serialises the webhooks of one ticket: held while its hook runs and its change commits. Hooks
 * of other tickets never wait for it. Across processes (PostgreSQL) it is a lease row named after
 * the ticket; when the store says no other process shares the database (embedded SQLite), a
 * keyed mutex in memory does the same without a database round trip. A waiter gives up after the
 * hook's timeout and 5 s with a conflict.
 */
export async function withTicketLock<T>(deps: AppDeps, ticketId: number, holdMs: number, fn: (lock: TicketLock) => Promise<T>): Promise<T> {
  return deps.store.multiProcess ? withLease(deps, ticketId, holdMs, fn) : withMutex(deps, ticketId, holdMs, fn);
}

function busy(ticketId: number): AppError {
  return new AppError('conflict', `ticket ${ticketId} is busy with another webhook; try again`);
}

async function withMutex<T>(deps: AppDeps, ticketId: number, holdMs: number, fn: (lock: TicketLock) => Promise<T>): Promise<T> {
  const t = table(deps.store);
  const held = t.slots.get(ticketId);
  const s = held ?? { waiters: [] };
  if (held) {
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        s.waiters.splice(s.waiters.indexOf(wake), 1);
        reject(busy(ticketId));
      }, holdMs + 5000);
      s.waiters.push(wake);
    });
  }
  // Free, or handed over by the previous holder (the slot stays in the table meanwhile).
  t.slots.set(ticketId, s);
  const generation = ++t.acquisitions;
  const lock: TicketLock = {
    // Other tickets' acquisitions count too: at worst the ticket is read once more.
    undisturbedSince: (mark) => mark !== null && mark + 1 === generation,
    releaseIn: async () => undefined,
    released: () => undefined,
  };
  try {
    return await fn(lock);
  } finally {
    const next = s.waiters.shift();
    if (next) next();
    else t.slots.delete(ticketId);
  }
}

async function withLease<T>(deps: AppDeps, ticketId: number, holdMs: number, fn: (lock: TicketLock) => Promise<T>): Promise<T> {
  const name = `ticket-hooks:${ticketId}`;
  const holder = deps.ids.token('lock_');
  const giveUpAt = Date.now() + holdMs + 5000;
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    const now = deps.clock.now();
    if (await deps.store.leases.acquire(name, holder, new Date(now.getTime() + holdMs + 5000).toISOString(), now.toISOString())) break;
    if (Date.now() > giveUpAt) throw busy(ticketId);
    await new Promise((r) => setTimeout(r, delay));
  }
  let held = true;
  const lock: TicketLock = {
    undisturbedSince: () => false,
    releaseIn: (tx) => tx.leases.release(name, holder),
    released: () => {
      held = false;
    },
  };
  try {
    return await fn(lock);
  } finally {
    if (held) await deps.store.leases.release(name, holder);
  }
}
