import type { Kysely, Selectable } from 'kysely';
import type { ActivityStore, ConversationStore, NewConversation, Page, PageRequest, StoredMessageId } from '../../../app/ports/store.ts';
import type { ThreadParent } from '../../../domain/mail/threading.ts';
import type { ActivityEntry, NewActivity } from '../../../domain/activity.ts';
import type { AttachmentRef, Conversation, DeliveryStatus, Direction, MessageFlags } from '../../../domain/conversation.ts';
import type { Actor } from '../../../domain/user.ts';
import type { ConversationsTable, Database } from '../schema.ts';
import type { Capabilities } from '../dialect.ts';
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
    flags: jsonOrNull<MessageFlags>(r.flags) ?? {},
    createdAt: iso(r.created_at),
  };
}

export class ConversationRepo implements ConversationStore {
  constructor(private readonly db: Kysely<Database>, private readonly caps: Capabilities) {}

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
        flags: toJson(c.flags),
        next_attempt_at: c.deliveryStatus === 'queued' ? c.createdAt : null,
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
    await this.db.updateTable('conversations').set({ delivery_status: status, delivery_error: error, next_attempt_at: null, locked_until: null }).where('id', '=', id).execute();
  }

  async ticketsByMessageId(messageIds: string[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    if (!messageIds.length) return found;
    // Mailers reuse ids, so one id may name messages on several tickets: the newest message wins
    // (a reply most likely answers the latest message with that id; docs/email.md).
    const newest = new Map<string, { at: number; ticketId: number }>();
    const consider = (id: string, at: Date | string, ticketId: number) => {
      const time = Date.parse(iso(at));
      const best = newest.get(id);
      if (!best || time >= best.at) newest.set(id, { at: time, ticketId });
    };
    const tickets = await this.db.selectFrom('tickets').select(['id', 'message_id', 'created_at']).where('message_id', 'in', messageIds).orderBy('id').execute();
    for (const t of tickets) consider(t.message_id!, t.created_at, t.id);
    const convs = await this.db.selectFrom('conversations').select(['ticket_id', 'message_id', 'created_at']).where('message_id', 'in', messageIds).orderBy('id').execute();
    for (const c of convs) consider(c.message_id!, c.created_at, c.ticket_id);
    for (const [id, best] of newest) found.set(id, best.ticketId);
    return found;
  }

  async messagesWithId(messageId: string): Promise<StoredMessageId[]> {
    const tickets = await this.db.selectFrom('tickets').select(['id', 'from_email', 'created_at', 'flags']).where('message_id', '=', messageId).orderBy('id').execute();
    const convs = await this.db.selectFrom('conversations').select(['id', 'ticket_id', 'direction', 'from_email', 'created_at', 'flags'])
      .where('message_id', '=', messageId).where('direction', 'in', ['in', 'out']).orderBy('id').execute();
    const hash = (flags: unknown) => jsonOrNull<MessageFlags>(flags)?.contentHash ?? null;
    return [
      ...tickets.map((t) => ({ ticketId: t.id, conversationId: null, direction: 'in' as const, from: t.from_email, at: iso(t.created_at), contentHash: hash(t.flags) })),
      ...convs.map((c) => ({ ticketId: c.ticket_id, conversationId: c.id, direction: c.direction as 'in' | 'out', from: c.from_email, at: iso(c.created_at), contentHash: hash(c.flags) })),
    ].sort((a, b) => a.at.localeCompare(b.at));
  }

  async threadParent(ticketId: number): Promise<ThreadParent | null> {
    const conv = await this.db.selectFrom('conversations').select(['message_id', 'in_reply_to', 'references']).where('ticket_id', '=', ticketId)
      .where('message_id', 'is not', null).where('direction', 'in', ['in', 'out'])
      // An email that was never sent is nobody's parent.
      .where((eb) => eb.or([eb('delivery_status', 'is', null), eb('delivery_status', 'not in', ['blocked', 'failed'])]))
      .orderBy('id', 'desc').limit(1).executeTakeFirst();
    if (conv) return { messageId: conv.message_id!, inReplyTo: conv.in_reply_to, references: json<string[]>(conv.references) };
    const ticket = await this.db.selectFrom('tickets').select(['message_id', 'flags']).where('id', '=', ticketId).executeTakeFirst();
    if (!ticket?.message_id) return null;
    const flags = jsonOrNull<MessageFlags>(ticket.flags) ?? {};
    return { messageId: ticket.message_id, inReplyTo: flags.inReplyTo ?? null, references: flags.references ?? [] };
  }

  async participants(ticketIds: number[]): Promise<Map<number, string[]>> {
    const out = new Map<number, Set<string>>();
    if (!ticketIds.length) return new Map();
    const add = (id: number, address: string | null) => {
      if (!address) return;
      if (!out.has(id)) out.set(id, new Set());
      out.get(id)!.add(address.trim().toLowerCase());
    };
    const tickets = await this.db.selectFrom('tickets').select(['id', 'from_email']).where('id', 'in', ticketIds).execute();
    for (const t of tickets) {
      add(t.id, t.from_email);
      if (!out.has(t.id)) out.set(t.id, new Set());
    }
    const convs = await this.db.selectFrom('conversations').select(['ticket_id', 'direction', 'from_email', 'to_emails', 'cc_emails'])
      .where('ticket_id', 'in', ticketIds).where('direction', 'in', ['in', 'out']).execute();
    for (const c of convs) {
      if (c.direction === 'in') add(c.ticket_id, c.from_email);
      else for (const a of [...json<string[]>(c.to_emails), ...json<string[]>(c.cc_emails)]) add(c.ticket_id, a);
    }
    return new Map([...out].map(([id, set]) => [id, [...set]]));
  }

  async threadMessageIds(ticketId: number): Promise<string[]> {
    const ticket = await this.db.selectFrom('tickets').select('message_id').where('id', '=', ticketId).executeTakeFirst();
    const convs = await this.db.selectFrom('conversations').select('message_id').where('ticket_id', '=', ticketId)
      .where('message_id', 'is not', null).where('direction', 'in', ['in', 'out']).orderBy('id').execute();
    return [ticket?.message_id ?? null, ...convs.map((c) => c.message_id)].filter((x): x is string => !!x);
  }

  async getByMessageId(messageId: string): Promise<Conversation | null> {
    const row = await this.db.selectFrom('conversations').selectAll().where('message_id', '=', messageId).orderBy('id').executeTakeFirst();
    return row ? toConversation(row) : null;
  }

  async setAttachments(id: number, attachments: AttachmentRef[]): Promise<void> {
    await this.db.updateTable('conversations').set({ attachments: toJson(attachments) }).where('id', '=', id).execute();
  }

  async deliveryAttempts(id: number): Promise<number | null> {
    const r = await this.db.selectFrom('conversations').select('delivery_attempts').where('id', '=', id).executeTakeFirst();
    return r ? r.delivery_attempts : null;
  }

  async blockStaleHeld(before: string, reason: string): Promise<Conversation[]> {
    const rows = await this.db.updateTable('conversations')
      .set({ delivery_status: 'blocked', delivery_error: reason })
      .where('delivery_status', '=', 'queued').where('next_attempt_at', 'is', null).where('created_at', '<', before)
      .returningAll().execute();
    return rows.map(toConversation);
  }

  async claimOutbound(now: string, lockUntil: string, limit: number): Promise<Conversation[]> {
    let pick = this.db.selectFrom('conversations').select('id')
      .where('delivery_status', '=', 'queued')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
      .orderBy('next_attempt_at').limit(limit);
    if (this.caps.skipLocked) pick = pick.forUpdate().skipLocked();
    const rows = await this.db.updateTable('conversations').set({ locked_until: lockUntil }).where('id', 'in', pick).returningAll().execute();
    return rows.map(toConversation).sort((a, b) => a.id - b.id);
  }

  async recordDelivery(id: number, o: { status: DeliveryStatus; error: string | null; attempts: number; nextAttemptAt: string | null }): Promise<void> {
    await this.db.updateTable('conversations')
      .set({ delivery_status: o.status, delivery_error: o.error, delivery_attempts: o.attempts, next_attempt_at: o.nextAttemptAt, locked_until: null })
      .where('id', '=', id).execute();
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
