import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * Late delivery of a synchronous hook that failed under policy `notify`: the failed invocation
 * carries the state of delivering its payload again (`late_status` pending, succeeded or failed,
 * with a lease like an event delivery's); each late attempt is an invocation of its own with
 * `late = 1` and `retry_of` naming the failed one.
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const ts = kind === 'postgres' ? sql`timestamptz` : sql`text`;
  await db.schema.alterTable('webhook_invocations').addColumn('late', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('webhook_invocations').addColumn('late_status', 'text').execute();
  await db.schema.alterTable('webhook_invocations').addColumn('late_attempts', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('webhook_invocations').addColumn('late_next_at', ts).execute();
  await db.schema.alterTable('webhook_invocations').addColumn('late_error', 'text').execute();
  await db.schema.alterTable('webhook_invocations').addColumn('late_locked_by', 'text').execute();
  await db.schema.alterTable('webhook_invocations').addColumn('late_locked_until', ts).execute();
  await db.schema.createIndex('webhook_invocations_late_due').on('webhook_invocations').columns(['late_status', 'late_next_at']).execute();
}
