import type { Kysely, Selectable } from 'kysely';
import type {
  EmailAccountStore, NotificationStore, Page, PageRequest, SealedAccountSecrets, SecretStore,
} from '../../../app/ports/store.ts';
import { defaultWebhookSettings, mergeWebhookSettings, type EmailAccount, type Inbound, type SmtpOutbound, type WebhookSettings } from '../../../domain/email-account.ts';
import type { NewNotification, Notification } from '../../../domain/notification.ts';
import type { Database, EmailAccountsTable } from '../schema.ts';
import { cursorAfter, pageOf } from './paging.ts';
import { iso, isoOrNull, json, jsonOrNull, toJson, uniquely } from '../values.ts';

function toAccount(r: Selectable<EmailAccountsTable>): EmailAccount {
  return {
    id: r.id,
    name: r.name,
    address: r.address,
    inbound: json<Inbound>(r.inbound),
    outbound: jsonOrNull<SmtpOutbound>(r.outbound),
    // Settings added since the account was saved take their defaults.
    webhooks: mergeWebhookSettings(defaultWebhookSettings(), json<WebhookSettings>(r.webhooks)),
    createdAt: iso(r.created_at),
    modifiedAt: iso(r.modified_at),
  };
}

function toSealed(r: Selectable<EmailAccountsTable>): SealedAccountSecrets {
  return {
    imapPassword: r.imap_password,
    smtpPassword: r.smtp_password,
    signingSecret: r.signing_secret,
    previousSigningSecret: r.previous_signing_secret,
    previousSigningSecretExpiresAt: isoOrNull(r.previous_signing_secret_expires_at),
  };
}

function columns(a: Omit<EmailAccount, 'id'>, s: SealedAccountSecrets) {
  return {
    name: a.name,
    address: a.address,
    inbound: toJson(a.inbound),
    outbound: a.outbound ? toJson(a.outbound) : null,
    webhooks: toJson(a.webhooks),
    imap_password: s.imapPassword,
    smtp_password: s.smtpPassword,
    signing_secret: s.signingSecret,
    previous_signing_secret: s.previousSigningSecret,
    previous_signing_secret_expires_at: s.previousSigningSecretExpiresAt,
    created_at: a.createdAt,
    modified_at: a.modifiedAt,
  };
}

export class EmailAccountRepo implements EmailAccountStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(account: Omit<EmailAccount, 'id'>, sealed: SealedAccountSecrets): Promise<EmailAccount> {
    const row = await uniquely('address', () => this.db.insertInto('email_accounts').values(columns(account, sealed)).returningAll().executeTakeFirstOrThrow());
    return toAccount(row);
  }

  async get(id: number): Promise<{ account: EmailAccount; sealed: SealedAccountSecrets } | null> {
    const row = await this.db.selectFrom('email_accounts').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? { account: toAccount(row), sealed: toSealed(row) } : null;
  }

  async getByAddress(address: string): Promise<EmailAccount | null> {
    const row = await this.db.selectFrom('email_accounts').selectAll().where('address', '=', address).executeTakeFirst();
    return row ? toAccount(row) : null;
  }

  async list(page: PageRequest): Promise<Page<EmailAccount>> {
    let q = this.db.selectFrom('email_accounts').selectAll();
    const after = cursorAfter(page.cursor);
    if (after !== null) q = q.where('id', '>', after);
    const rows = await q.orderBy('id').limit(page.limit + 1).execute();
    return pageOf(rows.map(toAccount), page.limit);
  }

  async update(account: EmailAccount, sealed: SealedAccountSecrets): Promise<void> {
    const { created_at: _c, ...set } = columns(account, sealed);
    await uniquely('address', () => this.db.updateTable('email_accounts').set(set).where('id', '=', account.id).execute());
  }

  async delete(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('email_accounts').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}

export class NotificationRepo implements NotificationStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(n: NewNotification & { createdAt: string }): Promise<Notification> {
    const r = await this.db
      .insertInto('notifications')
      .values({ user_id: n.userId, kind: n.kind, message: n.message, ticket_id: n.ticketId, link: n.link, created_at: n.createdAt })
      .returningAll()
      .executeTakeFirstOrThrow();
    return this.map(r);
  }

  async list(userId: number, unreadOnly: boolean, page: PageRequest): Promise<Page<Notification>> {
    let q = this.db.selectFrom('notifications').selectAll().where('user_id', '=', userId);
    if (unreadOnly) q = q.where('read_at', 'is', null);
    const after = cursorAfter(page.cursor);
    if (after !== null) q = q.where('id', '<', after);
    const rows = await q.orderBy('id', 'desc').limit(page.limit + 1).execute();
    return pageOf(rows.map((r) => this.map(r)), page.limit);
  }

  async countUnread(userId: number): Promise<number> {
    const r = await this.db.selectFrom('notifications').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).where('read_at', 'is', null).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async markRead(userId: number, ids: number[] | 'all', at: string): Promise<number> {
    let q = this.db.updateTable('notifications').set({ read_at: at }).where('user_id', '=', userId).where('read_at', 'is', null);
    if (ids !== 'all') {
      if (!ids.length) return 0;
      q = q.where('id', 'in', ids);
    }
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  private map(r: Selectable<Database['notifications']>): Notification {
    return { id: r.id, userId: r.user_id, kind: r.kind, message: r.message, ticketId: r.ticket_id, link: r.link, readAt: isoOrNull(r.read_at), createdAt: iso(r.created_at) };
  }
}

export class SecretRepo implements SecretStore {
  constructor(private readonly db: Kysely<Database>) {}

  async put(key: string, sealed: string, at: string): Promise<void> {
    await this.db
      .insertInto('secrets')
      .values({ key, value_sealed: sealed, created_at: at, modified_at: at })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value_sealed: sealed, modified_at: at }))
      .execute();
  }

  async getSealed(key: string): Promise<string | null> {
    const r = await this.db.selectFrom('secrets').select('value_sealed').where('key', '=', key).executeTakeFirst();
    return r?.value_sealed ?? null;
  }

  async list(): Promise<Array<{ key: string; createdAt: string; modifiedAt: string }>> {
    const rows = await this.db.selectFrom('secrets').select(['key', 'created_at', 'modified_at']).orderBy('key').execute();
    return rows.map((r) => ({ key: r.key, createdAt: iso(r.created_at), modifiedAt: iso(r.modified_at) }));
  }

  async delete(key: string): Promise<boolean> {
    const r = await this.db.deleteFrom('secrets').where('key', '=', key).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
