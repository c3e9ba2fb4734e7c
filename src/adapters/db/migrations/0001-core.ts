import { sql, type Kysely, type CreateTableBuilder } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/** Column types that differ between the dialects; everything else is written once. */
function types(kind: DialectKind) {
  return {
    ts: kind === 'postgres' ? sql`timestamptz` : sql`text`,
    json: kind === 'postgres' ? sql`jsonb` : sql`text`,
  };
}

function withId<T extends string>(kind: DialectKind, table: CreateTableBuilder<T, never>, name = 'id'): CreateTableBuilder<T, never> {
  return kind === 'postgres'
    ? table.addColumn(name, 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : table.addColumn(name, 'integer', (c) => c.primaryKey().autoIncrement());
}

export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const t = types(kind);

  await withId(kind, db.schema.createTable('users'))
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('service', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('password_hash', 'text')
    .addColumn('created_at', t.ts, (c) => c.notNull())
    .execute();

  await withId(kind, db.schema.createTable('access_tokens'))
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', t.ts, (c) => c.notNull())
    .addColumn('expires_at', t.ts)
    .addColumn('last_used_at', t.ts)
    .execute();
  await db.schema.createIndex('access_tokens_user').on('access_tokens').columns(['user_id', 'kind']).execute();

  await withId(kind, db.schema.createTable('login_failures'))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('at', t.ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('login_failures_email').on('login_failures').columns(['email', 'at']).execute();
  await db.schema.createIndex('login_failures_ip').on('login_failures').columns(['ip', 'at']).execute();

  await withId(kind, db.schema.createTable('email_accounts'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull().unique())
    .addColumn('inbound', t.json, (c) => c.notNull())
    .addColumn('outbound', t.json)
    .addColumn('webhooks', t.json, (c) => c.notNull())
    .addColumn('imap_password', 'text')
    .addColumn('smtp_password', 'text')
    .addColumn('signing_secret', 'text')
    .addColumn('previous_signing_secret', 'text')
    .addColumn('previous_signing_secret_expires_at', t.ts)
    .addColumn('created_at', t.ts, (c) => c.notNull())
    .addColumn('modified_at', t.ts, (c) => c.notNull())
    .execute();

  await withId(kind, db.schema.createTable('tickets'))
    .addColumn('external_ticket_id', 'text', (c) => c.unique())
    .addColumn('email_account_id', 'integer', (c) => c.references('email_accounts.id').onDelete('set null'))
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('from_email', 'text')
    .addColumn('from_name', 'text')
    .addColumn('to_emails', t.json, (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('body_plain', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('priority', 'text', (c) => c.notNull())
    .addColumn('due_by', t.ts)
    .addColumn('first_response_due_by', t.ts)
    .addColumn('agent_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('tags', t.json, (c) => c.notNull())
    .addColumn('contract_id', 'text')
    .addColumn('customer_id', 'text')
    .addColumn('legitimation_level', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', t.ts, (c) => c.notNull())
    .addColumn('modified_at', t.ts, (c) => c.notNull())
    .addColumn('closed_at', t.ts)
    .addColumn('last_message_at', t.ts)
    .addColumn('last_customer_message_at', t.ts)
    .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.createIndex('tickets_status_due').on('tickets').columns(['status', 'due_by']).execute();
  await db.schema.createIndex('tickets_agent').on('tickets').column('agent_id').execute();
  await db.schema.createIndex('tickets_account').on('tickets').column('email_account_id').execute();
  await db.schema.createIndex('tickets_contract').on('tickets').column('contract_id').execute();
  await db.schema.createIndex('tickets_customer').on('tickets').column('customer_id').execute();

  await db.schema.createTable('ticket_tags')
    .addColumn('ticket_id', 'integer', (c) => c.notNull().references('tickets.id').onDelete('cascade'))
    .addColumn('tag', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('ticket_tags_pk', ['ticket_id', 'tag'])
    .execute();
  await db.schema.createIndex('ticket_tags_tag').on('ticket_tags').columns(['tag', 'ticket_id']).execute();

  await withId(kind, db.schema.createTable('conversations'))
    .addColumn('ticket_id', 'integer', (c) => c.notNull().references('tickets.id').onDelete('cascade'))
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('private', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('from_email', 'text')
    .addColumn('to_emails', t.json, (c) => c.notNull())
    .addColumn('cc_emails', t.json, (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('body_plain', 'text', (c) => c.notNull())
    .addColumn('attachments', t.json, (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('in_reply_to', 'text')
    .addColumn('references', t.json, (c) => c.notNull())
    .addColumn('agent_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('delivery_status', 'text')
    .addColumn('delivery_error', 'text')
    .addColumn('created_at', t.ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('conversations_ticket').on('conversations').columns(['ticket_id', 'id']).execute();
  await db.schema.createIndex('conversations_message_id').on('conversations').column('message_id').execute();

  await withId(kind, db.schema.createTable('activity'))
    .addColumn('ticket_id', 'integer', (c) => c.notNull().references('tickets.id').onDelete('cascade'))
    .addColumn('field', 'text', (c) => c.notNull())
    .addColumn('from_value', t.json)
    .addColumn('to_value', t.json)
    .addColumn('actor', t.json, (c) => c.notNull())
    .addColumn('at', t.ts, (c) => c.notNull())
    .addColumn('meta', t.json)
    .execute();
  await db.schema.createIndex('activity_ticket').on('activity').columns(['ticket_id', 'id']).execute();

  await withId(kind, db.schema.createTable('events'), 'seq')
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('ticket_id', 'integer')
    .addColumn('user_id', 'integer')
    .addColumn('data', t.json, (c) => c.notNull())
    .addColumn('created_at', t.ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('events_ticket').on('events').columns(['ticket_id', 'seq']).execute();
  await db.schema.createIndex('events_type').on('events').columns(['type', 'seq']).execute();

  await withId(kind, db.schema.createTable('notifications'))
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('ticket_id', 'integer')
    .addColumn('link', 'text')
    .addColumn('read_at', t.ts)
    .addColumn('created_at', t.ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('notifications_user').on('notifications').columns(['user_id', 'id']).execute();

  await db.schema.createTable('secrets')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value_sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', t.ts, (c) => c.notNull())
    .addColumn('modified_at', t.ts, (c) => c.notNull())
    .execute();
}
