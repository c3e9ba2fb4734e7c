import type { Kysely, Selectable } from 'kysely';
import type { ActivityStore, ConversationStore, NewConversation, Page, PageRequest } from '../../../app/ports/store.ts';
import type { ActivityEntry, NewActivity } from '../../../domain/activity.ts';
import type { AttachmentRef, Conversation, DeliveryStatus, Direction } from '../../../domain/conversation.ts';
import type { Actor } from '../../../domain/user.ts';
import type { ConversationsTable, Database } from '../schema.ts';
import { cursorAfter, pageOf } from './paging.ts';
import { bool, flag, iso, json, jsonOrNull, toJson } from '../values.ts';

function toConversation(r: Selectable<ConversationsTable>): Conversation {
  return {
    id: r.id,
    ticketId: r.ticket_id,
    direction: r.direction as Direction,
    private: bool(r.private),
    fromEmail: r.from_email,
    toEmail: json<string[]>(r.to_emails),
    ccEmails: json<string[]>(r.cc_emails),
    subject: r.subject,
    body: r.body,
    bodyPlain: r.body_plain,
    attachments: json<AttachmentRef[]>(r.attachments),
    messageId: r.message_id,
    inReplyTo: r.in_reply_to,
    references: json<string[]>(r.references),
    agentId: r.agent_id,
    deliveryStatus: r.delivery_status as DeliveryStatus | null,
    deliveryError: r.delivery_error,
    createdAt: iso(r.created_at),
  };
}

export class ConversationRepo implements ConversationStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(c: NewConversation): Promise<Conversation> {
    const row = await this.db
      .insertInto('conversations')
      .values({
        ticket_id: c.ticketId,
        direction: c.direction,
        private: flag(c.private),
        from_email: c.fromEmail,
        to_emails: toJson(c.toEmail),
        cc_emails: toJson(c.ccEmails),
        subject: c.subject,
        body: c.body,
        body_plain: c.bodyPlain,
        attachments: toJson(c.attachments),
        message_id: c.messageId,
        in_reply_to: c.inReplyTo,
        references: toJson(c.references),
        agent_id: c.agentId,
        delivery_status: c.deliveryStatus,
        delivery_error: c.deliveryError,
        created_at: c.createdAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toConversation(row);
  }

  async get(id: number): Promise<Conversation | null> {
    const row = await this.db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toConversation(row) : null;
  }

  async listByTicket(ticketId: number, page: PageRequest): Promise<Page<Conversation>> {
    let q = this.db.selectFrom('conversations').selectAll().where('ticket_id', '=', ticketId);
    const after = cursorAfter(page.cursor);
    if (after !== null) q = q.where('id', '>', after);
    const rows = await q.orderBy('id', 'asc').limit(page.limit + 1).execute();
    return pageOf(rows.map(toConversation), page.limit);
  }

  async setDelivery(id: number, status: DeliveryStatus, error: string | null): Promise<void> {
    await this.db.updateTable('conversations').set({ delivery_status: status, delivery_error: error }).where('id', '=', id).execute();
  }
}

export class ActivityRepo implements ActivityStore {
  constructor(private readonly db: Kysely<Database>) {}

  async add(entries: NewActivity[]): Promise<void> {
    if (!entries.length) return;
    await this.db
      .insertInto('activity')
      .values(entries.map((e) => ({
        ticket_id: e.ticketId,
        field: e.field,
        from_value: toJson(e.from),
        to_value: toJson(e.to),
        actor: toJson(e.actor),
        at: e.at,
        meta: e.meta ? toJson(e.meta) : null,
      })))
      .execute();
  }

  async listByTicket(ticketId: number, page: PageRequest): Promise<Page<ActivityEntry>> {
    let q = this.db.selectFrom('activity').selectAll().where('ticket_id', '=', ticketId);
    const after = cursorAfter(page.cursor);
    if (after !== null) q = q.where('id', '>', after);
    const rows = await q.orderBy('id', 'asc').limit(page.limit + 1).execute();
    return pageOf(
      rows.map((r) => ({
        id: r.id,
        ticketId: r.ticket_id,
        field: r.field,
        from: jsonOrNull(r.from_value),
        to: jsonOrNull(r.to_value),
        actor: json<Actor>(r.actor),
        at: iso(r.at),
        meta: jsonOrNull<Record<string, unknown>>(r.meta),
      })),
      page.limit,
    );
  }
}
