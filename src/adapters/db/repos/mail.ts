import { createHash } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type {
  AttachmentStore, ImapCursor, ImapCursorStore, InboundRecord, InboundStatus, InboundStore, LeaseStore, StoredAttachment,
} from '../../../app/ports/store.ts';
import type { MailAuthentication } from '../../../domain/mail/authentication.ts';
import type { Capabilities } from '../dialect.ts';
import type { Database, InboundMessagesTable } from '../schema.ts';
import { bool, flag, iso, json, toJson } from '../values.ts';

function toInbound(r: Selectable<InboundMessagesTable>): InboundRecord {
  return {
    id: r.id,
    emailAccountId: r.email_account_id,
    source: r.source as InboundRecord['source'],
    sourceKey: r.source_key,
    envelopeFrom: r.envelope_from,
    envelopeTo: json<string[]>(r.envelope_to),
    raw: Buffer.from(r.raw),
    size: r.size,
    sha256: r.sha256,
    receivedAt: iso(r.received_at),
    status: r.status as InboundStatus,
    attempts: r.attempts,
    ticketId: r.ticket_id,
    conversationId: r.conversation_id,
    outcome: r.outcome,
    error: r.error,
    clientAddress: r.client_address,
    helo: r.helo,
  };
}

export class InboundRepo implements InboundStore {
  constructor(private readonly db: Kysely<Database>, private readonly caps: Capabilities) {}

  async insert(m: Omit<InboundRecord, 'id' | 'sha256' | 'status' | 'attempts' | 'ticketId' | 'conversationId' | 'outcome' | 'error'>): Promise<{ id: number; duplicate: boolean }> {
    const sha256 = createHash('sha256').update(m.raw).digest('hex');
    const row = await this.db
      .insertInto('inbound_messages')
      .values({
        email_account_id: m.emailAccountId, source: m.source, source_key: m.sourceKey, envelope_from: m.envelopeFrom,
        envelope_to: toJson(m.envelopeTo), raw: m.raw, size: m.size, sha256, received_at: m.receivedAt, status: 'received',
        client_address: m.clientAddress ?? null, helo: m.helo ?? null,
      })
      .onConflict((oc) => oc.columns(['email_account_id', 'source_key']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (row) return { id: row.id, duplicate: false };
    const existing = await this.db.selectFrom('inbound_messages').select('id')
      .where('email_account_id', '=', m.emailAccountId).where('source_key', '=', m.sourceKey).executeTakeFirstOrThrow();
    return { id: existing.id, duplicate: true };
  }

  async get(id: number): Promise<InboundRecord | null> {
    const row = await this.db.selectFrom('inbound_messages').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toInbound(row) : null;
  }

  async claim(now: string, lockUntil: string, limit: number): Promise<InboundRecord[]> {
    // The lease is taken by the update itself; on PostgreSQL SKIP LOCKED lets workers claim
    // disjoint rows at once, on SQLite the single writer serialises claims anyway.
    let pick = this.db.selectFrom('inbound_messages').select('id')
      .where('status', '=', 'received')
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
      .orderBy('id').limit(limit);
    if (this.caps.skipLocked) pick = pick.forUpdate().skipLocked();
    const rows = await this.db.updateTable('inbound_messages')
      .set((eb) => ({ locked_until: lockUntil, attempts: eb('attempts', '+', 1) }))
      .where('id', 'in', pick)
      .returningAll()
      .execute();
    return rows.map(toInbound).sort((a, b) => a.id - b.id);
  }

  async complete(id: number, r: { ticketId: number | null; conversationId: number | null; outcome: string; at: string; authentication?: MailAuthentication | null }): Promise<void> {
    await this.db.updateTable('inbound_messages')
      .set({
        status: 'processed', ticket_id: r.ticketId, conversation_id: r.conversationId, outcome: r.outcome, processed_at: r.at, locked_until: null, error: null,
        ...(r.authentication ? { authentication: toJson(r.authentication) } : {}),
      })
      .where('id', '=', id).execute();
  }

  async fail(id: number, error: string, final: boolean, retryAt?: string): Promise<void> {
    await this.db.updateTable('inbound_messages')
      .set({ error, ...(final ? { status: 'failed', locked_until: null } : retryAt ? { locked_until: retryAt } : {}) })
      .where('id', '=', id).execute();
  }

  async countFromSender(emailAccountId: number, sender: string, since: string): Promise<number> {
    const r = await this.db.selectFrom('inbound_messages').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('email_account_id', '=', emailAccountId).where('envelope_from', '=', sender).where('received_at', '>', since)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async hitLimits(buckets: ReadonlyArray<{ bucket: string; limit: number }>, windowStart: string): Promise<string | null> {
    for (const { bucket, limit } of buckets) {
      // One statement: insert the window's first count, or raise it while under the limit. A row
      // at its limit is left alone and nothing is returned, so concurrent sessions in any number
      // of processes never get past the limit together.
      const row = await this.db.insertInto('mail_rate_counters')
        .values({ bucket, window_start: windowStart, count: 1 })
        .onConflict((oc) => oc.columns(['bucket', 'window_start'])
          .doUpdateSet((eb) => ({ count: eb('mail_rate_counters.count', '+', 1) }))
          .where('mail_rate_counters.count', '<', limit))
        .returning('count')
        .executeTakeFirst();
      if (!row || row.count > limit) return bucket;
    }
    return null;
  }

  async pruneLimits(before: string): Promise<void> {
    await this.db.deleteFrom('mail_rate_counters').where('window_start', '<', before).execute();
  }

  async storedBytes(): Promise<number> {
    const r = await this.db.selectFrom('inbound_messages').select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }
}

export class AttachmentRepo implements AttachmentStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(attachments: StoredAttachment[]): Promise<void> {
    if (!attachments.length) return;
    await this.db.insertInto('attachments').values(attachments.map((a) => ({
      id: a.id, ticket_id: a.ticketId, conversation_id: a.conversationId, name: a.name, content_type: a.contentType, size: a.size,
      content_id: a.contentId, inline: flag(a.inline), sha256: a.sha256, content: a.content, created_at: a.createdAt,
    }))).execute();
  }

  async get(id: string): Promise<StoredAttachment | null> {
    const r = await this.db.selectFrom('attachments').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) return null;
    return {
      id: r.id, ticketId: r.ticket_id, conversationId: r.conversation_id, name: r.name, contentType: r.content_type, size: r.size,
      contentId: r.content_id, inline: bool(r.inline), sha256: r.sha256, content: r.content ? Buffer.from(r.content) : null, createdAt: iso(r.created_at),
    };
  }
}

export class LeaseRepo implements LeaseStore {
  constructor(private readonly db: Kysely<Database>) {}

  async acquire(name: string, holder: string, expiresAt: string, now: string): Promise<boolean> {
    const r = await this.db.insertInto('leases').values({ name, holder, expires_at: expiresAt })
      .onConflict((oc) => oc.column('name').doUpdateSet({ holder, expires_at: expiresAt })
        .where((eb) => eb.or([eb('leases.holder', '=', holder), eb('leases.expires_at', '<', now)])))
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async release(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }
}

export class ImapCursorRepo implements ImapCursorStore {
  constructor(private readonly db: Kysely<Database>) {}

  async get(emailAccountId: number): Promise<ImapCursor | null> {
    const r = await this.db.selectFrom('imap_cursors').selectAll().where('email_account_id', '=', emailAccountId).executeTakeFirst();
    return r ? { folder: r.folder, uidValidity: r.uid_validity, lastUid: r.last_uid } : null;
  }

  async set(emailAccountId: number, c: ImapCursor, at: string): Promise<void> {
    await this.db.insertInto('imap_cursors')
      .values({ email_account_id: emailAccountId, folder: c.folder, uid_validity: c.uidValidity, last_uid: c.lastUid, modified_at: at })
      .onConflict((oc) => oc.column('email_account_id').doUpdateSet({ folder: c.folder, uid_validity: c.uidValidity, last_uid: c.lastUid, modified_at: at }))
      .execute();
  }
}
