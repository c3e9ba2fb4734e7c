import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTicket } from '../src/app/tickets/create-ticket.ts';
import { reopenDueTickets } from '../src/app/tickets/reopen-due-tickets.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from './support/backends.ts';
import { makeDeps, TestClock } from './support/test-app.ts';

describe.each(BACKENDS)('reopening pending tickets at dueBy on %s', (kind) => {
  let db: TestDatabase;
  beforeEach(async () => { db = await openTestDatabase(kind); });
  afterEach(async () => { await db.cleanup(); });

  it('reopens each due ticket exactly once, even with several processes at the same moment', async () => {
    const clock = new TestClock();
    const deps = makeDeps(db, clock);
    const due = [];
    for (let i = 0; i < 20; i++) {
      const { ticket } = await createTicket(deps, { subject: `Rückruf ${i}`, status: 'pending', dueBy: '2026-11-28T11:00:00.000Z' }, { type: 'user', userId: 1 } as never);
      due.push(ticket.id);
    }
    const later = await createTicket(deps, { subject: 'later', status: 'pending', dueBy: '2026-11-28T13:00:00.000Z' }, { type: 'system', reason: 'test' });

    // Not yet due: nothing happens.
    expect(await reopenDueTickets(deps)).toEqual([]);

    clock.set('2026-11-28T11:00:00.000Z');
    // Four runs racing. On PostgreSQL each is its own connection pool, as separate worker
    // processes would be; SQLite has one writer process, so there the runs share its connection.
    const stores = kind === 'postgres' ? (await Promise.all([1, 2, 3].map(() => db.reopen()))).map((o) => o.store) : [db.store, db.store, db.store];
    const runners = [deps, ...stores.map((store) => makeDeps({ ...db, store }, clock))];
    const results = await Promise.all(runners.map((d) => reopenDueTickets(d)));
    const reopened = results.flat().sort((a, b) => a - b);
    expect(reopened).toEqual(due);

    for (const id of due) {
      const ticket = await db.store.tickets.get(id);
      expect(ticket?.status).toBe('open');
      const events = (await db.store.events.list({ ticketId: id, types: ['TicketUpdated'] }, { limit: 10, cursor: null })).items;
      expect(events).toHaveLength(1);
      expect(events[0]!.data).toMatchObject({ userId: null, changes: { status: 'open' }, previous: { status: 'pending' }, autoOpenedDueToDueDate: true });
      const activity = (await db.store.activity.listByTicket(id, { limit: 10, cursor: null })).items.filter((a) => a.field === 'status');
      expect(activity).toHaveLength(1);
      expect(activity[0]).toMatchObject({ from: 'pending', to: 'open', actor: { type: 'system' }, meta: { autoOpenedDueToDueDate: true } });
    }
    expect((await db.store.tickets.get(later.ticket.id))?.status).toBe('pending');
    expect(await reopenDueTickets(deps)).toEqual([]);
  });
});
