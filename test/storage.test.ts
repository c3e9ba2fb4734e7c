import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuplicateKeyError, type NewTicket } from '../src/app/ports/store.ts';
import { sql } from 'kysely';
import { refreshStatistics } from '../src/adapters/db/dialect.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from './support/backends.ts';

function ticket(overrides: Partial<NewTicket> = {}): NewTicket {
  const at = '2026-11-28T10:00:00.000Z';
  return {
    externalTicketId: null, emailAccountId: null, channel: 'email', subject: 'Zählerstand März', from: 'kunde@example.com',
    fromName: 'Erika Mustermann', to: ['support@example.com'], body: 'Hallo, mein Zählerstand', bodyPlain: 'Hallo, mein Zählerstand',
    status: 'open', priority: 'medium', dueBy: null, firstResponseDueBy: null, agentId: null, tags: [], contractId: null,
    customerId: null, legitimationLevel: 0, createdAt: at, modifiedAt: at, closedAt: null, lastMessageAt: at,
    lastCustomerMessageAt: null, messageCount: 1, messageId: null, attachments: [], flags: {}, ...overrides,
  };
}

describe.each(BACKENDS)('store on %s', (kind) => {
  let db: TestDatabase;
  beforeEach(async () => { db = await openTestDatabase(kind); });
  afterEach(async () => { await db.cleanup(); });

  it('round-trips a ticket with its tags, timestamps and JSON fields', async () => {
    const created = await db.store.tickets.insert(ticket({ tags: ['VIP', 'strom'], dueBy: '2026-12-01T08:00:00.000Z' }));
    const read = await db.store.tickets.get(created.id);
    expect(read).toMatchObject({ subject: 'Zählerstand März', tags: ['VIP', 'strom'], to: ['support@example.com'], dueBy: '2026-12-01T08:00:00.000Z', version: 1 });
  });

  it('refuses a second ticket with the same externalTicketId', async () => {
    await db.store.tickets.insert(ticket({ externalTicketId: 'crm-1' }));
    await expect(db.store.tickets.insert(ticket({ externalTicketId: 'crm-1' }))).rejects.toBeInstanceOf(DuplicateKeyError);
    // Tickets without an external id never collide.
    await db.store.tickets.insert(ticket());
    await db.store.tickets.insert(ticket());
  });

  it('saves only when the version is still the one read (optimistic concurrency)', async () => {
    const t = await db.store.tickets.insert(ticket());
    expect(await db.store.tickets.save({ ...t, priority: 'high' }, 1)).toBe(true);
    expect(await db.store.tickets.save({ ...t, priority: 'low' }, 1)).toBe(false);
    expect((await db.store.tickets.get(t.id))).toMatchObject({ priority: 'high', version: 2 });
  });

  it('filters by status, priority, assignee, tags, account, contract and text, and pages with a cursor', async () => {
    const user = await db.store.users.insert({ email: 'a@example.com', name: 'A', role: 'agent', service: false, disabled: false, passwordHash: null, createdAt: '2026-11-28T10:00:00.000Z' });
    for (let i = 0; i < 7; i++) {
      await db.store.tickets.insert(ticket({
        subject: i === 3 ? 'Abschlag 100% zu hoch' : `Ticket ${i}`,
        status: i % 2 ? 'closed' : 'open',
        priority: i === 5 ? 'urgent' : 'medium',
        agentId: i < 2 ? user.id : null,
        tags: i === 4 ? ['VIP', 'Umzug'] : i === 6 ? ['vip'] : [],
        contractId: i === 2 ? 'V-2024-0815' : null,
      }));
    }
    const subjects = async (filter: Parameters<typeof db.store.tickets.search>[0]) =>
      (await db.store.tickets.search(filter, { limit: 50, cursor: null })).items.map((t) => t.subject);
    expect(await subjects({ status: ['closed'] })).toEqual(['Ticket 5', 'Abschlag 100% zu hoch', 'Ticket 1']);
    expect(await subjects({ priority: ['urgent'] })).toEqual(['Ticket 5']);
    expect(await subjects({ agentId: user.id })).toEqual(['Ticket 1', 'Ticket 0']);
    expect((await subjects({ agentId: null })).length).toBe(5);
    expect(await subjects({ tags: ['vip'] })).toEqual(['Ticket 6', 'Ticket 4']);
    expect(await subjects({ tags: ['vip', 'umzug'] })).toEqual(['Ticket 4']);
    expect(await subjects({ contractId: 'V-2024-0815' })).toEqual(['Ticket 2']);
    expect(await subjects({ text: 'ABSCHLAG' })).toEqual(['Abschlag 100% zu hoch']);
    // LIKE wildcards in the text are literal.
    expect(await subjects({ text: '100%' })).toEqual(['Abschlag 100% zu hoch']);
    expect(await subjects({ text: '_' })).toEqual([]);

    const first = await db.store.tickets.search({}, { limit: 3, cursor: null });
    const second = await db.store.tickets.search({}, { limit: 3, cursor: first.nextCursor });
    const third = await db.store.tickets.search({}, { limit: 3, cursor: second.nextCursor });
    const ids = [...first.items, ...second.items, ...third.items].map((t) => t.id);
    expect(ids).toHaveLength(7);
    expect(new Set(ids).size).toBe(7);
    expect(third.nextCursor).toBeNull();
  });

  it('finds tickets by words of subject, body and sender, umlauts either way, and follows edits', async () => {
    const a = await db.store.tickets.insert(ticket({ subject: 'Zählerstand März', fromName: 'Jürgen Müller', from: 'j.mueller@example.com' }));
    await db.store.tickets.insert(ticket({ subject: 'Abschlag', bodyPlain: 'Bitte Abschlag senken', fromName: 'Erika Schmidt', from: 'erika@example.com' }));
    const ids = async (text: string) => (await db.store.tickets.search({ text }, { limit: 10, cursor: null })).items.map((t) => t.id);
    expect(await ids('mueller')).toEqual([a.id]);
    expect(await ids('MÜLLER')).toEqual([a.id]);
    expect(await ids('muller zahler')).toEqual([a.id]);
    expect(await ids('j.mueller@example')).toEqual([a.id]);
    expect(await ids('zählerstand schmidt')).toEqual([]);
    await db.store.tickets.save({ ...a, subject: 'Umzug' }, a.version);
    expect(await ids('märz')).toEqual([]);
    expect(await ids('umzug')).toEqual([a.id]);
    const saved = (await db.store.tickets.get(a.id))!;
    await db.store.tickets.save({ ...saved, status: 'closed' }, saved.version);
    expect(await ids('umzug')).toEqual([a.id]);
  });

  it('rejects a cursor it did not make', async () => {
    await expect(db.store.tickets.search({}, { limit: 5, cursor: 'bm90LWEtY3Vyc29y' })).rejects.toMatchObject({ code: 'validation_failed' });
  });

  it('rolls back everything in a failed transaction', async () => {
    await expect(db.store.transaction(async (tx) => {
      await tx.tickets.insert(ticket({ subject: 'never' }));
      await tx.events.append([{ id: 'evt_x', type: 'TicketCreated', ticketId: null, userId: null, data: {}, createdAt: '2026-11-28T10:00:00.000Z' }]);
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect((await db.store.tickets.search({}, { limit: 10, cursor: null })).items).toEqual([]);
    expect((await db.store.events.list({}, { limit: 10, cursor: null })).items).toEqual([]);
  });

  it('lists events in append order and continues after a cursor (pull feed)', async () => {
    const at = '2026-11-28T10:00:00.000Z';
    await db.store.events.append([1, 2, 3].map((n) => ({ id: `evt_${n}`, type: 'TicketCreated' as const, ticketId: n, userId: null, data: { n }, createdAt: at })));
    const page1 = await db.store.events.list({}, { limit: 2, cursor: null });
    expect(page1.items.map((e) => e.id)).toEqual(['evt_1', 'evt_2']);
    await db.store.events.append([{ id: 'evt_4', type: 'TicketUpdated', ticketId: 1, userId: null, data: {}, createdAt: at }]);
    const page2 = await db.store.events.list({}, { limit: 10, cursor: page1.nextCursor });
    expect(page2.items.map((e) => e.id)).toEqual(['evt_3', 'evt_4']);
    expect((await db.store.events.list({ ticketId: 1 }, { limit: 10, cursor: null })).items.map((e) => e.id)).toEqual(['evt_1', 'evt_4']);
    expect((await db.store.events.list({ types: ['TicketUpdated'] }, { limit: 10, cursor: null })).items.map((e) => e.data)).toEqual([{}]);
  });

  it('finds active tokens only: expired ones and disabled users do not authenticate', async () => {
    const user = await db.store.users.insert({ email: 'b@example.com', name: 'B', role: 'agent', service: false, disabled: false, passwordHash: null, createdAt: '2026-11-28T10:00:00.000Z' });
    await db.store.tokens.insert({ userId: user.id, kind: 'session', name: 'login', prefix: 'dhs_abcd', digest: 'd1', createdAt: '2026-11-28T10:00:00.000Z', expiresAt: '2026-11-28T12:00:00.000Z' });
    expect(await db.store.tokens.findActive('d1', '2026-11-28T11:00:00.000Z')).toMatchObject({ user: { email: 'b@example.com' } });
    expect(await db.store.tokens.findActive('d1', '2026-11-28T12:00:00.000Z')).toBeNull();
    await db.store.users.update(user.id, { disabled: true });
    expect(await db.store.tokens.findActive('d1', '2026-11-28T11:00:00.000Z')).toBeNull();
  });

  it('replaces an ERP record\'s search text on every upsert and forgets it on delete', async () => {
    const at = '2026-11-28T10:00:00.000Z';
    const customer = (lastname: string) => ({ id: 'K-1', business: false, lastname, company: null, contractIds: [] });
    await db.store.erp.putCustomer({ id: 'K-2', business: false, lastname: 'Schmidt', company: null, contractIds: [] }, at);
    for (const name of ['Mustermann', 'Musterfrau', 'Lehmann']) await db.store.erp.putCustomer(customer(name), at);
    expect(await db.store.erp.searchCustomers('lehmann', 10, 0)).toEqual(['K-1']);
    expect(await db.store.erp.searchCustomers('muster', 10, 0)).toEqual([]);
    expect(await db.store.erp.searchCustomers('schmidt', 10, 0)).toEqual(['K-2']);
    expect(await db.store.erp.deleteCustomer('K-1')).toBe(true);
    expect(await db.store.erp.searchCustomers('lehmann', 10, 0)).toEqual([]);
    await db.store.erp.putCustomer(customer('Lehmann'), at);
    expect(await db.store.erp.searchCustomers('lehmann', 10, 0)).toEqual(['K-1']);
    expect(await db.store.erp.searchCustomers('schmidt', 10, 0)).toEqual(['K-2']);
  });

  it('keeps planner statistics: after a refresh the tickets table has them', async () => {
    for (let i = 0; i < 50; i++) await db.store.tickets.insert(ticket({ status: i % 5 ? 'closed' : 'open' }));
    await refreshStatistics(db.handle);
    const analysed = kind === 'sqlite'
      ? await sql<{ n: number }>`SELECT count(*) AS n FROM sqlite_stat1 WHERE tbl = 'tickets'`.execute(db.handle.db)
      : await sql<{ n: number }>`SELECT count(*) AS n FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'tickets' AND last_analyze IS NOT NULL`.execute(db.handle.db);
    expect(Number(analysed.rows[0]!.n)).toBeGreaterThan(0);
  });

  it('reports ready only when migrated', async () => {
    expect(await db.store.ready()).toBe(true);
  });
});
