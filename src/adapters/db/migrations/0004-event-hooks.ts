import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * Event hooks and their deliveries. Deliveries are written in the same transaction as the event
 * (the outbox), one per subscribed hook, and claimed by workers with a lease.
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const ts = kind === 'postgres' ? sql`timestamptz` : sql`text`;
  const json = kind === 'postgres' ? sql`jsonb` : sql`text`;

  // Schedules (cron events) insert with a period key; the unique index makes each period fire once.
  await db.schema.alterTable('events').addColumn('dedupe_key', 'text').execute();
  await db.schema.createIndex('events_dedupe_key').on('events').column('dedupe_key').unique().execute();
  await db.schema.createIndex('events_created').on('events').column('created_at').execute();

  const hooks = db.schema.createTable('event_hooks');
  await (kind === 'postgres'
    ? hooks.addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : hooks.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('events', json, (c) => c.notNull())
    .addColumn('executor', json, (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('ordering_key', 'text', (c) => c.notNull())
    .addColumn('retry_schedule', json, (c) => c.notNull())
    .addColumn('owner_user_id', 'integer')
    .addColumn('disabled_reason', 'text')
    .addColumn('disabled_at', ts)
    .addColumn('failing_since', ts)
    .addColumn('last_success_at', ts)
    .addColumn('signing_secret', 'text', (c) => c.notNull())
    .addColumn('previous_signing_secret', 'text')
    .addColumn('previous_signing_secret_expires_at', ts)
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('modified_at', ts, (c) => c.notNull())
    .execute();

  // One row per subscribed type, so the fan-out is an indexed INSERT … SELECT in the writer's transaction.
  await db.schema.createTable('event_hook_types')
    .addColumn('hook_id', 'integer', (c) => c.notNull().references('event_hooks.id').onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('event_hook_types_pk', ['type', 'hook_id'])
    .execute();

  const deliveries = db.schema.createTable('event_deliveries');
  await (kind === 'postgres'
    ? deliveries.addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : deliveries.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()))
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('hook_id', 'integer', (c) => c.notNull().references('event_hooks.id').onDelete('cascade'))
    .addColumn('ticket_id', 'integer')
    // 1 when the hook orders by ticket: the delivery waits for the earlier pending ones of its ticket.
    .addColumn('ordered', 'integer', (c) => c.notNull())
    .addColumn('replay', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', ts)
    .addColumn('locked_by', 'text')
    .addColumn('locked_until', ts)
    .addColumn('last_error', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('completed_at', ts)
    .execute();
  await db.schema.createIndex('event_deliveries_due').on('event_deliveries').columns(['status', 'next_attempt_at']).execute();
  await db.schema.createIndex('event_deliveries_order').on('event_deliveries').columns(['hook_id', 'ticket_id', 'id']).execute();
  await db.schema.createIndex('event_deliveries_hook').on('event_deliveries').columns(['hook_id', 'status', 'id']).execute();
  await db.schema.createIndex('event_deliveries_event').on('event_deliveries').columns(['event_id', 'hook_id']).execute();

  const attempts = db.schema.createTable('event_delivery_attempts');
  await (kind === 'postgres'
    ? attempts.addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : attempts.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()))
    .addColumn('delivery_id', 'bigint', (c) => c.notNull().references('event_deliveries.id').onDelete('cascade'))
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('status', 'integer')
    .addColumn('duration_ms', 'real', (c) => c.notNull())
    .addColumn('error', json)
    .addColumn('response', 'text')
    .addColumn('worker', 'text')
    .addColumn('started_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('event_delivery_attempts_delivery').on('event_delivery_attempts').columns(['delivery_id', 'attempt']).execute();
  await db.schema.createIndex('event_delivery_attempts_started').on('event_delivery_attempts').column('started_at').execute();
}
