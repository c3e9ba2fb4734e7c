import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';
import type { EventFilter, EventStore, NewEvent, Page, PageRequest } from '../../../app/ports/store.ts';
import type { DomainEvent } from '../../../domain/event.ts';
import type { Database } from '../schema.ts';
import { cursorAfter, pageOf } from './paging.ts';
import { fanOut, toEvent } from './event-hooks.ts';
import { encodeCursor, toJson } from '../values.ts';

type NewEventRow = NewEvent;

const row = (e: NewEventRow) => ({
  id: e.id, type: e.type, ticket_id: e.ticketId, user_id: e.userId, data: toJson(e.data), created_at: e.createdAt,
  traceparent: e.trace?.traceparent ?? null, tracestate: e.trace?.tracestate ?? null,
});

export class EventRepo implements EventStore {
  constructor(private readonly db: Kysely<Database>, private readonly kind: DialectKind) {}

  async append(events: NewEventRow[]): Promise<void> {
    if (!events.length) return;
    await this.db.insertInto('events').values(events.map(row)).execute();
    await fanOut(this.db, events);
  }

  async appendOnce(event: NewEventRow, dedupeKey: string): Promise<boolean> {
    const r = await this.db.insertInto('events').values({ ...row(event), dedupe_key: dedupeKey })
      .onConflict((oc) => oc.column('dedupe_key').doNothing()).executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 0) return false;
    await fanOut(this.db, [event]);
    return true;
  }

  async get(id: string): Promise<DomainEvent | null> {
    const r = await this.db.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toEvent(r) : null;
  }

  async list(filter: EventFilter, page: PageRequest): Promise<Page<DomainEvent>> {
    let q = this.db.selectFrom('events').selectAll();
    if (filter.types?.length) q = q.where('type', 'in', filter.types);
    if (filter.ticketId !== undefined) q = q.where('ticket_id', '=', filter.ticketId);
    if (filter.since) q = q.where('created_at', '>=', filter.since);
    if (filter.until) q = q.where('created_at', '<', filter.until);
    const after = cursorAfter(page.cursor);
    const desc = filter.newestFirst && !filter.feed;
    if (after !== null) q = q.where('seq', desc ? '<' : '>', after);
    if (filter.feed && this.kind === 'postgres') q = q.where(sql<boolean>`tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint`);
    const rows = await q.orderBy('seq', desc ? 'desc' : 'asc').limit(page.limit + 1).execute();
    const result = pageOf(rows.map((r) => ({ seq: r.seq, event: toEvent(r) })), page.limit, (w) => w.seq);
    const items = result.items.map((w) => w.event);
    if (!filter.feed) return { items, nextCursor: result.nextCursor };
    const last = result.items.at(-1);
    return { items, nextCursor: last ? encodeCursor({ after: last.seq }) : page.cursor };
  }

  async prune(before: string): Promise<number> {
    const r = await this.db.deleteFrom('events').where('created_at', '<', before)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('event_deliveries as d').select('d.id').whereRef('d.event_id', '=', 'events.id').where('d.status', '=', 'pending'))))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
