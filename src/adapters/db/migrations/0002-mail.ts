import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/** The email channel: raw messages kept before SMTP says 250, attachments, outbound delivery state, leases. */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const ts = kind === 'postgres' ? sql`timestamptz` : sql`text`;
  const json = kind === 'postgres' ? sql`jsonb` : sql`text`;
  const blob = kind === 'postgres' ? sql`bytea` : sql`blob`;
  const id = (t: ReturnType<typeof db.schema.createTable>) => kind === 'postgres'
    ? t.addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());

  // Every message that reached deskhook, byte for byte, before it is parsed: nothing accepted is lost.
  await id(db.schema.createTable('inbound_messages'))
    .addColumn('email_account_id', 'integer', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('source_key', 'text')
    .addColumn('envelope_from', 'text')
    .addColumn('envelope_to', json, (c) => c.notNull())
    .addColumn('raw', blob, (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('received_at', ts, (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', ts)
    .addColumn('ticket_id', 'integer')
    .addColumn('conversation_id', 'integer')
    .addColumn('outcome', 'text')
    .addColumn('error', 'text')
    .addColumn('processed_at', ts)
    .execute();
  await db.schema.createIndex('inbound_messages_status').on('inbound_messages').columns(['status', 'id']).execute();
  await db.schema.createIndex('inbound_messages_source_key').on('inbound_messages').columns(['email_account_id', 'source_key']).unique().execute();
  await db.schema.createIndex('inbound_messages_sender').on('inbound_messages').columns(['email_account_id', 'envelope_from', 'received_at']).execute();

  await db.schema.createTable('attachments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('ticket_id', 'integer', (c) => c.notNull().references('tickets.id').onDelete('cascade'))
    .addColumn('conversation_id', 'integer')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('content_id', 'text')
    .addColumn('inline', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('content', blob)
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('attachments_ticket').on('attachments').columns(['ticket_id', 'conversation_id']).execute();

  await db.schema.alterTable('tickets').addColumn('message_id', 'text').execute();
  await db.schema.alterTable('tickets').addColumn('attachments', json).execute();
  await db.schema.alterTable('tickets').addColumn('flags', json).execute();
  await db.schema.createIndex('tickets_message_id').on('tickets').column('message_id').execute();

  await db.schema.alterTable('conversations').addColumn('flags', json).execute();
  await db.schema.alterTable('conversations').addColumn('delivery_attempts', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('conversations').addColumn('next_attempt_at', ts).execute();
  await db.schema.alterTable('conversations').addColumn('locked_until', ts).execute();
  await db.schema.createIndex('conversations_delivery').on('conversations').columns(['delivery_status', 'next_attempt_at']).execute();

  // Named leases: one holder at a time across processes (an IMAP poller per account, say).
  await db.schema.createTable('leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('expires_at', ts, (c) => c.notNull())
    .execute();

  await db.schema.createTable('imap_cursors')
    .addColumn('email_account_id', 'integer', (c) => c.primaryKey().references('email_accounts.id').onDelete('cascade'))
    .addColumn('folder', 'text', (c) => c.notNull())
    .addColumn('uid_validity', 'text', (c) => c.notNull())
    .addColumn('last_uid', 'integer', (c) => c.notNull())
    .addColumn('modified_at', ts, (c) => c.notNull())
    .execute();
}
