import type { Kysely } from 'kysely';
import type { EventFilter, EventStore, Page, PageRequest } from '../../../app/ports/store.ts';
import type { DomainEvent, EventType } from '../../../domain/event.ts';
import type { Database } from '../schema.ts';
import { cursorAfter, pageOf } from './paging.ts';
import { iso, json, toJson } from '../values.ts';

export class EventRepo implements EventStore {
  constructor(private readonly db: Kysely<Database>) {}

  async append(events: Array<Omit<DomainEvent, 'createdAt'> & { createdAt: string }>): Promise<void> {
    if (!events.length) return;
    await this.db
      .insertInto('events')
      .values(events.map((e) => ({ id: e.id, type: e.type, ticket_id: e.ticketId, user_id: e.userId, data: toJson(e.data), created_at: e.createdAt })))
      .execute();
  }

  async list(filter: EventFilter, page: PageRequest): Promise<Page<DomainEvent>> {
    let q = this.db.selectFrom('events').selectAll();
    if (filter.types?.length) q = q.where('type', 'in', filter.types);
    if (filter.ticketId !== undefined) q = q.where('ticket_id', '=', filter.ticketId);
    if (filter.since) q = q.where('created_at', '>=', filter.since);
    if (filter.until) q = q.where('created_at', '<', filter.until);
    const after = cursorAfter(page.cursor);
    if (after !== null) q = q.where('seq', '>', after);
    const rows = await q.orderBy('seq', 'asc').limit(page.limit + 1).execute();
    const withSeq = rows.map((r) => ({
      seq: r.seq,
      event: { id: r.id, type: r.type as EventType, ticketId: r.ticket_id, userId: r.user_id, data: json<Record<string, unknown>>(r.data), createdAt: iso(r.created_at) },
    }));
    const result = pageOf(withSeq, page.limit, (w) => w.seq);
    return { items: result.items.map((w) => w.event), nextCursor: result.nextCursor };
  }
}
