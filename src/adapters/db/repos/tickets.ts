import { sql, type Kysely, type Selectable } from 'kysely';
import type { NewTicket, Page, PageRequest, TicketFilter, TicketStore } from '../../../app/ports/store.ts';
import type { Channel, LegitimationLevel, Ticket, TicketPriority, TicketStatus } from '../../../domain/ticket.ts';
import type { Database, TicketsTable } from '../schema.ts';
import { cursorAfter, pageOf } from './paging.ts';
import type { DialectKind } from '../dialect.ts';
import { ftsQuery, searchDocument, searchSource, searchWords, tsQuery } from '../search-text.ts';
import { iso, isoOrNull, json, jsonOrNull, toJson, uniquely } from '../values.ts';
import type { AttachmentRef, MessageFlags } from '../../../domain/conversation.ts';

function toTicket(r: Selectable<TicketsTable>): Ticket {
  return {
    id: r.id,
    externalTicketId: r.external_ticket_id,
    emailAccountId: r.email_account_id,
    channel: r.channel as Channel,
    subject: r.subject,
    from: r.from_email,
    fromName: r.from_name,
    to: json<string[]>(r.to_emails),
    body: r.body,
    bodyPlain: r.body_plain,
    status: r.status as TicketStatus,
    priority: r.priority as TicketPriority,
    dueBy: isoOrNull(r.due_by),
    firstResponseDueBy: isoOrNull(r.first_response_due_by),
    agentId: r.agent_id,
    tags: json<string[]>(r.tags),
    contractId: r.contract_id,
    customerId: r.customer_id,
    legitimationLevel: r.legitimation_level as LegitimationLevel,
    createdAt: iso(r.created_at),
    modifiedAt: iso(r.modified_at),
    closedAt: isoOrNull(r.closed_at),
    lastMessageAt: isoOrNull(r.last_message_at),
    lastCustomerMessageAt: isoOrNull(r.last_customer_message_at),
    messageCount: r.message_count,
    messageId: r.message_id,
    attachments: jsonOrNull<AttachmentRef[]>(r.attachments) ?? [],
    flags: jsonOrNull<MessageFlags>(r.flags) ?? {},
    version: r.version,
  };
}

function toRow(t: NewTicket) {
  return {
    external_ticket_id: t.externalTicketId,
    email_account_id: t.emailAccountId,
    channel: t.channel,
    subject: t.subject,
    from_email: t.from,
    from_name: t.fromName,
    to_emails: toJson(t.to),
    body: t.body,
    body_plain: t.bodyPlain,
    status: t.status,
    priority: t.priority,
    due_by: t.dueBy,
    first_response_due_by: t.firstResponseDueBy,
    agent_id: t.agentId,
    tags: toJson(t.tags),
    contract_id: t.contractId,
    customer_id: t.customerId,
    legitimation_level: t.legitimationLevel,
    created_at: t.createdAt,
    modified_at: t.modifiedAt,
    closed_at: t.closedAt,
    last_message_at: t.lastMessageAt,
    last_customer_message_at: t.lastCustomerMessageAt,
    message_count: t.messageCount,
    message_id: t.messageId,
    attachments: toJson(t.attachments),
    flags: toJson(t.flags),
  };
}

export class TicketRepo implements TicketStore {
  constructor(private readonly db: Kysely<Database>, private readonly kind: DialectKind) {}

  async insert(ticket: NewTicket): Promise<Ticket> {
    const row = await uniquely('externalTicketId', () => this.db.insertInto('tickets').values({ ...toRow(ticket), version: 1 }).returningAll().executeTakeFirstOrThrow());
    await this.writeTags(row.id, ticket.tags);
    await this.index(row.id, ticket, false);
    return toTicket(row);
  }

  /**
   * Keeps the ticket's full-text row in step with what text search reads (see search-text.ts).
   * A save that changes none of the indexed columns (status, tags, assignee…) costs one lookup.
   */
  private async index(id: number, t: Pick<NewTicket, 'subject' | 'bodyPlain' | 'from' | 'fromName'>, replace: boolean): Promise<void> {
    const parts = [t.subject, t.bodyPlain, t.from ?? '', t.fromName ?? ''];
    const source = searchSource(parts);
    const pg = this.kind === 'postgres';
    if (replace) {
      const current = pg
        ? await sql<{ source: string }>`SELECT source FROM ticket_search WHERE ticket_id = ${id}`.execute(this.db)
        : await sql<{ source: string }>`SELECT source FROM ticket_search WHERE rowid = ${id}`.execute(this.db);
      if (current.rows[0]?.source === source) return;
      if (current.rows.length) {
        await (pg ? sql`DELETE FROM ticket_search WHERE ticket_id = ${id}` : sql`DELETE FROM ticket_search WHERE rowid = ${id}`).execute(this.db);
      }
    }
    const text = searchDocument(parts);
    await (pg
      ? sql`INSERT INTO ticket_search (ticket_id, source, text) VALUES (${id}, ${source}, ${text})`
      : sql`INSERT INTO ticket_search (rowid, source, text) VALUES (${id}, ${source}, ${text})`).execute(this.db);
  }

  async get(id: number): Promise<Ticket | null> {
    const row = await this.db.selectFrom('tickets').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toTicket(row) : null;
  }

  async getByExternalId(externalTicketId: string): Promise<Ticket | null> {
    const row = await this.db.selectFrom('tickets').selectAll().where('external_ticket_id', '=', externalTicketId).executeTakeFirst();
    return row ? toTicket(row) : null;
  }

  async search(filter: TicketFilter, page: PageRequest): Promise<Page<Ticket>> {
    let q = this.db.selectFrom('tickets').selectAll();
    if (filter.status?.length) q = q.where('status', 'in', filter.status);
    if (filter.priority?.length) q = q.where('priority', 'in', filter.priority);
    if (filter.agentId === null) q = q.where('agent_id', 'is', null);
    else if (filter.agentId !== undefined) q = q.where('agent_id', '=', filter.agentId);
    if (filter.emailAccountId !== undefined) q = q.where('email_account_id', '=', filter.emailAccountId);
    if (filter.contractId !== undefined) q = q.where('contract_id', '=', filter.contractId);
    if (filter.customerId !== undefined) q = q.where('customer_id', '=', filter.customerId);
    for (const tag of filter.tags ?? []) {
      q = q.where(({ exists, selectFrom }) =>
        exists(selectFrom('ticket_tags').select('ticket_id').whereRef('ticket_tags.ticket_id', '=', 'tickets.id').where('ticket_tags.tag', '=', tag.toLowerCase())),
      );
    }
    if (filter.text !== undefined) {
      // Every word of the query, as a word or the start of one, in subject, body or sender.
      const words = searchWords(filter.text);
      if (!words.length) return { items: [], nextCursor: null };
      q = this.kind === 'postgres'
        ? q.where('id', 'in', sql<number>`(SELECT ticket_id FROM ticket_search WHERE tsv @@ to_tsquery('simple', ${tsQuery(words, true)}))`)
        : q.where('id', 'in', sql<number>`(SELECT rowid FROM ticket_search WHERE ticket_search MATCH ${ftsQuery(words, true)})`);
    }
    const after = cursorAfter(page.cursor);
    if (after !== null) q = q.where('id', '<', after);
    const rows = await q.orderBy('id', 'desc').limit(page.limit + 1).execute();
    return pageOf(rows.map(toTicket), page.limit);
  }

  async save(ticket: Ticket, expectedVersion: number): Promise<boolean> {
    const { created_at: _created, ...row } = toRow(ticket);
    const res = await uniquely('externalTicketId', () => this.db
      .updateTable('tickets')
      .set({ ...row, version: expectedVersion + 1 })
      .where('id', '=', ticket.id)
      .where('version', '=', expectedVersion)
      .executeTakeFirst());
    if (Number(res.numUpdatedRows) !== 1) return false;
    await this.db.deleteFrom('ticket_tags').where('ticket_id', '=', ticket.id).execute();
    await this.writeTags(ticket.id, ticket.tags);
    await this.index(ticket.id, ticket, true);
    return true;
  }

  async listDuePending(now: string, limit: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('tickets')
      .select('id')
      .where('status', '=', 'pending')
      .where('due_by', '<=', now)
      .orderBy('due_by')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  private async writeTags(ticketId: number, tags: string[]): Promise<void> {
    const unique = [...new Set(tags.map((t) => t.toLowerCase()))];
    if (unique.length) await this.db.insertInto('ticket_tags').values(unique.map((tag) => ({ ticket_id: ticketId, tag }))).execute();
  }
}
